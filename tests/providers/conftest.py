"""Cluster-tier fixtures for the providers: the local cluster's kubeconfig, a namespace of our own, and the
emulators (started when missing)."""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

sys.path.insert(
    0, str(Path(__file__).resolve().parents[2] / "plugin" / "tests" / "providers")
)

KUBECONFIG = os.environ.get(
    "SSC_KUBECONFIG", "/var/lib/ssc-devcluster/admin.kubeconfig"
)
CACHE = Path(os.environ.get("CACHE", Path.home() / ".cache" / "secrets-store-csi"))


def kubectl(*args: str, stdin: str | None = None, timeout: float = 60) -> str:
    binary = (
        shutil.which("kubectl", path=f"{CACHE / 'bin'}:{os.environ.get('PATH', '')}")
        or "kubectl"
    )
    out = subprocess.run(
        [binary, "--kubeconfig", KUBECONFIG, *args],
        input=stdin,
        check=False,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if out.returncode != 0:
        raise RuntimeError(f"kubectl {' '.join(args)}: {out.stderr.strip()}")
    return out.stdout


@pytest.fixture(scope="session")
def cluster() -> dict[str, str]:
    """API server URL and CA of the local cluster (fails, never skips, when it is not up)."""
    kubectl("get", "--raw", "/readyz")
    cfg = yaml.safe_load(Path(KUBECONFIG).read_text())
    cl = cfg["clusters"][0]["cluster"]
    ca = (
        base64.b64decode(cl["certificate-authority-data"]).decode()
        if "certificate-authority-data" in cl
        else Path(cl["certificate-authority"]).read_text()
    )
    return {"server": cl["server"], "ca": ca, "kubeconfig": KUBECONFIG}


@pytest.fixture
def namespace(cluster: dict[str, str]) -> Iterator[str]:
    name = f"providers-{uuid.uuid4().hex[:8]}"
    kubectl("create", "namespace", name)
    yield name
    kubectl("delete", "namespace", name, "--wait=false")
