"""Cluster-tier fixtures for the providers: the local cluster's API server and CA, a namespace of our own.
Helpers live in provider_cluster.py (a unique module name: conftest modules of other areas share the name)."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from provider_cluster import KUBECONFIG, kubectl


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
