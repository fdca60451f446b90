# Make verbs of the CSI driver (issue 3): its test tiers and the Go tools they need.
# Included from the root Makefile; paths are relative to the repository root.

DRIVER_VERSIONS := hack/devcluster/versions.env
CSI_SANITY_VERSION ?= $(shell sed -n 's/^CSI_SANITY_VERSION=//p' $(DRIVER_VERSIONS) 2>/dev/null || echo v5.4.0)
TESTPROVIDER_BIN := $(CACHE)/bin/ssc-testprovider
CSI_SANITY_BIN := $(CACHE)/bin/csi-sanity
UPSTREAM_DRIVER_BIN := $(CACHE)/bin/secrets-store-csi-driver

.PHONY: testprovider csi-sanity upstream-driver test-integration test-sanity test-cluster-driver bench-driver

# The test provider: built on upstream's generated provider API (sigs.k8s.io/secrets-store-csi-driver).
$(TESTPROVIDER_BIN): hack/testprovider/main.go hack/testprovider/go.mod hack/testprovider/go.sum
	mkdir -p $(CACHE)/bin
	cd hack/testprovider && nice -n 10 go build -o $@ .

testprovider: $(TESTPROVIDER_BIN)

# csi-sanity, shared with the devcluster helper: built only when missing.
csi-sanity:
	@test -x $(CSI_SANITY_BIN) || { mkdir -p $(CACHE)/bin && \
	  GOBIN=$(CACHE)/bin nice -n 10 go install github.com/kubernetes-csi/csi-test/v5/cmd/csi-sanity@$(CSI_SANITY_VERSION); }

# The upstream Go driver, for side-by-side benchmarks and the providers' interop test; built through the
# wrapper module in hack/upstream-driver, whose go.mod is the one pin of its version (see the comment there).
upstream-driver:
	@test -x $(UPSTREAM_DRIVER_BIN) || { mkdir -p $(CACHE)/bin && cd hack/upstream-driver && \
	  version=$$(go list -m -f '{{.Version}}' sigs.k8s.io/secrets-store-csi-driver) && \
	  nice -n 10 go build -trimpath -o $(UPSTREAM_DRIVER_BIN).tmp \
	    -ldflags "-X sigs.k8s.io/secrets-store-csi-driver/pkg/version.BuildVersion=$$version" \
	    sigs.k8s.io/secrets-store-csi-driver/cmd/secrets-store-csi-driver && \
	  mv $(UPSTREAM_DRIVER_BIN).tmp $(UPSTREAM_DRIVER_BIN); }

# Root, real tmpfs, the driver and providers as real processes on unix sockets.
test-integration: venv testprovider
	$(PYTEST) -m integration plugin/tests

# csi-sanity against the driver's socket.
test-sanity: venv testprovider csi-sanity
	$(PYTEST) -m sanity plugin/tests

# The driver against the local cluster (needs hack/devcluster's cluster-up and images): host-run driver
# against the real apiserver, and a real pod through the real kubelet.
test-cluster-driver: venv testprovider csi-sanity
	$(MAKE) cluster-up images
	$(PYTEST) -m cluster plugin/tests/driver tests/driver

bench-driver: venv testprovider
	$(PY) bench/driver_bench.py
