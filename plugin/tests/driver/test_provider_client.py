"""Error mapping of the provider client, against a small in-process provider (a unit-test fixture)."""

import asyncio
import os
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest

from secrets_store_csi.driver import provider_client
from secrets_store_csi.driver.errors import DriverError
from secrets_store_csi.driver.provider_client import ProviderClients, validate_provider_name
from secrets_store_csi.proto.v1alpha1 import provider_pb2, provider_pb2_grpc


class Scripted(provider_pb2_grpc.CSIDriverProviderServicer):
    def __init__(self) -> None:
        self.version = "v1alpha1"
        self.failures: list[grpc.StatusCode] = []
        self.response = provider_pb2.MountResponse()
        self.mount_calls = 0
        self.last: Any = None
        self.delay = 0.0

    async def Version(self, request: Any, context: Any) -> Any:
        return provider_pb2.VersionResponse(version=self.version, runtime_name="scripted")

    async def Mount(self, request: Any, context: Any) -> Any:
        self.mount_calls += 1
        self.last = request
        await asyncio.sleep(self.delay)
        if self.failures:
            await context.abort(self.failures.pop(0), "scripted failure")
        return self.response


@pytest.fixture
async def provider(tmp_path: os.PathLike[str]) -> AsyncIterator[tuple[Scripted, str]]:
    servicer = Scripted()
    server = grpc.aio.server()
    provider_pb2_grpc.add_CSIDriverProviderServicer_to_server(servicer, server)
    server.add_insecure_port(f"unix:{tmp_path}/scripted.sock")
    await server.start()
    yield servicer, str(tmp_path)
    await server.stop(0)


def _mount(clients: ProviderClients, name: str = "scripted") -> Any:
    return clients.mount(
        name,
        attributes="{}",
        secrets="{}",
        target_path="/t",
        permission="420",
        current={"a": "1"},
        what="pod ns/p, SecretProviderClass ns/spc",
    )


@pytest.fixture(autouse=True)
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(provider_client, "RETRY_FIRST_DELAY", 0.01)


async def test_mount_returns_files_and_versions_and_sends_current_versions(
    provider: tuple[Scripted, str],
) -> None:
    servicer, d = provider
    servicer.response = provider_pb2.MountResponse(
        object_version=[provider_pb2.ObjectVersion(id="a", version="2")],
        files=[provider_pb2.File(path="a", mode=0o600, contents=b"x")],
    )
    clients = ProviderClients([d], 1 << 20, 5)
    result = await _mount(clients)
    assert result.object_versions == {"a": "2"}
    assert result.files == [("a", 0o600, b"x")]
    assert [(v.id, v.version) for v in servicer.last.current_object_version] == [("a", "1")]
    await clients.close()


async def test_unavailable_is_retried_then_succeeds(provider: tuple[Scripted, str]) -> None:
    servicer, d = provider
    servicer.failures = [grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.UNAVAILABLE]
    clients = ProviderClients([d], 1 << 20, 5)
    await _mount(clients)
    assert servicer.mount_calls == 3
    await clients.close()


async def test_unavailable_three_times_is_unavailable_naming_the_provider(
    provider: tuple[Scripted, str],
) -> None:
    servicer, d = provider
    servicer.failures = [grpc.StatusCode.UNAVAILABLE] * 5
    clients = ProviderClients([d], 1 << 20, 5)
    with pytest.raises(DriverError) as err:
        await _mount(clients)
    assert err.value.code == grpc.StatusCode.UNAVAILABLE
    assert "'scripted'" in err.value.message and "3 attempts" in err.value.message
    assert servicer.mount_calls == 3
    await clients.close()


async def test_other_provider_codes_pass_through_with_context(provider: tuple[Scripted, str]) -> None:
    servicer, d = provider
    servicer.failures = [grpc.StatusCode.PERMISSION_DENIED]
    clients = ProviderClients([d], 1 << 20, 5)
    with pytest.raises(DriverError) as err:
        await _mount(clients)
    assert err.value.code == grpc.StatusCode.PERMISSION_DENIED
    assert "pod ns/p" in err.value.message
    assert servicer.mount_calls == 1
    await clients.close()


async def test_response_over_the_limit_says_how_to_raise_it(provider: tuple[Scripted, str]) -> None:
    servicer, d = provider
    servicer.response = provider_pb2.MountResponse(
        files=[provider_pb2.File(path="big", contents=b"x" * 4096)]
    )
    clients = ProviderClients([d], 1024, 5)
    with pytest.raises(DriverError) as err:
        await _mount(clients)
    assert err.value.code == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "--max-call-recv-msg-size=1024" in err.value.message
    await clients.close()


async def test_error_code_in_the_response_is_internal(provider: tuple[Scripted, str]) -> None:
    servicer, d = provider
    servicer.response = provider_pb2.MountResponse(error=provider_pb2.Error(code="AccessDenied"))
    clients = ProviderClients([d], 1 << 20, 5)
    with pytest.raises(DriverError) as err:
        await _mount(clients)
    assert err.value.code == grpc.StatusCode.INTERNAL
    assert "AccessDenied" in err.value.message
    await clients.close()


async def test_incompatible_version_is_refused_before_mount(provider: tuple[Scripted, str]) -> None:
    servicer, d = provider
    servicer.version = "v2"
    clients = ProviderClients([d], 1 << 20, 5)
    with pytest.raises(DriverError) as err:
        await _mount(clients)
    assert err.value.code == grpc.StatusCode.FAILED_PRECONDITION
    assert servicer.mount_calls == 0
    await clients.close()


async def test_slow_provider_hits_the_deadline(provider: tuple[Scripted, str]) -> None:
    servicer, d = provider
    servicer.delay = 2.0
    clients = ProviderClients([d], 1 << 20, 0.3)
    with pytest.raises(DriverError) as err:
        await _mount(clients)
    assert err.value.code == grpc.StatusCode.DEADLINE_EXCEEDED
    assert "--provider-timeout=0.3s" in err.value.message
    await clients.close()


async def test_missing_provider_lists_every_searched_socket(tmp_path: os.PathLike[str]) -> None:
    clients = ProviderClients([f"{tmp_path}/a", f"{tmp_path}/b"], 1 << 20, 5)
    with pytest.raises(DriverError) as err:
        await _mount(clients, "vault")
    assert err.value.code == grpc.StatusCode.UNAVAILABLE
    assert f"{tmp_path}/a/vault.sock" in err.value.message and f"{tmp_path}/b/vault.sock" in err.value.message


async def test_additional_dirs_are_searched_after_the_first(
    provider: tuple[Scripted, str], tmp_path: os.PathLike[str]
) -> None:
    _, d = provider
    clients = ProviderClients([f"{tmp_path}/empty", d], 1 << 20, 5)
    assert clients.find_socket("scripted") == f"{d}/scripted.sock"


@pytest.mark.parametrize("name", ["../x", "a/b", "", "a b", "x" * 64])
def test_invalid_provider_names_are_refused(name: str) -> None:
    with pytest.raises(DriverError) as err:
        validate_provider_name(name)
    assert err.value.code == grpc.StatusCode.INVALID_ARGUMENT
