"""Helpers for the chart tests on the local cluster: kubectl/helm, the driver lock, emulator settings."""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from chartrender import helm_binary

LOCK = "/tmp/ssc-cluster-driver.lock"
# The project image `make images` builds; SSC_IMAGE_TAG picks another (a locally built one).
IMAGE_TAG = os.environ.get("SSC_IMAGE_TAG", "0.1.0")
CRDS = (
    "secretproviderclasses.secrets-store.csi.x-k8s.io",
    "secretproviderclasspodstatuses.secrets-store.csi.x-k8s.io",
)
KUBECONFIG = Path(os.environ.get("SSC_KUBECONFIG", "/var/lib/ssc-devcluster/admin.kubeconfig"))


class Kube:
    """kubectl and helm against the local cluster's admin kubeconfig."""

    def __init__(self, kubeconfig: Path) -> None:
        self.kubeconfig = kubeconfig
        cache = Path(os.environ.get("CACHE", str(Path.home() / ".cache" / "secrets-store-csi")))
        local = cache / "bin" / "kubectl"
        self.kubectl_bin = str(local) if local.exists() else (shutil.which("kubectl") or "kubectl")

    def env(self) -> dict[str, str]:
        return {**os.environ, "KUBECONFIG": str(self.kubeconfig)}

    def kubectl(
        self, *args: str, stdin: str | None = None, check: bool = True, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [self.kubectl_bin, *args],
            input=stdin,
            capture_output=True,
            text=True,
            env=self.env(),
            timeout=timeout,
            check=False,
        )
        if check and proc.returncode:
            raise AssertionError(f"kubectl {' '.join(args)} failed: {proc.stderr.strip()}")
        return proc

    def helm(self, *args: str, check: bool = True, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [helm_binary(), *args],
            capture_output=True,
            text=True,
            env=self.env(),
            timeout=timeout,
            check=False,
        )
        if check and proc.returncode:
            raise AssertionError(f"helm {' '.join(args)} failed: {proc.stderr.strip()}")
        return proc

    def served(self, api_version: str) -> bool:
        return self.kubectl("get", "--raw", f"/apis/{api_version}", check=False).returncode == 0


@contextlib.contextmanager
def driver_lock(timeout: float = 1200) -> Iterator[None]:
    """flock(2) on the team's lock file, the same lock as `flock /tmp/ssc-cluster-driver.lock`."""
    with open(LOCK, "a") as f:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                assert time.monotonic() < deadline, f"{LOCK} held by someone else for {timeout}s"
                time.sleep(2)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def emulator_env() -> dict[str, str]:
    cache = Path(os.environ.get("CACHE", str(Path.home() / ".cache" / "secrets-store-csi")))
    path = cache / "emulators" / "env"
    if not path.exists():
        pytest.fail(f"{path} does not exist: run `make emulators-up`")
    env = {}
    for line in path.read_text().splitlines():
        if line.startswith("export ") and "=" in line:
            key, _, value = line[len("export ") :].partition("=")
            env[key] = value.strip().strip("'\"")
    return env


def wait_no_foreign_driver(kube: Kube, timeout: float = 300) -> None:
    """Inside the lock, a CSIDriver secrets-store.csi.k8s.io means someone installed a driver without the lock
    (or left one behind): wait a while for it to go, then fail naming it."""
    deadline = time.monotonic() + timeout
    while True:
        proc = kube.kubectl(
            "get", "csidriver", "secrets-store.csi.k8s.io", "-o", "jsonpath={.metadata.labels}", check=False
        )
        if proc.returncode != 0:
            return
        if time.monotonic() > deadline:
            raise AssertionError(
                f"a Secrets Store CSI driver is installed by someone else ({proc.stdout}) "
                f"and stayed {timeout:.0f}s although {LOCK} is ours"
            )
        time.sleep(5)
