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
