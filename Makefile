# Entry points: `make demo` (the main job on the local cluster) and `make test` (every test tier).
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
ROOT := $(abspath $(dir $(lastword $(MAKEFILE_LIST))))
CACHE ?= $(HOME)/.cache/secrets-store-csi
VENV ?= $(ROOT)/.venv
PY := $(VENV)/bin/python
PYTEST := $(PY) -m pytest
export CACHE

.PHONY: help venv proto proto-check lint test test-unit demo helm test-charts test-charts-cluster image test-emulators test-operator test-security

help:
	@echo "make demo   run the demo on the local cluster with the emulators"
	@echo "make test   run every test tier (lint, unit, integration, emulators, cluster)"

$(VENV)/.installed: plugin/pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e 'plugin[dev]'
	touch $@

venv: $(VENV)/.installed

proto: venv
	PYTHON=$(PY) hack/gen-proto.sh

proto-check: proto
	@git diff --exit-code -- plugin/src/secrets_store_csi/proto || \
	  { echo "generated proto modules are stale: run 'make proto' and commit"; exit 1; }

# ruff over every Python file in the repository (plugin/ by plugin/pyproject.toml, the rest by ruff.toml,
# which extends it); mypy --strict over the package, and mypy --strict over every test, benchmark and filter
# plugin too (their helpers import each other by bare module name, hence the package bases; the generated
# gRPC stubs in secrets_store_csi.proto are untyped, so calls into them are exempt from --strict's check).
MYPY_OUTSIDE_PACKAGE := tests plugin/tests bench molecule roles
lint: venv
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .
	cd plugin && $(VENV)/bin/mypy
	$(VENV)/bin/mypy --strict --python-version 3.11 --ignore-missing-imports --explicit-package-bases \
	  --untyped-calls-exclude=secrets_store_csi.proto $(MYPY_OUTSIDE_PACKAGE)

test-unit: venv
	$(PYTEST) -m "not integration and not emulators and not cluster and not sanity" plugin/tests

# Providers against moto and OpenBao through their real gRPC sockets; starts the emulators itself.
test-emulators: venv emulators-up
	$(PYTEST) -m "emulators and not cluster" plugin/tests

test: lint proto-check test-unit test-charts test-integration test-sanity test-emulators test-cluster test-cluster-driver test-providers-cluster test-charts-cluster test-operator test-security test-faults test-ansible-lint test-ansible test-ansible-cluster test-molecule
	@echo "make test: every tier passed"

# Each area brings its own make verbs.
-include hack/devcluster/devcluster.mk
-include hack/emulators/emulators.mk
-include hack/driver/driver.mk
-include hack/ansible/ansible.mk
-include hack/security/security.mk
-include hack/faults/faults.mk

# Helm charts (charts/): helm built from its Go module at the pinned version; lint + pytest over `helm template`.
HELM_VERSION ?= $(shell sed -n 's/^HELM_VERSION=//p' $(ROOT)/hack/devcluster/versions.env)
HELM := $(CACHE)/bin/helm
CHARTS := $(sort $(wildcard $(ROOT)/charts/*/Chart.yaml))

# hack/devcluster/build.sh builds the pinned helm (stripped, version stamped, its default Kubernetes version
# set as helm's own Makefile does) as $(CACHE)/bin/helm; without it, go install does, with the same ldflags:
# helm's default Kubernetes version is v1.<minor of k8s.io/client-go in helm's go.mod>, not the source's v1.20
# that would make every chart's kubeVersion constraint fail offline.
$(HELM):
	@if [ -x $(ROOT)/hack/devcluster/build.sh ]; then $(ROOT)/hack/devcluster/build.sh helm; else \
	  mkdir -p $(CACHE)/bin; \
	  minor=$$(awk '$$1 == "k8s.io/client-go" { split($$2, v, "."); print v[2]; exit }' \
	    "$$(go mod download -json helm.sh/helm/v3@$(HELM_VERSION) | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$$/\1/p')"); \
	  [ -n "$$minor" ] || { echo "cannot read k8s.io/client-go from helm $(HELM_VERSION)'s go.mod"; exit 1; }; \
	  ld="-s -w -X helm.sh/helm/v3/internal/version.version=$(HELM_VERSION)"; \
	  for p in helm.sh/helm/v3/pkg/chartutil helm.sh/helm/v3/pkg/lint/rules; do \
	    ld="$$ld -X $$p.k8sVersionMajor=1 -X $$p.k8sVersionMinor=$$minor"; done; \
	  GOBIN=$(CACHE)/bin CGO_ENABLED=0 nice -n 10 go install -trimpath -ldflags "$$ld" helm.sh/helm/v3/cmd/helm@$(HELM_VERSION); \
	fi

helm: $(HELM)

test-charts: venv $(HELM)
	@for c in $(dir $(CHARTS)); do $(HELM) lint --strict --quiet $$c; done
	HELM=$(HELM) $(PYTEST) -m "not cluster" tests/charts

# On the local cluster: server-side dry run of every rendered scenario, the managed-Secrets admission policy,
# and a real install of the driver + AWS provider charts mounting a secret from moto (project image from
# `images`, moto from `emulators-up`; holds /tmp/ssc-cluster-driver.lock while installed).
test-charts-cluster: venv $(HELM) images emulators-up
	HELM=$(HELM) $(PYTEST) -m cluster tests/charts

# The one image (plugin/Containerfile). BASE_IMAGE=localhost/ssc-base:bookworm on the local cluster.
image: $(HELM)
	HELM=$(HELM) hack/image/build.sh

# The operator (issue 6): its chart rendered offline, then the operator run on the host against the local
# cluster (marker `cluster`), holding the team's driver lock while it installs the driver. The mount test
# uses the driver's test provider (`testprovider`, from the driver's make verbs).
test-operator: venv images testprovider $(HELM)
	HELM=$(HELM) $(PYTEST) plugin/tests/operator tests/operator -m "not cluster"
	HELM=$(HELM) $(PYTEST) -m cluster tests/operator
