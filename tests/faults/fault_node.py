"""The node side of the fault tier: the devcluster's node is this machine, so its processes, mounts and
pod volume directories are right here.

- `restart_component("kubelet")` stops a host component the way hack/devcluster/cluster.sh does (SIGTERM,
  then SIGKILL after a grace period) and starts it again with `cluster.sh up`, which restarts what is not
  running and leaves the rest alone.
- `container_pids(pod_uid, "secrets-store")` finds the processes of one container through their cgroup.
- `mount_counts()` counts mountinfo entries per CSI target: a duplicate mount shows as a count above 1.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
import urllib.request
from collections import Counter
from pathlib import Path

from kubecluster import REPO

CLUSTER_SH = REPO / "hack" / "devcluster" / "cluster.sh"
PIDS = Path("/run/ssc-devcluster/pids")
KUBELET_ROOT = "/var/lib/kubelet"


def component_pid(name: str) -> int:
    pid = int((PIDS / f"{name}.pid").read_text().strip())
    assert _alive(pid), f"{name} (pid {pid}) is not running"
    return pid


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def stop_component(name: str, grace: float = 10) -> float:
    """SIGTERM the host component, SIGKILL after `grace` seconds. Returns when it is gone."""
    pid = component_pid(name)
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if _alive(pid):
        os.kill(pid, signal.SIGKILL)
        while _alive(pid):
            time.sleep(0.1)
    return time.monotonic()


def start_components() -> None:
    """`cluster.sh up`: starts every stopped component and waits for the node to be Ready."""
    proc = subprocess.run(
        [str(CLUSTER_SH), "up"],
        check=False,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ},
    )
    assert proc.returncode == 0, f"cluster.sh up failed:\n{proc.stderr[-3000:]}"


def container_pids(pod_uid: str, command_part: str) -> list[int]:
    """Pids of processes in the pod's cgroup whose command line contains `command_part`."""
    marker = f"pod{pod_uid}"
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cgroup = Path(f"/proc/{entry}/cgroup").read_text()
            cmdline = (
                Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            )
        except OSError:
            continue
        if marker in cgroup and command_part in cmdline:
            found.append(int(entry))
    return found


def mount_counts(pod_uids: list[str]) -> Counter[str]:
    """Mount point -> number of mountinfo entries, for the CSI volumes of the given pods."""
    prefixes = tuple(f"{KUBELET_ROOT}/pods/{uid}/volumes/kubernetes.io~csi/" for uid in pod_uids)
    counts: Counter[str] = Counter()
    with open("/proc/self/mountinfo") as f:
        for line in f:
            point = line.split()[4]
            if point.startswith(prefixes):
                counts[point] += 1
    return counts


def volume_dir(pod_uid: str, volume: str) -> Path:
    """Where the kubelet has the driver mount a pod's CSI volume (the pod sees the same tmpfs)."""
    return Path(KUBELET_ROOT) / "pods" / pod_uid / "volumes" / "kubernetes.io~csi" / volume / "mount"


_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)$")


def scrape(url: str) -> dict[str, float]:
    """Prometheus text exposition -> {'name{labels}': value}."""
    with urllib.request.urlopen(url, timeout=10) as resp:
        text = resp.read().decode()
    out = {}
    for line in text.splitlines():
        m = _SAMPLE.match(line)
        if m:
            out[m.group(1) + (m.group(2) or "")] = float(m.group(3))
    return out


def metric_sum(samples: dict[str, float], name: str, **labels: str) -> float:
    total = 0.0
    for key, value in samples.items():
        metric, _, rest = key.partition("{")
        if metric != name:
            continue
        if all(f'{k}="{v}"' in rest for k, v in labels.items()):
            total += value
    return total
