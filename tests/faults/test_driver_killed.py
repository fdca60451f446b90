"""Fault 1: the driver is killed with SIGKILL while 50 volumes are mounted.

The tmpfs mounts belong to the node, not to the driver process: the pods keep reading their files while
the driver is dead, the kubelet restarts the driver's container, and the restarted driver, which holds no
memory of those volumes, still unmounts every one of them when the pods are deleted."""

from __future__ import annotations

import os
import signal
import time
import uuid

import pytest
from fault_node import container_pids, mount_counts
from fault_pods import aws_spc, figure, parallel, pod_uids, pod_with_volumes, wait_until
from kubecluster import Cluster
from stack import Stack

pytestmark = [pytest.mark.cluster, pytest.mark.emulators]

PODS, VOLUMES_PER_POD = 10, 5  # 50 volumes: ten pods with five driver volumes each


def _restart_count(cluster: Cluster, stack: Stack, pod: str) -> int:
    out = cluster.kubectl(
        "-n",
        stack.namespace,
        "get",
        "pod",
        pod,
        "-o",
        "jsonpath={.status.containerStatuses[?(@.name=='secrets-store')].restartCount}",
    ).stdout
    return int(out or 0)


def _driver_ready_again(cluster: Cluster, stack: Stack, pod: str, restarts_before: int) -> bool:
    status = cluster.kubectl_json("-n", stack.namespace, "get", "pod", pod)["status"]
    for cs in status.get("containerStatuses", []):
        if cs["name"] == "secrets-store":
            return bool(cs["restartCount"] > restarts_before and cs.get("ready") and "running" in cs["state"])
    return False


def test_sigkill_of_the_driver_with_50_volumes_mounted_loses_no_volume_and_leaves_no_mount_after_delete(
    cluster: Cluster, stack: Stack, app_ns: str, moto: object
) -> None:
    secret = f"faults-kill-{uuid.uuid4().hex[:8]}"
    value = f"survives-sigkill-{uuid.uuid4().hex}"
    moto.create_secret(Name=secret, SecretString=value)  # type: ignore[attr-defined]
    cluster.apply(aws_spc("kill", [secret]), app_ns)
    names = [f"kill-{i}" for i in range(PODS)]
    started = time.monotonic()
    cluster.apply([pod_with_volumes(n, "kill", VOLUMES_PER_POD) for n in names], app_ns)
    stack.wait_ready(app_ns, names, timeout=300)
    figure(
        "1 driver SIGKILL",
        f"{PODS} pods x {VOLUMES_PER_POD} volumes Ready",
        f"{time.monotonic() - started:.1f}s",
    )
    uids = pod_uids(cluster, app_ns)
    before = mount_counts(list(uids.values()))
    assert len(before) == PODS * VOLUMES_PER_POD, f"expected 50 driver mounts, mountinfo has {len(before)}"
    assert set(before.values()) == {1}, f"duplicate mounts before the kill: {before}"

    driver = stack.driver_pod()
    driver_uid = cluster.kubectl(
        "-n", stack.namespace, "get", "pod", driver, "-o", "jsonpath={.metadata.uid}"
    ).stdout.strip()
    restarts = _restart_count(cluster, stack, driver)
    pids = container_pids(driver_uid, " driver ")
    assert pids, f"no driver process found in the cgroup of pod {driver} ({driver_uid})"
    killed = time.monotonic()
    for pid in pids:
        os.kill(pid, signal.SIGKILL)

    # While the driver is down (or just restarting): every volume is still mounted, once, and readable.
    after_kill = mount_counts(list(uids.values()))
    assert after_kill == before, "the SIGKILL of the driver changed the node's mounts"
    files = " ".join(f"/mnt/s{i}/{secret}" for i in range(VOLUMES_PER_POD))

    def read_all(pod: str) -> str:
        out: str = cluster.kubectl("-n", app_ns, "exec", pod, "--", "sh", "-c", f"cat {files}").stdout
        return out

    contents = parallel(read_all, names)
    assert contents == {n: value * VOLUMES_PER_POD for n in names}, (
        "a pod lost a file while the driver was down"
    )

    wait_until(
        f"driver container of {driver} restarted and Ready",
        lambda: _driver_ready_again(cluster, stack, driver, restarts),
        timeout=180,
    )
    restart_s = time.monotonic() - killed
    figure(
        "1 driver SIGKILL",
        "driver restart (SIGKILL -> container Ready)",
        f"{restart_s:.1f}s",
    )
    assert mount_counts(list(uids.values())) == before, "mounts changed across the driver's restart"

    deleted = time.monotonic()
    cluster.kubectl("-n", app_ns, "delete", "pods", *names, "--wait", "--timeout=240s", timeout=260)
    left = wait_until(
        "every driver mount of the deleted pods gone",
        lambda: not mount_counts(list(uids.values())) and "ok",
        timeout=60,
    )
    assert left == "ok"
    wait_until(
        "the deleted pods' directories removed by the kubelet",
        lambda: not [u for u in uids.values() if os.path.exists(f"/var/lib/kubelet/pods/{u}")],
        timeout=60,
    )
    figure(
        "1 driver SIGKILL",
        "delete 10 pods -> 50 tmpfs unmounted",
        f"{time.monotonic() - deleted:.1f}s",
    )
