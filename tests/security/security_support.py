"""Helpers of the security tier (tests/security): canaries and their encodings, the node file scan, the
OpenBao Kubernetes-auth setup, polling. A unique module name: conftest modules of other areas share theirs.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import stat
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml
from kubecluster import CACHE, KUBECONFIG, Cluster
from stack import Stack, installed_stack

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "providers"))
from provider_cluster import configure_vault_kubernetes_auth
from provider_vault import Bao

__all__ = ["Bao", "configure_vault_kubernetes_auth"]

# The tier's one install: the driver at its most verbose, sync and a 5s rotation; providers at debug with
# their metrics endpoints on.
DRIVER_VALUES: dict[str, Any] = {
    "logVerbosity": 10,  # everything the driver can say (DEBUG from 4)
    "enableSecretRotation": True,
    "rotationPollInterval": "5s",
    "syncSecret": {"enabled": True},
    "livenessProbe": {"logLevel": 10},
    "linux": {"registrar": {"logVerbosity": 10}},
}
PROVIDER_VALUES: dict[str, dict[str, Any]] = {
    "aws": {"logLevel": "debug", "metrics": {"enabled": True}},
    "vault": {"logLevel": "debug", "metrics": {"enabled": True}},
}


class SessionStack:
    """The installed stack, closable once from inside a test (the canary scan uninstalls it)."""

    def __init__(self, cluster: Cluster) -> None:
        self._exit = contextlib.ExitStack()
        self.stack: Stack = self._exit.enter_context(
            installed_stack(
                cluster, driver_values=DRIVER_VALUES, provider_values=PROVIDER_VALUES, prefix="sec"
            )
        )
        self.closed = False

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._exit.close()


T = TypeVar("T")


def wait_for(cond: Callable[[], T], what: str, timeout: float = 120, every: float = 1.0) -> T:
    """Polls `cond` until it returns something truthy; fails naming `what`."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    value: T | None
    while time.monotonic() < deadline:
        try:
            value = cond()
        except (subprocess.SubprocessError, AssertionError, OSError) as exc:
            last, value = exc, None
        if value:
            return value
        time.sleep(every)
    raise AssertionError(
        f"timed out after {timeout:.0f}s waiting for {what}" + (f" (last: {last})" if last else "")
    )


def failed_mount(stack: Stack, namespace: str, pod: str, *words: str, timeout: float = 90) -> str:
    """Waits for the pod's FailedMount event holding every word; asserts the pod never started."""

    def find() -> str:
        for e in stack.events(namespace, pod):
            if e.get("reason") == "FailedMount" and all(w in e.get("message", "") for w in words):
                return str(e["message"])
        return ""

    try:
        message = wait_for(
            find, f"a FailedMount event for {namespace}/{pod} saying {words}", timeout, every=2
        )
    except AssertionError:
        got = [e.get("message", "") for e in stack.events(namespace, pod)]
        raise AssertionError(
            f"{pod}: no FailedMount event with {words}; events: {json.dumps(got, indent=1)}"
        ) from None
    status = stack.cluster.kubectl_json("-n", namespace, "get", "pod", pod)["status"]
    assert status["phase"] == "Pending", status
    waiting = [c["state"].get("waiting", {}).get("reason") for c in status.get("containerStatuses", [])]
    assert waiting in ([], ["ContainerCreating"]), waiting
    return message


# --- canaries ------------------------------------------------------------------------------------------


def canary(label: str) -> str:
    """A unique value nothing else on the machine holds: found anywhere, it came from this test."""
    return f"ssc-canary-{label}-{uuid.uuid4().hex}"


def _b64_variants(data: bytes) -> set[bytes]:
    """The base64 text of `data` wherever it sits in a longer base64 stream: at each of the three byte
    alignments, only the characters that depend on `data` alone (standard and URL-safe alphabets)."""
    out: set[bytes] = set()
    for k in range(3):
        enc = base64.b64encode(b"\x00" * k + data).rstrip(b"=")
        lead = (k * 8 + 5) // 6  # characters that also carry the padding bytes
        tail = 1 if (k + len(data)) % 3 else 0  # the last character is shared with what follows
        core = enc[lead : len(enc) - tail]
        out.add(core)
        out.add(core.replace(b"+", b"-").replace(b"/", b"_"))
    return out


