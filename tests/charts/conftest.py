"""Fixtures for the chart tests that need the local cluster (marker `cluster`)."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from chartrender import helm_binary

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


@pytest.fixture(scope="session")
def kube() -> Kube:
    """The running local cluster; fails (never skips) when it is not up."""
    if not KUBECONFIG.exists():
        pytest.fail(f"{KUBECONFIG} does not exist: run `make cluster-up`")
    k = Kube(KUBECONFIG)
    deadline = time.monotonic() + 60
    while True:
        proc = k.kubectl(
            "get",
            "nodes",
            "-o",
            "jsonpath={.items[*].status.conditions[?(@.type=='Ready')].status}",
            check=False,
        )
        if proc.returncode == 0 and "True" in proc.stdout:
            return k
        if time.monotonic() > deadline:
            pytest.fail(f"the local cluster has no Ready node: {proc.stderr.strip()} (make cluster-status)")
        time.sleep(2)


def _make_namespace(kube: Kube, hint: str) -> str:
    name = "".join(ch if ch.isalnum() else "-" for ch in f"charts-{hint[:30].lower()}").strip("-")
    name = f"{name}-{uuid.uuid4().hex[:6]}"
    kube.kubectl("create", "namespace", name)
    return name


@pytest.fixture
def charts_namespace(kube: Kube, request: pytest.FixtureRequest) -> Iterator[str]:
    """A throwaway namespace prefixed with this suite's name, deleted afterwards."""
    name = _make_namespace(kube, request.node.originalname)
    yield name
    kube.kubectl("delete", "namespace", name, "--wait=false", check=False)


@pytest.fixture(scope="module")
def dry_run_namespace(kube: Kube) -> Iterator[str]:
    """One namespace for the server-side dry runs (they create nothing in it)."""
    name = _make_namespace(kube, "dry-run")
    yield name
    kube.kubectl("delete", "namespace", name, "--wait=false", check=False)
