"""The security tier's one installed stack: the driver chart (sync and rotation on, most verbose log level)
and the AWS and Vault provider charts (debug logs, metrics on) pointed at moto and OpenBao, installed once
for the whole tier under the team's cluster-wide driver lock (tests/stack.py).

The canary scan (test_canaries.py) must judge the node after the full uninstall, so it runs last and
closes the stack itself; every other test runs before it on the same install.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from kubecluster import Cluster
from security_support import SessionStack
from stack import Stack


@pytest.fixture(scope="session")
def session_stack(cluster: Cluster) -> Iterator[SessionStack]:
    s = SessionStack(cluster)
    try:
        yield s
    finally:
        s.close()


@pytest.fixture
def stack(session_stack: SessionStack) -> Stack:
    assert not session_stack.closed, "the stack was uninstalled by the canary scan, which must run last"
    return session_stack.stack


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The canary scan last: it uninstalls the shared stack before searching the node."""
    items.sort(key=lambda item: "test_canaries.py" in str(item.fspath))
