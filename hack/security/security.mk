# The security tier (issue 8): the invariants of ../../docs/security.md proven on the local cluster with the
# driver and provider charts installed once (holding /tmp/ssc-cluster-driver.lock), moto and OpenBao as
# backends. Included by the root Makefile. The driver-socket fuzzing runs in test-integration
# (plugin/tests/driver/test_fuzz_publish.py, marker integration).
.PHONY: test-security

test-security: venv cluster-up images emulators-up helm
	HELM=$(HELM) $(PYTEST) -m "cluster and emulators" tests/security
