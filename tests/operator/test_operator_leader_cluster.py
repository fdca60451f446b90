"""Two operator replicas: one leads on the Lease, the other waits and takes over when the leader dies."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from typing import cast

import pytest
from operator_cluster import OperatorProcess, driver_lock_on_a_clean_cluster, new_namespace, wait_for
from operator_env import kubectl, kubectl_json

pytestmark = pytest.mark.cluster

LEASE = "secrets-store-csi-driver-operator"


@pytest.fixture
def lease_namespace() -> Iterator[str]:
    # The replicas would act on a ClusterCSIDriver someone else's test created: hold the driver lock.
    with driver_lock_on_a_clean_cluster():
        namespace = new_namespace("operator-test-lease")
        yield namespace
        kubectl("delete", "namespace", namespace, "--wait=false", check=False)


def holder(namespace: str) -> str | None:
    result = kubectl("get", "lease", "-n", namespace, LEASE, "-o", "json", check=False)
    if result.returncode != 0:
        return None
    return cast(
        str | None, kubectl_json("get", "lease", "-n", namespace, LEASE)["spec"].get("holderIdentity")
    )


def test_only_one_replica_leads_and_the_other_takes_over(lease_namespace: str) -> None:
    replicas = {
        name: OperatorProcess(lease_namespace, "--leader-elect", "--identity", name).start()
        for name in ("a", "b")
    }
    try:
        leader = wait_for("a leader", lambda: holder(lease_namespace), 30)
        follower = "b" if leader == "a" else "a"
        wait_for("the leader's kopf started", lambda: "leading as" in replicas[leader].text(), 30)
        # The follower may still be starting (an empty log) when the leader is already up: wait for its line.
        wait_for("the follower waiting", lambda: "waiting to lead" in replicas[follower].text(), 30)
        assert "leading as" not in replicas[follower].text()

        process = replicas[leader].process
        assert process is not None
        process.send_signal(signal.SIGKILL)  # no clean release: the follower must wait the Lease out
        process.wait()
        wait_for("the follower to lead", lambda: holder(lease_namespace) == follower, 40)
        wait_for("the follower's kopf started", lambda: "leading as" in replicas[follower].text(), 10)
    finally:
        for replica in replicas.values():
            replica.stop()


def test_a_cleanly_stopped_leader_hands_over_at_once(lease_namespace: str) -> None:
    first = OperatorProcess(lease_namespace, "--leader-elect", "--identity", "first").start()
    try:
        wait_for("first leads", lambda: holder(lease_namespace) == "first", 30)
        second = OperatorProcess(lease_namespace, "--leader-elect", "--identity", "second").start()
        try:
            wait_for("second waits", lambda: "waiting to lead" in second.text(), 30)
            first.stop()  # SIGTERM: kopf stops, the Lease is released
            wait_for("second leads soon after", lambda: holder(lease_namespace) == "second", 8)
        finally:
            second.stop()
    finally:
        first.stop()
