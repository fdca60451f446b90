# Entry points: `make demo` (the main job on the local cluster) and `make test` (every test tier).
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
ROOT := $(abspath $(dir $(lastword $(MAKEFILE_LIST))))
CACHE ?= $(HOME)/.cache/secrets-store-csi
VENV ?= $(ROOT)/.venv
PY := $(VENV)/bin/python
PYTEST := $(PY) -m pytest
export CACHE

.PHONY: help venv proto proto-check lint test test-unit demo

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

lint: venv
	cd plugin && $(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check . && $(VENV)/bin/mypy

test-unit: venv
	$(PYTEST) -m "not integration and not emulators and not cluster and not sanity" plugin/tests

test: lint proto-check test-unit test-ansible-lint test-ansible
	@echo "make test: every tier passed"

# Each area brings its own make verbs.
-include hack/devcluster/devcluster.mk
-include hack/emulators/emulators.mk
-include hack/ansible/ansible.mk
