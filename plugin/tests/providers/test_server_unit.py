"""The gRPC server: error mapping, and a last check of every path a provider returns."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest

from secrets_store_csi.proto.v1alpha1 import provider_pb2, provider_pb2_grpc
from secrets_store_csi.providers.errors import ErrorCode, ProviderError
from secrets_store_csi.providers.mountspec import MountedFile, MountResult, MountSpec
from secrets_store_csi.providers.server import ProviderServicer


class Scripted:
    name = "scripted"

    def __init__(self) -> None:
        self.outcome: MountResult | Exception = MountResult()
        self.seen: list[MountSpec] = []

    async def mount(self, spec: MountSpec) -> MountResult:
        self.seen.append(spec)
        if isinstance(self.outcome, Exception):
            raise self.outcome
        return self.outcome

    async def close(self) -> None:
        return None


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[tuple[Scripted, provider_pb2_grpc.CSIDriverProviderStub]]:
    provider = Scripted()
    server = grpc.aio.server()
    provider_pb2_grpc.add_CSIDriverProviderServicer_to_server(ProviderServicer(provider), server)
    sock = tmp_path / "p.sock"
    server.add_insecure_port(f"unix://{sock}")
    await server.start()
    channel = grpc.aio.insecure_channel(f"unix://{sock}")
    yield provider, provider_pb2_grpc.CSIDriverProviderStub(channel)
    await channel.close()
    await server.stop(None)


def request(**kw: str) -> provider_pb2.MountRequest:
    attrs = {
        "csi.storage.k8s.io/pod.name": "p",
        "csi.storage.k8s.io/pod.namespace": "ns",
        "csi.storage.k8s.io/serviceAccount.tokens": json.dumps({"vault": {"token": "tok"}}),
    }
    return provider_pb2.MountRequest(
        attributes=json.dumps(attrs),
        secrets="{}",
        target_path="/t",
        permission="420",
        current_object_version=[provider_pb2.ObjectVersion(id="a", version="1")],
    )


async def test_mount_request_reaches_the_provider_parsed(served: tuple[Scripted, object]) -> None:
    provider, stub = served
    provider.outcome = MountResult([MountedFile("a", 0o600, b"x")], [("a", "2")])
    resp = await stub.Mount(request())  # type: ignore[attr-defined]
    assert [(f.path, f.mode, f.contents) for f in resp.files] == [("a", 0o600, b"x")]
    spec = provider.seen[0]
    assert spec.pod.namespace == "ns" and spec.token_for("vault") == "tok"
    assert spec.current_versions == {"a": "1"} and spec.default_mode == 0o644


async def test_provider_error_becomes_status_and_error_code(served: tuple[Scripted, object]) -> None:
    provider, stub = served
    provider.outcome = ProviderError(ErrorCode.ACCESS_DENIED, "denied", "db-password")
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.Mount(request())  # type: ignore[attr-defined]
    assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "db-password" in (info.value.details() or "")
    assert dict(info.value.trailing_metadata() or ())["error-code"] == "AccessDenied"


async def test_unexpected_exception_text_is_not_sent(served: tuple[Scripted, object]) -> None:
    provider, stub = served
    provider.outcome = RuntimeError("value=hunter2")
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.Mount(request())  # type: ignore[attr-defined]
    assert info.value.code() == grpc.StatusCode.INTERNAL
    assert "hunter2" not in (info.value.details() or "")


@pytest.mark.parametrize("path", ["../x", "/etc/shadow"])
async def test_escaping_paths_from_a_provider_are_refused(served: tuple[Scripted, object], path: str) -> None:
    provider, stub = served
    result = MountResult()
    result.files.append(MountedFile(path, 0o644, b"x"))  # bypasses MountResult.add's check on purpose
    provider.outcome = result
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.Mount(request())  # type: ignore[attr-defined]
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_duplicate_paths_from_a_provider_are_refused(served: tuple[Scripted, object]) -> None:
    provider, stub = served
    provider.outcome = MountResult([MountedFile("a", 0o644, b"1"), MountedFile("a", 0o644, b"2")])
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.Mount(request())  # type: ignore[attr-defined]
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_throttling_is_unavailable_not_resource_exhausted(served: tuple[Scripted, object]) -> None:
    # drivers (upstream and ours) read RESOURCE_EXHAUSTED as "answer larger than the receive limit"
    provider, stub = served
    provider.outcome = ProviderError(ErrorCode.THROTTLED, "429 after retries", "obj")
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.Mount(request())  # type: ignore[attr-defined]
    assert info.value.code() == grpc.StatusCode.UNAVAILABLE
    assert dict(info.value.trailing_metadata() or ())["error-code"] == "Throttled"


def test_null_secrets_from_the_upstream_driver_mean_none() -> None:
    # sigs.k8s.io/secrets-store-csi-driver sends "null" when the volume has no nodePublishSecretRef
    from secrets_store_csi.providers.mountspec import parse_mount_request

    spec = parse_mount_request('{"a": "b"}', "null", "/t", "420", [])
    assert spec.secrets == {}
