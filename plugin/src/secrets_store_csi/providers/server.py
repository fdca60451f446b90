"""gRPC wiring of the provider API (`v1alpha1.CSIDriverProvider`) on a unix socket.

Every Mount is parsed, handed to the backend, and answered with files and object versions. A failure
becomes a gRPC status (code from the error, details naming the object and the cause) with the error code
also in the `error-code` trailing metadata. Secret values never reach a log line.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import stat
import time

import grpc

from secrets_store_csi import __version__
from secrets_store_csi.proto.v1alpha1 import provider_pb2, provider_pb2_grpc
from secrets_store_csi.providers import metrics
from secrets_store_csi.providers.errors import ErrorCode, ProviderError
from secrets_store_csi.providers.mountspec import MountResult, Provider, check_unique, parse_mount_request
from secrets_store_csi.providers.paths import check_relative_path

log = logging.getLogger(__name__)

MAX_MESSAGE = 4 * 1024 * 1024  # the upstream driver's default receive limit


class ProviderServicer(provider_pb2_grpc.CSIDriverProviderServicer):
    def __init__(self, provider: Provider) -> None:
        self.provider = provider

    async def Version(
        self, request: provider_pb2.VersionRequest, context: grpc.aio.ServicerContext
    ) -> provider_pb2.VersionResponse:
        return provider_pb2.VersionResponse(
            version="v1alpha1",
            runtime_name=f"secrets-store-csi-provider-{self.provider.name}",
            runtime_version=__version__,
        )

    async def Mount(
        self, request: provider_pb2.MountRequest, context: grpc.aio.ServicerContext
    ) -> provider_pb2.MountResponse:
        started = time.monotonic()
        pod = "?"
        try:
            spec = parse_mount_request(
                request.attributes,
                request.secrets,
                request.target_path,
                request.permission,
                [(v.id, v.version) for v in request.current_object_version],
            )
            pod = str(spec.pod)
            result = await self.provider.mount(spec)
            response = to_response(result)
        except ProviderError as err:
            metrics.MOUNTS.labels(self.provider.name, err.code.value).inc()
            log.warning("mount failed pod=%s target=%s: %s", pod, request.target_path, err)
            await context.abort(
                err.grpc_status, str(err), trailing_metadata=(("error-code", err.code.value),)
            )
            raise  # abort raises; this line is for the type checker
        except Exception as exc:
            metrics.MOUNTS.labels(self.provider.name, ErrorCode.INTERNAL.value).inc()
            # The exception text of a library can quote a request; log the type only at warning level.
            log.warning(
                "mount failed pod=%s target=%s: internal error %s",
                pod,
                request.target_path,
                type(exc).__name__,
            )
            log.debug("internal error detail", exc_info=True)
            await context.abort(
                grpc.StatusCode.INTERNAL,
                f"{ErrorCode.INTERNAL.value}: {type(exc).__name__}",
                trailing_metadata=(("error-code", ErrorCode.INTERNAL.value),),
            )
            raise
        metrics.MOUNTS.labels(self.provider.name, "").inc()
        metrics.MOUNT_SECONDS.labels(self.provider.name).observe(time.monotonic() - started)
        log.info(
            "mounted pod=%s target=%s files=%d in %.3fs",
            pod,
            request.target_path,
            len(response.files),
            time.monotonic() - started,
        )
        return response


def to_response(result: MountResult) -> provider_pb2.MountResponse:
    """Final check of every returned path (defence in depth), then the protobuf message."""
    check_unique([f.path for f in result.files], "file path")
    for f in result.files:
        check_relative_path(f.path)
    return provider_pb2.MountResponse(
        object_version=[provider_pb2.ObjectVersion(id=i, version=v) for i, v in result.versions],
        files=[provider_pb2.File(path=f.path, mode=f.mode, contents=f.contents) for f in result.files],
    )


def prepare_socket(path: str) -> None:
    """Create the socket's directory and remove a stale socket left by a previous run."""
    directory = os.path.dirname(path) or "."
    try:
        os.makedirs(directory, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            st = os.lstat(path)
            if not stat.S_ISSOCK(st.st_mode):
                raise SystemExit(f"{path} exists and is not a socket: refusing to replace it")
            os.unlink(path)
        if not os.access(directory, os.W_OK | os.X_OK):
            raise PermissionError(f"{directory} is not writable")
    except PermissionError as exc:
        raise SystemExit(
            f"cannot create the provider socket {path} as uid {os.getuid()}: {exc.strerror or exc}; "
            f"make {directory} writable for this user (e.g. group-owned by the provider's fsGroup)"
        ) from exc


async def serve(provider: Provider, socket_path: str) -> None:
    prepare_socket(socket_path)
    server = grpc.aio.server(
        options=[
            ("grpc.max_receive_message_length", MAX_MESSAGE),
            ("grpc.max_send_message_length", 64 * 1024 * 1024),
        ]
    )
    provider_pb2_grpc.add_CSIDriverProviderServicer_to_server(ProviderServicer(provider), server)  # type: ignore[no-untyped-call]
    old_umask = os.umask(0o117)  # socket 0660: the driver (root or the same group) may connect
    try:
        server.add_insecure_port(f"unix://{socket_path}")
        await server.start()
    finally:
        os.umask(old_umask)
    log.info("provider %s %s listening on %s (uid %d)", provider.name, __version__, socket_path, os.getuid())
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("provider %s stopping", provider.name)
    await server.stop(grace=5)
    await provider.close()
    with contextlib.suppress(FileNotFoundError):
        os.unlink(socket_path)
