"""Shared pieces of the driver's `cluster` tests: the apiserver of the local cluster, the lock for
cluster-wide installs (CRDs), a namespace of our own (driver-*)."""

from __future__ import annotations

import contextlib
import fcntl
import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

KUBECONFIG = os.environ.get("SSC_KUBECONFIG", "/var/lib/ssc-devcluster/admin.kubeconfig")
LOCK = "/tmp/ssc-cluster-driver.lock"
REPO = Path(__file__).resolve().parents[3]
CRDS = REPO / "charts" / "secrets-store-csi-driver" / "crds"  # the CRDs users install


def kubectl(*args: str, check: bool = True, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["kubectl", "--kubeconfig", KUBECONFIG, *args],
        capture_output=True,
        text=True,
        check=check,
        input=stdin,
        timeout=120,
    )


def require_cluster() -> None:
    if not os.path.exists(KUBECONFIG):
        pytest.fail(f"{KUBECONFIG} missing: start the local cluster (make cluster-up)")
    for _ in range(30):
        if kubectl("get", "--raw", "/readyz", check=False).returncode == 0:
            return
        time.sleep(2)
    pytest.fail("the local cluster's apiserver is not ready (make cluster-up)")


@contextlib.contextmanager
def cluster_lock(limit: float = 900) -> Iterator[None]:
    with open(LOCK, "a+") as fh:
        deadline = time.monotonic() + limit
        while True:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    pytest.fail(f"{LOCK} held by someone else for {limit}s")
                time.sleep(2)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


@contextlib.contextmanager
def crds_installed() -> Iterator[None]:
    """Install the SPC/SPCPS CRDs unless present; remove them afterwards only if we installed them."""
    names = [
        "secretproviderclasses.secrets-store.csi.x-k8s.io",
        "secretproviderclasspodstatuses.secrets-store.csi.x-k8s.io",
    ]
    present = kubectl("get", "crd", *names, check=False).returncode == 0
    if not present:
        kubectl("apply", "-f", str(CRDS))
        kubectl("wait", "--for=condition=Established", "--timeout=60s", *[f"crd/{n}" for n in names])
    try:
        yield
    finally:
        if not present:
            kubectl("delete", "crd", *names, "--wait=true", check=False)


@contextlib.contextmanager
def namespace() -> Iterator[str]:
    name = f"driver-{uuid.uuid4().hex[:8]}"
    kubectl("create", "namespace", name)
    try:
        yield name
    finally:
        kubectl("delete", "namespace", name, "--wait=false", check=False)
