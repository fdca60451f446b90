# The local single-node cluster (hack/devcluster/README.md). Included by the root Makefile.
DEVCLUSTER := $(ROOT)/hack/devcluster

.PHONY: cluster-deps cluster-build cluster-up cluster-down cluster-status cluster-env cluster-purge \
	images test-cluster

cluster-deps:
	@$(DEVCLUSTER)/deps.sh

# Every pinned binary (kube multi-call binary, etcd, helm, csi-sanity, sidecars, pause) into $(CACHE)/bin.
cluster-build: cluster-deps
	@$(DEVCLUSTER)/build.sh all

cluster-up: cluster-build
	@$(DEVCLUSTER)/cluster.sh up

cluster-down:
	@$(DEVCLUSTER)/cluster.sh down

cluster-status:
	@$(DEVCLUSTER)/cluster.sh status

cluster-env:
	@$(DEVCLUSTER)/cluster.sh env

# cluster-down, then delete etcd data and certificates (the next cluster-up starts empty).
cluster-purge:
	@$(DEVCLUSTER)/cluster.sh purge

# Images are imported into the cluster's containerd, so it must be up.
images: cluster-up
	@$(DEVCLUSTER)/images.sh all

test-cluster: cluster-up venv
	@$(DEVCLUSTER)/images.sh pause base
	$(PYTEST) -m cluster tests/devcluster
