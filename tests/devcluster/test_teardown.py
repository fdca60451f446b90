"""cluster-down stops what cluster-up started and leaves no mounts; a step that fails names itself;
a second cluster-up works. Runs after the smoke tests (file order) and leaves the cluster up."""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

import pytest
from kubecluster import REPO, Cluster, wait_cluster_ready

pytestmark = pytest.mark.cluster

CLUSTER_SH = REPO / "hack/devcluster/cluster.sh"
PIDS = Path("/run/ssc-devcluster/pids")
KUBELET_ROOT = "/var/lib/kubelet"


def cluster_sh(
    verb: str, timeout: float = 300, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(CLUSTER_SH), verb],
        check=False,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (not yet reaped) is gone for our purposes.
    return "State:\tZ" not in Path(f"/proc/{pid}/status").read_text()


def mounts_under(root: str) -> list[str]:
    targets = [line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()]
    return [t for t in targets if t == root or t.startswith(root + "/")]


def shims_of_k8s_namespace() -> list[int]:
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmd = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if cmd and cmd[0].endswith(b"containerd-shim-runc-v2") and b"k8s.io" in cmd:
            pids.append(int(proc.name))
    return pids


def test_cluster_down_leaves_nothing_and_a_failing_step_names_itself_and_cluster_up_works_again(
    cluster: Cluster,
) -> None:
    started = {p.stem: int(p.read_text()) for p in PIDS.glob("*.pid")}
    assert {"containerd", "etcd", "kube-apiserver", "kubelet", "kube-proxy"} <= started.keys()
    assert mounts_under(KUBELET_ROOT), "a running cluster has its kubelet root mounted"
    try:
        down = cluster_sh("down")
        assert down.returncode == 0, down.stderr
        assert [name for name, pid in started.items() if alive(pid)] == []
        assert shims_of_k8s_namespace() == []
        assert mounts_under(KUBELET_ROOT) == []

        # A component that exits at start: up names the step and shows the component's log.
        crashed = cluster_sh("up", env={"EXTRA_ARGS_kube_scheduler": "--no-such-flag"})
        assert crashed.returncode != 0
        assert "FAILED at step 'kube-scheduler' (kube-scheduler): process exited" in crashed.stderr
        assert "unknown flag: --no-such-flag" in crashed.stderr
        assert "full log: /var/log/ssc-devcluster/kube-scheduler.log" in crashed.stderr
        assert cluster_sh("down").returncode == 0

        # A port taken by someone else: up stops at the etcd step, says why, shows the log path.
        with socket.socket() as squatter:
            squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            squatter.bind(("127.0.0.1", 2379))
            squatter.listen()
            failed = cluster_sh("up")
        assert failed.returncode != 0
        assert "FAILED at step 'etcd'" in failed.stderr
        assert "port 2379 already in use" in failed.stderr
    finally:
        up = cluster_sh("up")
    assert up.returncode == 0, up.stderr
    assert wait_cluster_ready(cluster, timeout=60)
    again = cluster_sh("up")
    assert again.returncode == 0 and "already running" in again.stderr