def encodings(value: str) -> dict[str, set[bytes]]:
    raw = value.encode()
    return {
        "raw": {raw},
        "base64": _b64_variants(raw),
        "hex": {raw.hex().encode(), raw.hex().upper().encode()},
    }


@dataclass
class Canaries:
    """Every canary of a run by label; `allowed` are those the user asked to sync to Kubernetes Secrets
    (they may appear in those Secrets, hence in etcd)."""

    values: dict[str, str] = field(default_factory=dict)
    synced: set[str] = field(default_factory=set)

    def new(self, label: str, *, synced: bool = False) -> str:
        value = canary(label)
        self.values[label] = value
        if synced:
            self.synced.add(label)
        return value

    def patterns(self) -> dict[bytes, tuple[str, str]]:
        """Byte pattern -> (label, encoding)."""
        out: dict[bytes, tuple[str, str]] = {}
        for label, value in self.values.items():
            for enc, pats in encodings(value).items():
                for p in pats:
                    out[p] = (label, enc)
        return out

    def find_in_text(self, text: str | bytes) -> set[tuple[str, str]]:
        """(label, encoding) of every canary found in `text`."""
        data = text.encode() if isinstance(text, str) else text
        return {hit for pat, hit in self.patterns().items() if pat in data}


# --- the node's filesystem -------------------------------------------------------------------------------

# Never walked: kernel views and device nodes, no file content there.
VIRTUAL = ("/proc", "/sys", "/dev")


def _tmpfs_mounts() -> set[str]:
    points = set()
    with open("/proc/self/mountinfo", encoding="utf-8", errors="surrogateescape") as fh:
        for line in fh:
            left, _, right = line.partition(" - ")
            if right.split(" ", 1)[0] in ("tmpfs", "ramfs", "devtmpfs"):
                points.add(left.split()[4].replace("\\040", " "))
    return points


@dataclass
class ScanReport:
    files_walked: int = 0
    files_changed: int = 0
    bytes_scanned: int = 0
    skipped_tmpfs: list[str] = field(default_factory=list)
    skipped_named: list[str] = field(default_factory=list)
    hits: list[tuple[str, str, str]] = field(default_factory=list)  # (path, label, encoding)
    seconds: float = 0.0


def changed_files(
    roots: Iterable[str], since: float, exclude: Iterable[str], report: ScanReport
) -> Iterator[str]:
    """Regular files under `roots` whose inode changed (ctime) at or after `since`. A canary created at
    `since` can only be in a file written afterwards, and ctime cannot be set back from user space, so
    older files are skipped without reading them. tmpfs mounts (live secret volumes, the kernel's memory)
    and `exclude` paths are not entered."""
    tmpfs = _tmpfs_mounts()
    excluded = {os.path.normpath(p) for p in exclude}
    seen: set[tuple[int, int]] = set()
    for root in roots:
        if not os.path.isdir(root):
            continue
        for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
            keep = []
            for d in dirnames:
                full = os.path.join(dirpath, d)
                if full in tmpfs:
                    report.skipped_tmpfs.append(full)
                elif full in excluded or full.startswith(VIRTUAL):
                    report.skipped_named.append(full)
                else:
                    keep.append(d)
            dirnames[:] = keep
            for name in filenames:
                full = os.path.join(dirpath, name)
                if full in excluded:
                    report.skipped_named.append(full)
                    continue
                try:
                    st = os.lstat(full)
                except OSError:
                    continue
                if not stat.S_ISREG(st.st_mode) or (st.st_dev, st.st_ino) in seen:
                    continue
                seen.add((st.st_dev, st.st_ino))
                report.files_walked += 1
                if st.st_ctime >= since:
                    report.files_changed += 1
                    report.bytes_scanned += st.st_size
                    yield full


