"""The driver as a real process on a unix socket, the test provider as a real process, real tmpfs."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import urllib.request

import grpc
import pytest

from secrets_store_csi.driver.mount import unmount

from .conftest import CsiClient, Harness, volume_context, wait_until

pytestmark = pytest.mark.integration

JWT = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2EifQ.c2lnbmF0dXJlLXNlY3JldA"


def _files(target: os.PathLike[str]) -> dict[str, bytes]:
    out = {}
    for dirpath, dirnames, filenames in os.walk(target, followlinks=True):
        dirnames[:] = [d for d in dirnames if not d.startswith("..")]
        for name in filenames:
            full = os.path.join(dirpath, name)
            with open(full, "rb") as fh:
                out[os.path.relpath(full, target)] = fh.read()
    return out


async def _expect_error(coro: object, code: grpc.StatusCode, *words: str) -> str:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await coro  # type: ignore[misc]
    assert err.value.code() == code, err.value.details()
    for w in words:
        assert w in (err.value.details() or ""), err.value.details()
    return err.value.details() or ""


async def test_publish_mounts_tmpfs_writes_files_and_unpublish_cleans_up(
    harness: Harness, client: CsiClient
) -> None:
    harness.object("pw", "s3cret")
    harness.object("cfg", "a=1")
    harness.spc("shop", "db", {"password": "pw", "conf/app.ini": "cfg"})
    harness.start_provider()
    harness.start_driver()
    target = harness.target("web-0")
    await client.publish(target, volume_context("web-0", "shop", "db"))
    assert harness.is_tmpfs(target)
    assert _files(target) == {"password": b"s3cret", "conf/app.ini": b"a=1"}
    assert (target / "password").is_symlink() and (target / "conf").is_symlink()
    assert os.stat(target / "password").st_mode & 0o777 == 0o644
    # A second publish of a mounted target is idempotent.
    await client.publish(target, volume_context("web-0", "shop", "db"))
    await client.unpublish(target)
    assert not harness.is_tmpfs(target)
    assert not target.exists()
    # Unpublish of something already gone succeeds.
    await client.unpublish(target)


async def test_provider_that_writes_files_itself_is_accepted(harness: Harness, client: CsiClient) -> None:
    harness.object("pw", "legacy")
    harness.spc("shop", "legacy", {"pw": "pw"}, writeSelf="true")
    harness.start_provider()
    harness.start_driver()
    target = harness.target("web-1")
    await client.publish(target, volume_context("web-1", "shop", "legacy"))
    assert (target / "pw").read_bytes() == b"legacy"
    assert harness.is_tmpfs(target)


async def test_spc_missing_is_not_found_naming_it(harness: Harness, client: CsiClient) -> None:
    harness.start_provider()
    harness.start_driver()
    target = harness.target("p")
    await _expect_error(
        client.publish(target, volume_context("p", "shop", "nope")),
        grpc.StatusCode.NOT_FOUND,
        "'nope'",
        "'shop'",
    )
    assert not harness.is_tmpfs(target)


async def test_spc_in_another_namespace_is_not_used(harness: Harness, client: CsiClient) -> None:
    harness.object("pw", "other-team")
    harness.spc("other", "db", {"pw": "pw"})
    harness.start_provider()
    harness.start_driver()
    target = harness.target("p")
    await _expect_error(
        client.publish(target, volume_context("p", "shop", "db")), grpc.StatusCode.NOT_FOUND, "own namespace"
    )
    assert not target.exists() or not any(target.iterdir())


async def test_provider_missing_is_unavailable_naming_the_sockets(
    harness: Harness, client: CsiClient
) -> None:
    harness.spc("shop", "db", {"pw": "pw"}, provider="vault")
    harness.start_driver()
    target = harness.target("p")
    await _expect_error(
        client.publish(target, volume_context("p", "shop", "db")),
        grpc.StatusCode.UNAVAILABLE,
        f"{harness.providers}/vault.sock",
        "providers-extra/vault.sock",
    )
    assert not harness.is_tmpfs(target)


async def test_provider_found_in_an_additional_directory(harness: Harness, client: CsiClient) -> None:
    harness.object("pw", "x")
    harness.spc("shop", "db", {"pw": "pw"})
    harness.start_provider(directory=harness.root / "providers-extra")
    harness.start_driver()
    await client.publish(harness.target("p"), volume_context("p", "shop", "db"))


async def test_provider_down_is_unavailable_after_retries(harness: Harness, client: CsiClient) -> None:
    harness.spc("shop", "db", {"pw": "pw"})
    harness.start_provider()
    harness.stop("provider-testprovider", signal.SIGKILL)  # the socket file stays, nobody listens
    harness.start_driver()
    target = harness.target("p")
    await _expect_error(
        client.publish(target, volume_context("p", "shop", "db")), grpc.StatusCode.UNAVAILABLE, "3 attempts"
    )
    assert not harness.is_tmpfs(target)


@pytest.mark.parametrize(
    ("path", "words"),
    [("../escape", ["'..'"]), ("/etc/evil", ["absolute"]), ("..data", ["reserves"])],
)
async def test_unsafe_returned_paths_are_refused_and_nothing_is_mounted(
    harness: Harness, client: CsiClient, path: str, words: list[str]
) -> None:
    harness.object("pw", "x")
    harness.spc("shop", "db", {"ok": "pw", path: "pw"})
    harness.start_provider()
    harness.start_driver()
    target = harness.target("p")
    await _expect_error(
        client.publish(target, volume_context("p", "shop", "db")),
        grpc.StatusCode.INTERNAL,
        "'testprovider'",
        "shop/db",
        *words,
    )
    assert not harness.is_tmpfs(target)
    assert not target.exists()
    assert not (harness.pods / "p" / "volumes" / "kubernetes.io~csi" / "secrets" / "escape").exists()


async def test_symlink_escape_by_a_provider_writing_itself_is_refused(
    harness: Harness, client: CsiClient
) -> None:
    harness.object("pw", "x")
    harness.spc("shop", "db", {"pw": "pw"}, writeSelf="true", symlinks=json.dumps({"evil": "/etc"}))
    harness.start_provider()
    harness.start_driver()
    target = harness.target("p")
    await _expect_error(
        client.publish(target, volume_context("p", "shop", "db")),
        grpc.StatusCode.INTERNAL,
        "'evil'",
        "escapes",
    )
    assert not harness.is_tmpfs(target)


async def test_response_over_the_size_limit_says_how_to_raise_it(harness: Harness, client: CsiClient) -> None:
    harness.object("big", b"x" * 200_000)
    harness.spc("shop", "db", {"big": "big"})
    harness.start_provider()
    harness.start_driver("--max-call-recv-msg-size", "65536")
    target = harness.target("p")
    await _expect_error(
        client.publish(target, volume_context("p", "shop", "db")),
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        "--max-call-recv-msg-size=65536",
    )
    assert not harness.is_tmpfs(target)


async def test_invalid_file_mode_is_refused(harness: Harness, client: CsiClient) -> None:
    harness.object("pw", "x")
    harness.spc("shop", "db", {"pw": "pw"}, mode=str(0o10644))
    harness.start_provider()
    harness.start_driver()
    target = harness.target("p")
    await _expect_error(
        client.publish(target, volume_context("p", "shop", "db")), grpc.StatusCode.INTERNAL, "invalid mode"
    )
    assert not harness.is_tmpfs(target)


async def test_readonly_false_is_invalid_argument(harness: Harness, client: CsiClient) -> None:
    harness.start_driver()
    await _expect_error(
        client.publish(harness.target("p"), volume_context("p", "shop", "db"), readonly=False),
        grpc.StatusCode.INVALID_ARGUMENT,
        "readOnly: true",
    )


async def test_empty_volume_context_is_invalid_argument(harness: Harness, client: CsiClient) -> None:
    harness.start_driver()
    await _expect_error(
        client.publish(harness.target("p"), {}), grpc.StatusCode.INVALID_ARGUMENT, "secretProviderClass"
    )


async def test_failed_remount_keeps_the_old_content(harness: Harness, client: CsiClient) -> None:
    harness.object("pw", "v1")
    harness.spc("shop", "db", {"pw": "pw"})
    harness.start_provider()
    harness.start_driver("--enable-secret-rotation", "--rotation-poll-interval", "200ms")
    target = harness.target("p")
    await client.publish(target, volume_context("p", "shop", "db"))
    harness.spc("shop", "db", {"pw": "pw", "../x": "pw"})
    await asyncio.sleep(0.3)
    await _expect_error(
        client.publish(target, volume_context("p", "shop", "db")), grpc.StatusCode.INTERNAL, "'..'"
    )
    assert harness.is_tmpfs(target)
    assert _files(target) == {"pw": b"v1"}


async def test_republish_rotates_content_rate_limited_by_the_poll_interval(
    harness: Harness, client: CsiClient
) -> None:
    harness.object("pw", "v1")
    harness.spc("shop", "db", {"pw": "pw"})
    harness.start_provider()
    harness.start_driver("--enable-secret-rotation", "--rotation-poll-interval", "2s")
    target = harness.target("p")
    ctx = volume_context("p", "shop", "db")
    await client.publish(target, ctx)
    harness.object("pw", "v2")
    await client.publish(target, ctx)  # within the interval: no provider call
    assert (target / "pw").read_bytes() == b"v1"
    assert len(harness.provider_calls()) == 1
    await asyncio.sleep(2.1)
    await client.publish(target, ctx)
    assert (target / "pw").read_bytes() == b"v2"
    assert len(harness.provider_calls()) == 2


async def test_rotation_poll_shares_one_fetch_per_identity(harness: Harness, client: CsiClient) -> None:
    harness.object("pw", "v1")
    harness.spc("shop", "db", {"pw": "pw"}, echoIdentity="true")
    harness.start_provider()
    harness.start_driver("--enable-secret-rotation", "--rotation-poll-interval", "1500ms")
    pods = [(f"web-{i}", "web") for i in range(10)] + [(f"admin-{i}", "admin") for i in range(3)]
    for pod, sa in pods:
        await client.publish(harness.target(pod), volume_context(pod, "shop", "db", sa=sa))
    before = len(harness.provider_calls())
    harness.object("pw", "v2")
    await wait_until(
        lambda: all((harness.target(p) / "pw").read_bytes() == b"v2" for p, _ in pods), "rotation", limit=10
    )
    await asyncio.sleep(0.3)
    calls = harness.provider_calls()[before:]
    assert len(calls) == 2, calls  # one per (SPC content, identity), not one per pod
    for pod, sa in pods:
        assert (harness.target(pod) / "identity").read_text() == f"namespace=shop serviceAccount={sa}"


async def test_node_publish_secret_ref_is_part_of_the_identity(harness: Harness, client: CsiClient) -> None:
    harness.object("pw", "v1")
    harness.spc("shop", "db", {"pw": "pw"}, echoIdentity="true")
    harness.start_provider()
    harness.start_driver()
    await asyncio.gather(
        client.publish(
            harness.target("a"), volume_context("a", "shop", "db", sa="web"), secrets={"cred": "alice"}
        ),
        client.publish(
            harness.target("b"), volume_context("b", "shop", "db", sa="web"), secrets={"cred": "bob"}
        ),
    )
    assert (harness.target("a") / "identity").read_text().endswith("cred=alice")
    assert (harness.target("b") / "identity").read_text().endswith("cred=bob")


async def test_sigterm_finishes_calls_in_flight_and_restart_keeps_mounts(
    harness: Harness, client: CsiClient
) -> None:
    harness.object("pw", "x")
    harness.spc("shop", "fast", {"pw": "pw"})
    harness.spc("shop", "slow", {"pw": "pw"}, delayMs="1500")
    harness.start_provider()
    harness.start_driver()
    first = harness.target("first")
    await client.publish(first, volume_context("first", "shop", "fast"))
    slow = asyncio.create_task(client.publish(harness.target("slow"), volume_context("slow", "shop", "slow")))
    # SIGTERM once the slow call is inside the provider (it answers after 1.5 s).
    await wait_until(
        lambda: any(c.endswith(" slow") for c in harness.provider_calls()), "slow call in flight"
    )
    harness.procs["driver"].send_signal(signal.SIGTERM)
    await slow  # the call in flight completes
    assert harness.stop("driver") == 0
    assert harness.is_tmpfs(first) and harness.is_tmpfs(harness.target("slow"))
    assert (first / "pw").read_bytes() == b"x"
    harness.start_driver()
    again = CsiClient(harness.socket)
    await again.unpublish(first)
    await again.unpublish(harness.target("slow"))
    await again.close()
    assert not harness.is_tmpfs(first) and not first.exists()


async def test_metrics_count_publishes_and_errors(harness: Harness, client: CsiClient) -> None:
    harness.object("pw", "x")
    harness.spc("shop", "db", {"pw": "pw"})
    harness.start_provider()
    harness.start_driver()
    await client.publish(harness.target("p"), volume_context("p", "shop", "db"))
    with pytest.raises(grpc.aio.AioRpcError):
        await client.publish(harness.target("q"), volume_context("q", "shop", "missing"))
    await client.unpublish(harness.target("p"))
    url = f"http://127.0.0.1:{harness.metrics_port}/metrics"
    text = await asyncio.to_thread(lambda: urllib.request.urlopen(url).read().decode())
    assert 'node_publish_total{os_type="linux",provider="testprovider"} 1.0' in text
    assert 'error_type="SecretProviderClassNotFound"' in text
    assert 'node_unpublish_total{os_type="linux"} 1.0' in text
    assert "process_resident_memory_bytes" in text


async def test_tokens_and_secret_values_never_reach_the_log(harness: Harness, client: CsiClient) -> None:
    harness.object("pw", "hunter2-value")
    harness.spc("shop", "db", {"pw": "pw", "../bad": "pw"})
    harness.start_provider()
    harness.start_driver("-v", "5")
    tokens = json.dumps({"vault": {"token": JWT, "expirationTimestamp": "2030-01-01T00:00:00Z"}})
    ctx = volume_context("p", "shop", "db", **{"csi.storage.k8s.io/serviceAccount.tokens": tokens})
    with pytest.raises(grpc.aio.AioRpcError):
        await client.publish(harness.target("p"), ctx, secrets={"clientSecret": "sup3r-secret"})
    harness.spc("shop", "db", {"pw": "pw"})
    await client.publish(harness.target("p"), ctx, secrets={"clientSecret": "sup3r-secret"})
    log = harness.driver_log.read_text()
    assert "NodePublishVolume done" in log
    for secret in (JWT, "hunter2-value", "sup3r-secret", "c2lnbmF0dXJl"):
        assert secret not in log


async def test_provider_health_check_is_exported_as_a_metric(harness: Harness) -> None:
    harness.start_provider()
    harness.start_driver("--provider-health-check", "--provider-health-check-interval", "300ms")
    url = f"http://127.0.0.1:{harness.metrics_port}/metrics"

    def status() -> str:
        text: str = urllib.request.urlopen(url).read().decode()
        for line in text.splitlines():
            if line.startswith("provider_health_check_status{") and 'provider="testprovider"' in line:
                return line.rsplit(" ", 1)[1]
        return ""

    await wait_until(lambda: status() == "1.0", "healthy provider")
    harness.stop("provider-testprovider", signal.SIGKILL)
    await wait_until(lambda: status() == "0.0", "unhealthy provider")


async def test_rotation_never_writes_into_a_target_unmounted_behind_its_back(
    harness: Harness, client: CsiClient
) -> None:
    harness.object("pw", "v1")
    harness.spc("shop", "db", {"pw": "pw"})
    harness.start_provider()
    harness.start_driver("--enable-secret-rotation", "--rotation-poll-interval", "300ms")
    target = harness.target("p")
    await client.publish(target, volume_context("p", "shop", "db"))
    unmount(str(target))  # as kubelet's cleanup would, while the driver still lists the volume
    harness.object("pw", "v2")
    await wait_until(
        lambda: "dropped from rotation" in harness.driver_log.read_text(), "the volume dropped", limit=10
    )
    await asyncio.sleep(1)  # a few more polls
    assert not harness.is_tmpfs(target)
    assert list(target.iterdir()) == [], "rotation wrote onto the node's disk"
