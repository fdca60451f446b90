"""Lease leader election against an in-memory Lease store with the API server's compare-and-swap."""

from __future__ import annotations

import copy
import time
from typing import Any

import pytest

from secrets_store_csi.kube.errors import KubeError
from secrets_store_csi.operator.leader import LeaderElection


class LeaseStore:
    """GET / POST / PUT of one Lease, refusing stale writes with 409 as the API server does."""

    def __init__(self) -> None:
        self.lease: dict[str, Any] | None = None
        self.version = 0

    async def request(self, method: str, path: str, body: Any = None, **_: Any) -> Any:
        if method == "GET":
            if self.lease is None:
                raise KubeError(404, "not found")
            return copy.deepcopy(self.lease)
        if method == "POST":
            if self.lease is not None:
                raise KubeError(409, "exists")
            return self._store(body)
        if method == "PUT":
            assert self.lease is not None
            if body["metadata"].get("resourceVersion") != self.lease["metadata"]["resourceVersion"]:
                raise KubeError(409, "conflict")
            return self._store(body)
        raise AssertionError(method)

    def _store(self, body: dict[str, Any]) -> dict[str, Any]:
        self.version += 1
        self.lease = copy.deepcopy(body)
        self.lease["metadata"]["resourceVersion"] = str(self.version)
        return copy.deepcopy(self.lease)

    @property
    def holder(self) -> str | None:
        return None if self.lease is None else self.lease["spec"].get("holderIdentity")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    c = Clock()
    monkeypatch.setattr(time, "monotonic", c)
    return c


def election(store: LeaseStore, identity: str) -> LeaderElection:
    return LeaderElection(store, "ns", "lease", identity, duration=15)  # type: ignore[arg-type]


async def test_the_first_candidate_creates_the_lease_and_leads(clock: Clock) -> None:
    store = LeaseStore()
    assert await election(store, "a")._try({})
    assert store.holder == "a"


async def test_a_second_candidate_waits_while_the_holder_renews(clock: Clock) -> None:
    store = LeaseStore()
    a, b = election(store, "a"), election(store, "b")
    seen_a: dict[str, Any] = {}
    seen_b: dict[str, Any] = {}
    assert await a._try(seen_a)
    for _ in range(10):
        clock.now += 5
        assert await a._try(seen_a)  # renews
        assert not await b._try(seen_b)
    assert store.holder == "a"


async def test_a_candidate_takes_over_once_the_record_is_stale_for_the_lease_duration(clock: Clock) -> None:
    store = LeaseStore()
    a, b = election(store, "a"), election(store, "b")
    assert await a._try({})
    seen_b: dict[str, Any] = {}
    assert not await b._try(seen_b)
    clock.now += 14
    assert not await b._try(seen_b)
    clock.now += 2
    assert await b._try(seen_b)
    assert store.holder == "b"
    assert store.lease is not None and store.lease["spec"]["leaseTransitions"] == 1


async def test_a_released_lease_is_taken_at_once(clock: Clock) -> None:
    store = LeaseStore()
    a, b = election(store, "a"), election(store, "b")
    assert await a._try({})
    await a.release()
    assert await b._try({})
    assert store.holder == "b"


async def test_of_two_racing_writers_only_one_wins(clock: Clock) -> None:
    store = LeaseStore()
    assert await election(store, "a")._try({})
    clock.now += 100  # a is long dead
    b, c = election(store, "b"), election(store, "c")
    seen_b: dict[str, Any] = {}
    seen_c: dict[str, Any] = {}
    assert not await b._try(seen_b)  # first sight of the record starts each candidate's own clock
    assert not await c._try(seen_c)
    clock.now += 16
    stale = copy.deepcopy(store.lease)
    assert await b._try(seen_b)
    original = store.request

    async def stale_get(method: str, path: str, body: Any = None, **kw: Any) -> Any:
        if method == "GET":
            return copy.deepcopy(stale)
        return await original(method, path, body, **kw)

    store.request = stale_get  # type: ignore[method-assign]
    assert not await c._try(seen_c)
    assert store.holder == "b"
