# The fault tier (issue 8, fault-tolerance half; docs/faults.md): the driver and provider charts installed
# once (tests/stack.py, holding /tmp/ssc-cluster-driver.lock for the whole tier) on the local cluster, then
# the driver SIGKILLed with 50 volumes mounted, the provider down during a mount, backend errors during
# rotation (5xx from a proxy in front of moto, a sealed private OpenBao), kube-apiserver restarted during a
# burst of 30 pod starts, the kubelet restarted with volumes mounted, and 50 rotations under 20 readers.
# Restarts host processes of the devcluster through hack/devcluster/cluster.sh: run as root on its node.
# Every test in tests/faults runs: the fault tests (markers `cluster` and `emulators`) and, unmarked, a check
# that the rotation readers do catch a torn writer.
.PHONY: test-faults
test-faults: venv cluster-up images emulators-up helm
	$(PYTEST) tests/faults
