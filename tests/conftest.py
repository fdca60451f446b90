"""Fixtures shared by the cluster-level test tiers (tests/<area>/).

`cluster` hands a test the local devcluster (hack/devcluster): a `kubecluster.Cluster` whose
`kubeconfig` is the admin kubeconfig path (the value is also path-like: `os.fspath(cluster)`), with
small kubectl/helm helpers. `make cluster-up` (a dependency of every cluster tier) starts the
cluster; the fixture only checks that it is there and fails, naming the make target, when not.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest
from kubecluster import CACHE, KUBECONFIG, Cluster, wait_cluster_ready


@pytest.fixture(scope="session")
def cluster() -> Cluster:
    """The running devcluster; fails (never skips) when `make cluster-up` has not brought it up."""
    c = Cluster(kubeconfig=KUBECONFIG, bin_dir=CACHE / "bin")
    if not KUBECONFIG.exists():
        pytest.fail(f"{KUBECONFIG} does not exist: run `make cluster-up` (the cluster tiers depend on it)")
    if not wait_cluster_ready(c, timeout=60):
        pytest.fail(
            "the devcluster node is not Ready: see `make cluster-status` and /var/log/ssc-devcluster/"
        )
    return c


@pytest.fixture
def namespace(cluster: Cluster, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh namespace for one test, deleted afterwards (without waiting for it to go)."""
    name = f"test-{request.node.name[:30].lower().replace('_', '-').strip('-')}-{uuid.uuid4().hex[:6]}"
    cluster.kubectl("create", "namespace", name)
    # Pods need the namespace's default service account, which the controller-manager adds.
    deadline = time.monotonic() + 30
    while cluster.kubectl("-n", name, "get", "serviceaccount", "default", check=False).returncode != 0:
        assert time.monotonic() < deadline, f"no default service account in {name}"
        time.sleep(0.5)
    yield name
    cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)
