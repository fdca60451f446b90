# Backend emulators for the provider tests and the demo (hack/emulators/emulators.sh does the work).
.PHONY: emulators-up emulators-down emulators-status

emulators-up: venv
	CACHE=$(CACHE) VENV=$(VENV) hack/emulators/emulators.sh up

emulators-down:
	CACHE=$(CACHE) VENV=$(VENV) hack/emulators/emulators.sh down

emulators-status:
	CACHE=$(CACHE) VENV=$(VENV) hack/emulators/emulators.sh status

# Provider figures (backend calls per mount, Mount latency, RSS) against the emulators.
.PHONY: bench-providers
bench-providers: venv emulators-up
	$(PY) bench/providers_mount.py

# Providers on the local cluster: Vault's Kubernetes auth via TokenReview, AWS IRSA via the service account's
# annotation, and the upstream driver v1.6.0 mounting aws and vault secrets into a real pod. Needs the
# devcluster verbs (cluster-up, images: localhost/ssc-base), the driver's upstream-driver build and the
# driver chart's CRDs (charts/secrets-store-csi-driver/crds).
.PHONY: test-providers-cluster
test-providers-cluster: venv emulators-up images upstream-driver
	$(PYTEST) -m cluster tests/providers
