"""Fixtures for the chart tests that need the local cluster (marker `cluster`); helpers in chartcluster.py."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest
from chartcluster import KUBECONFIG, Kube


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