def grep_files(files: list[str], canaries: Canaries, report: ScanReport) -> None:
    """Which of `files` hold which canary encodings: GNU grep -F (many fixed strings at once, fast), the
    patterns passed through a pipe so they touch no disk, then an exact pass in Python on the few hits."""
    patterns = canaries.patterns()
    if not files:
        return
    hit_files: set[str] = set()
    blob = b"\n".join(patterns) + b"\n"  # a few KiB: fits a pipe's buffer
    for i in range(0, len(files), 2000):
        pat_r, pat_w = os.pipe()  # a pipe is read once: one per grep
        try:
            os.write(pat_w, blob)
            os.close(pat_w)
            proc = subprocess.run(
                [
                    "grep",
                    "-l",
                    "-a",
                    "-F",
                    "-s",
                    "--devices=skip",
                    "-f",
                    f"/dev/fd/{pat_r}",
                    "--",
                    *files[i : i + 2000],
                ],
                capture_output=True,
                pass_fds=(pat_r,),
                check=False,
            )
        finally:
            os.close(pat_r)
        assert proc.returncode in (0, 1, 2), proc.stderr
        hit_files.update(line.decode("utf-8", "surrogateescape") for line in proc.stdout.splitlines())
    for path in sorted(hit_files):
        try:
            data = Path(path).read_bytes()
        except OSError:
            continue
        for label, enc in sorted(canaries.find_in_text(data)):
            report.hits.append((path, label, enc))


def scan_node(roots: Iterable[str], since: float, canaries: Canaries, exclude: Iterable[str]) -> ScanReport:
    report = ScanReport()
    started = time.monotonic()
    files = list(changed_files(roots, since, exclude, report))
    grep_files(files, canaries, report)
    report.seconds = time.monotonic() - started
    return report


def own_output_files() -> list[str]:
    """Files this test process writes its own stdout/stderr to (a runner's log): not a product's leak."""
    out = []
    for fd in (1, 2):
        with contextlib.suppress(OSError):
            target = os.readlink(f"/proc/self/fd/{fd}")
            if target.startswith("/") and os.path.isfile(target):
                out.append(target)
    return out


# --- OpenBao -------------------------------------------------------------------------------------------


def cluster_api() -> dict[str, str]:
    """API server URL and CA of the local cluster, as configure_vault_kubernetes_auth wants them."""
    cfg = yaml.safe_load(KUBECONFIG.read_text())
    cl = cfg["clusters"][0]["cluster"]
    ca = (
        base64.b64decode(cl["certificate-authority-data"]).decode()
        if "certificate-authority-data" in cl
        else Path(cl["certificate-authority"]).read_text()
    )
    return {"server": cl["server"], "ca": ca, "kubeconfig": str(KUBECONFIG)}


@contextlib.contextmanager
def vault_reviewer(cluster: Cluster, namespace: str) -> Iterator[str]:
    """A service account allowed to call TokenReview (system:auth-delegator); yields its token, OpenBao's
    reviewer JWT for the Kubernetes auth method."""
    cluster.kubectl("-n", namespace, "create", "serviceaccount", "vault-reviewer")
    binding = f"{namespace}-vault-reviewer"
    cluster.kubectl(
        "create",
        "clusterrolebinding",
        binding,
        "--clusterrole=system:auth-delegator",
        f"--serviceaccount={namespace}:vault-reviewer",
    )
    try:
        yield cluster.kubectl(
            "-n", namespace, "create", "token", "vault-reviewer", "--duration=1h"
        ).stdout.strip()
    finally:
        cluster.kubectl("delete", "clusterrolebinding", binding, "--ignore-not-found", check=False)


def emulator_clients_kwargs(env: dict[str, str]) -> dict[str, Any]:
    return {
        "endpoint_url": env["MOTO_URL"],
        "region_name": "us-east-1",
        "aws_access_key_id": "testing",
        "aws_secret_access_key": "testing",
    }


CACHE_DIR = CACHE
