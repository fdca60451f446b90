"""Client of the provider API (v1alpha1.CSIDriverProvider) over a unix socket.

Discovery: `<dir>/<provider>.sock` in --provider-volume, then in each --additional-provider-volume-paths.
Calls: Version (once per connection, to refuse an incompatible provider), then Mount; UNAVAILABLE is
retried with a backoff (1s doubling to 10s) inside one overall deadline shorter than kubelet's.
"""

from __future__ import annotations

import asyncio
import os
import re
import time
from dataclasses import dataclass

import grpc

from secrets_store_csi.driver import errors
from secrets_store_csi.driver.errors import DriverError
from secrets_store_csi.proto.v1alpha1 import provider_pb2, provider_pb2_grpc

API_VERSION = "v1alpha1"
_PROVIDER_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,63}$")
RETRY_ATTEMPTS = 3
RETRY_FIRST_DELAY = 1.0
RETRY_MAX_DELAY = 10.0


def validate_provider_name(name: str) -> str:
    if not _PROVIDER_NAME.match(name):
        raise DriverError(
            grpc.StatusCode.INVALID_ARGUMENT,
            errors.FAILED_TO_LOOKUP_PROVIDER,
            f"provider name {name!r} is invalid: use 1 to 63 letters, digits, '-' or '_'",
        )
    return name


@dataclass
class MountResult:
    object_versions: dict[str, str]
    files: list[tuple[str, int, bytes]]


class _Conn:
    def __init__(self, socket: str, max_recv: int) -> None:
        self.socket = socket
        self.channel = grpc.aio.insecure_channel(
            f"unix:{socket}",
            options=[
                ("grpc.max_receive_message_length", max_recv),
                ("grpc.default_authority", "localhost"),
                ("grpc.enable_retries", 0),
            ],
        )
        self.stub = provider_pb2_grpc.CSIDriverProviderStub(self.channel)  # type: ignore[no-untyped-call]
        self.version_checked = False
        self.runtime = ""


class ProviderClients:
    def __init__(self, dirs: list[str], max_recv: int, timeout: float) -> None:
        self._dirs = dirs
        self._max_recv = max_recv
        self._timeout = timeout
        self._conns: dict[str, _Conn] = {}
        self._closing: set[asyncio.Future[None]] = set()

    def find_socket(self, provider: str) -> str:
        validate_provider_name(provider)
        for d in self._dirs:
            path = os.path.join(d, f"{provider}.sock")
            if os.path.exists(path):
                return path
        searched = ", ".join(os.path.join(d, f"{provider}.sock") for d in self._dirs)
        raise DriverError(
            grpc.StatusCode.UNAVAILABLE,
            errors.FAILED_TO_LOOKUP_PROVIDER,
            f"provider {provider!r} not found: no socket at {searched}; is the {provider} provider "
            "running on this node?",
        )

    def _conn(self, provider: str) -> _Conn:
        socket = self.find_socket(provider)
        conn = self._conns.get(provider)
        if conn is None or conn.socket != socket:
            if conn is not None:
                self._closing.add(asyncio.ensure_future(conn.channel.close()))
            conn = _Conn(socket, self._max_recv)
            self._conns[provider] = conn
        return conn

    async def close(self) -> None:
        for conn in self._conns.values():
            await conn.channel.close()
        self._conns.clear()

    async def version(self, provider: str, deadline_seconds: float) -> provider_pb2.VersionResponse:
        conn = self._conn(provider)
        resp: provider_pb2.VersionResponse = await conn.stub.Version(
            provider_pb2.VersionRequest(version=API_VERSION), timeout=deadline_seconds
        )
        return resp

    async def _check_version(self, provider: str, conn: _Conn, deadline: float, what: str) -> None:
        if conn.version_checked:
            return
        resp = await conn.stub.Version(
            provider_pb2.VersionRequest(version=API_VERSION), timeout=max(0.1, deadline - time.monotonic())
        )
        if resp.version and resp.version != API_VERSION:
            raise DriverError(
                grpc.StatusCode.FAILED_PRECONDITION,
                errors.INCOMPATIBLE_PROVIDER_VERSION,
                f"provider {provider!r} speaks API {resp.version!r}, this driver speaks "
                f"{API_VERSION!r} ({what})",
            )
        conn.version_checked = True
        conn.runtime = f"{resp.runtime_name} {resp.runtime_version}".strip()

    async def mount(
        self,
        provider: str,
        *,
        attributes: str,
        secrets: str,
        target_path: str,
        permission: str,
        current: dict[str, str],
        what: str,
    ) -> MountResult:
        """Fetch the objects. `what` names the pod and SecretProviderClass for error messages."""
        deadline = time.monotonic() + self._timeout
        request = provider_pb2.MountRequest(
            attributes=attributes,
            secrets=secrets,
            target_path=target_path,
            permission=permission,
            current_object_version=[
                provider_pb2.ObjectVersion(id=k, version=v) for k, v in sorted(current.items())
            ],
        )
        delay = RETRY_FIRST_DELAY
        attempt = 0
        while True:
            attempt += 1
            conn = self._conn(provider)
            try:
                await self._check_version(provider, conn, deadline, what)
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise _deadline(provider, what, self._timeout)
                resp: provider_pb2.MountResponse = await conn.stub.Mount(request, timeout=remaining)
                break
            except grpc.aio.AioRpcError as exc:
                code = exc.code()
                if code == grpc.StatusCode.UNAVAILABLE:
                    conn.version_checked = False
                    if attempt < RETRY_ATTEMPTS and time.monotonic() + delay < deadline:
                        await asyncio.sleep(delay)
                        delay = min(delay * 2, RETRY_MAX_DELAY)
                        continue
                    raise DriverError(
                        grpc.StatusCode.UNAVAILABLE,
                        errors.GRPC_PROVIDER_ERROR,
                        f"provider {provider!r} at {conn.socket} is unavailable after {attempt} attempts "
                        f"({what}): {exc.details()}",
                    ) from exc
                if code == grpc.StatusCode.RESOURCE_EXHAUSTED:
                    raise DriverError(
                        grpc.StatusCode.RESOURCE_EXHAUSTED,
                        errors.GRPC_PROVIDER_ERROR,
                        f"provider {provider!r} answered more than --max-call-recv-msg-size={self._max_recv} "
                        f"bytes ({what}); raise --max-call-recv-msg-size on the driver (Helm value "
                        f"maxCallRecvMsgSize) or mount fewer objects per volume",
                    ) from exc
                if code == grpc.StatusCode.DEADLINE_EXCEEDED:
                    raise _deadline(provider, what, self._timeout) from exc
                raise DriverError(
                    code,
                    errors.GRPC_PROVIDER_ERROR,
                    f"provider {provider!r} failed to mount ({what}): {exc.details()}",
                ) from exc
        if resp.HasField("error") and resp.error.code:
            raise DriverError(
                grpc.StatusCode.INTERNAL,
                errors.PROVIDER_ERROR,
                f"provider {provider!r} reported error {resp.error.code!r} ({what})",
            )
        return MountResult(
            object_versions={ov.id: ov.version for ov in resp.object_version},
            files=[(f.path, f.mode, f.contents) for f in resp.files],
        )


def _deadline(provider: str, what: str, timeout: float) -> DriverError:
    return DriverError(
        grpc.StatusCode.DEADLINE_EXCEEDED,
        errors.GRPC_PROVIDER_ERROR,
        f"provider {provider!r} did not answer within --provider-timeout={timeout:g}s ({what})",
    )
