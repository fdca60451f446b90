import asyncio

import pytest

from secrets_store_csi.driver.attributes import parse_volume_request
from secrets_store_csi.driver.provider_client import MountResult
from secrets_store_csi.driver.spc import SecretProviderClass
from secrets_store_csi.driver.volumes import SharedFetch, share_key

SPC = SecretProviderClass("shop", "db", "vault", {"objects": "[a]"}, ())


def _req(pod: str = "web-0", ns: str = "shop", sa: str = "web", secrets: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    ctx = {
        "secretProviderClass": "db",
        "csi.storage.k8s.io/pod.name": pod,
        "csi.storage.k8s.io/pod.namespace": ns,
        "csi.storage.k8s.io/pod.uid": f"uid-{pod}",
        "csi.storage.k8s.io/serviceAccount.name": sa,
    }
    return parse_volume_request(ctx, secrets or {})


def test_pods_of_one_identity_and_spc_share_a_key() -> None:
    assert share_key(SPC, _req("web-0"), 0o644) == share_key(SPC, _req("web-1"), 0o644)


@pytest.mark.parametrize(
    "other",
    [
        {"sa": "admin"},
        {"ns": "other"},
        {"secrets": {"clientSecret": "b"}},
    ],
)
def test_a_different_identity_never_shares_a_key(other: dict) -> None:  # type: ignore[type-arg]
    base = _req(secrets={"clientSecret": "a"})
    kwargs = {"secrets": {"clientSecret": "a"}, **other}
    assert share_key(SPC, base, 0o644) != share_key(SPC, _req("web-1", **kwargs), 0o644)


def test_different_spc_content_never_shares_a_key() -> None:
    changed = SecretProviderClass("shop", "db", "vault", {"objects": "[b]"}, ())
    assert share_key(SPC, _req(), 0o644) != share_key(changed, _req(), 0o644)


def _result(n: int) -> MountResult:
    return MountResult({"a": str(n)}, [("a", 0o644, str(n).encode())])


async def test_concurrent_fetches_with_one_key_call_the_provider_once() -> None:
    shared = SharedFetch()
    calls = 0

    async def fetch() -> MountResult:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.05)
        return _result(calls)

    results = await asyncio.gather(*(shared.get("k", f"/t{i}", 0.0, fetch) for i in range(10)))
    assert calls == 1
    assert {r.object_versions["a"] for r, _ in results} == {"1"}


async def test_a_finished_fetch_is_reused_only_within_max_age() -> None:
    shared = SharedFetch()
    calls = 0

    async def fetch() -> MountResult:
        nonlocal calls
        calls += 1
        return _result(calls)

    await shared.get("k", "/t1", 60, fetch)
    await shared.get("k", "/t2", 60, fetch)
    assert calls == 1
    await shared.get("k", "/t3", 0.0, fetch)
    assert calls == 2


async def test_a_result_without_files_is_never_reused() -> None:
    shared = SharedFetch()
    calls = 0

    async def fetch() -> MountResult:
        nonlocal calls
        calls += 1
        return MountResult({"a": "1"}, [])

    await shared.get("k", "/t1", 60, fetch)
    await shared.get("k", "/t2", 60, fetch)
    assert calls == 2


async def test_a_failed_fetch_is_not_cached() -> None:
    shared = SharedFetch()
    calls = 0

    async def fetch() -> MountResult:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("boom")
        return _result(calls)

    with pytest.raises(RuntimeError):
        await shared.get("k", "/t1", 60, fetch)
    result, _ = await shared.get("k", "/t1", 60, fetch)
    assert result.object_versions == {"a": "2"}


def test_tokens_are_refreshed_only_when_they_expire_within_the_margin() -> None:
    import datetime
    import json

    from secrets_store_csi.driver.tokens import needs_refresh

    now = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    soon = json.dumps({"vault": {"token": "t", "expirationTimestamp": "2026-01-01T00:01:00Z"}})
    later = json.dumps({"vault": {"token": "t", "expirationTimestamp": "2026-01-01T01:00:00Z"}})
    assert needs_refresh(soon, 180, now)
    assert not needs_refresh(later, 180, now)
    assert not needs_refresh("", 180, now)
    assert needs_refresh(json.dumps({"vault": {"token": "t"}}), 180, now)
