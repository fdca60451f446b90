"""Faults 4 and 5: the node's control processes restart under the driver.

4. kube-apiserver stopped and started again (hack/devcluster/cluster.sh's way: SIGTERM, then `cluster.sh
   up`) while 30 pods are starting: the driver cannot read SecretProviderClasses or write pod statuses for a
   while; the kubelet retries, and all 30 pods end up Running with their secret.
5. kubelet restarted while volumes are mounted: the kubelet reconstructs its volumes from the node and,
   with requiresRepublish, publishes them again; no volume is lost, none is mounted twice (mountinfo
   entries per target counted before and after), and deleting the pods afterwards unmounts them all."""

from __future__ import annotations

import os
import time
import uuid
from typing import Any

import pytest
from fault_node import mount_counts, start_components, stop_component, volume_dir
from fault_pods import (
    app_pod,
    aws_spc,
    figure,
    parallel,
    pod_uids,
    pod_with_volumes,
    wait_until,
)
from kubecluster import Cluster, wait_cluster_ready
from stack import Stack

pytestmark = [pytest.mark.cluster, pytest.mark.emulators]

BURST = 30


def _secret(moto: Any, prefix: str) -> tuple[str, str]:
    name = f"faults-{prefix}-{uuid.uuid4().hex[:8]}"
    value = f"{prefix}-{uuid.uuid4().hex}"
    moto.create_secret(Name=name, SecretString=value)
    return name, value


def _apiserver_up(cluster: Cluster) -> bool:
    returncode: int = cluster.kubectl("get", "--raw", "/readyz", check=False, timeout=10).returncode
    return returncode == 0


def test_kube_apiserver_restart_during_a_burst_of_30_pod_starts_ends_with_all_running_with_their_secret(
    cluster: Cluster, stack: Stack, app_ns: str, moto: Any
) -> None:
    secret, value = _secret(moto, "burst")
    cluster.apply(aws_spc("burst", [secret]), app_ns)
    names = [f"burst-{i}" for i in range(BURST)]
    started = time.monotonic()
    cluster.apply([app_pod(n, "burst") for n in names], app_ns)
    time.sleep(2)  # the burst is under way: the scheduler has bound pods, the kubelet is mounting
    stopped = stop_component("kube-apiserver")
    assert not _apiserver_up(cluster)
    time.sleep(5)
    start_components()
    outage = time.monotonic() - stopped
    stack.wait_ready(app_ns, names, timeout=300)
    all_ready = time.monotonic() - started
    contents = parallel(lambda n: stack.read(app_ns, n, f"/mnt/secrets/{secret}"), names)
    assert contents == {n: value for n in names}
    statuses = cluster.kubectl_json("-n", app_ns, "get", "secretproviderclasspodstatuses")["items"]
    mounted = sorted(s["status"]["podName"] for s in statuses if s["status"].get("mounted"))
    assert mounted == sorted(names), "a SecretProviderClassPodStatus is missing after the apiserver restart"
    figure("4 apiserver restart", "apiserver outage (stop -> readyz)", f"{outage:.1f}s")
    figure(
        "4 apiserver restart",
        f"{BURST} pods created -> all Ready (recovery)",
        f"{all_ready:.1f}s",
    )


def test_kubelet_restart_with_volumes_mounted_loses_none_and_mounts_none_twice(
    cluster: Cluster, stack: Stack, app_ns: str, moto: Any
) -> None:
    secret, value = _secret(moto, "kubelet")
    cluster.apply(aws_spc("kubelet", [secret]), app_ns)
    names = [f"kubelet-{i}" for i in range(5)]
    cluster.apply([pod_with_volumes(n, "kubelet", 2) for n in names], app_ns)
    stack.wait_ready(app_ns, names)
    uids = pod_uids(cluster, app_ns)
    before = mount_counts(list(uids.values()))
    assert len(before) == 10 and set(before.values()) == {1}, before
    devices = {p: os.stat(p).st_dev for p in before}

    stopped = stop_component("kubelet")
    start_components()
    assert wait_cluster_ready(cluster, timeout=120), "node not Ready after the kubelet restart"
    node_ready = time.monotonic() - stopped
    # requiresRepublish: the restarted kubelet calls NodePublishVolume again for every mounted volume
    # within a pod sync period (syncFrequency 10s); wait well past it before counting.
    time.sleep(25)
    after = mount_counts(list(uids.values()))
    assert after == before, f"mounts changed across the kubelet restart: before {before}, after {after}"
    assert {p: os.stat(p).st_dev for p in before} == devices, "a volume was replaced by a new tmpfs"
    for uid in uids.values():
        for vol in ("s0", "s1"):
            assert (volume_dir(uid, vol) / secret).read_text() == value
    restarts = cluster.kubectl(
        "-n",
        app_ns,
        "get",
        "pods",
        "-o",
        "jsonpath={.items[*].status.containerStatuses[0].restartCount}",
    ).stdout.split()
    assert restarts == ["0"] * len(names)
    assert stack.read(app_ns, names[0], f"/mnt/s1/{secret}") == value
    figure(
        "5 kubelet restart",
        "kubelet stop -> node Ready (recovery)",
        f"{node_ready:.1f}s",
    )
    figure(
        "5 kubelet restart",
        "mountinfo entries per target before/after",
        f"{set(before.values())}/{set(after.values())}",
    )

    deleted = time.monotonic()
    cluster.kubectl("-n", app_ns, "delete", "pods", *names, "--wait", "--timeout=180s", timeout=200)
    wait_until(
        "the pods' mounts gone after delete",
        lambda: not mount_counts(list(uids.values())) and "ok",
        timeout=60,
    )
    figure(
        "5 kubelet restart",
        "delete after restart -> 10 tmpfs unmounted",
        f"{time.monotonic() - deleted:.1f}s",
    )
