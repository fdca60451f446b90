"""CSI Node service: NodePublishVolume / NodeUnpublishVolume of ephemeral inline volumes.

Every RPC validates its arguments first and answers with the gRPC code the CSI spec names, in a message
that names the pod, the SecretProviderClass or the path involved. RPCs not defined here answer
UNIMPLEMENTED.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any

import grpc

from secrets_store_csi.driver import errors
from secrets_store_csi.driver.attributes import parse_volume_request
from secrets_store_csi.driver.errors import DriverError, invalid
from secrets_store_csi.driver.metrics import OS_TYPE
from secrets_store_csi.driver.publisher import Publisher
from secrets_store_csi.proto.csi.v1 import csi_pb2, csi_pb2_grpc

log = logging.getLogger("driver.node")


def _check_target(target: str) -> str:
    if not target:
        raise invalid("target path missing in request")
    if not os.path.isabs(target):
        raise invalid(f"target path {target!r} must be absolute")
    if "\x00" in target or any(p == ".." for p in target.split("/")):
        raise invalid(f"target path {target!r} must not contain '..'")
    return os.path.normpath(target)


def validate_publish(request: Any) -> tuple[str, str]:
    """Check the request fields CSI defines; returns (volume_id, target_path)."""
    if not request.volume_id:
        raise invalid("volume ID missing in request")
    target = _check_target(request.target_path)
    if not request.HasField("volume_capability"):
        raise invalid(f"volume capability missing in request for volume {request.volume_id}")
    if request.volume_capability.HasField("block"):
        raise invalid(
            f"volume {request.volume_id}: block access is not supported; use a filesystem (mount) volume"
        )
    if not request.readonly:
        raise invalid(
            f"volume {request.volume_id}: readonly must be true; set readOnly: true on the csi volume "
            "of the pod"
        )
    return request.volume_id, target


class NodeServicer(csi_pb2_grpc.NodeServicer):
    def __init__(self, publisher: Publisher, node_id: str) -> None:
        self._pub = publisher
        self._node_id = node_id

    async def NodePublishVolume(self, request: Any, context: Any) -> Any:
        start = time.monotonic()
        metrics = self._pub.metrics
        provider = ""
        try:
            volume_id, target = validate_publish(request)
            req = parse_volume_request(dict(request.volume_context), dict(request.secrets))
            provider = await self._pub.publish(target, req)
        except DriverError as exc:
            metrics.node_publish_error.labels(provider, exc.error_type, OS_TYPE).inc()
            log.warning(
                "NodePublishVolume failed",
                extra={
                    "volume_id": request.volume_id,
                    "target": request.target_path,
                    "code": exc.code.name,
                    "error": exc.message,
                },
            )
            await context.abort(exc.code, exc.message)
        except Exception as exc:
            metrics.node_publish_error.labels(provider, errors.FAILED_TO_MOUNT, OS_TYPE).inc()
            log.exception("NodePublishVolume failed unexpectedly", extra={"volume_id": request.volume_id})
            await context.abort(
                grpc.StatusCode.INTERNAL,
                f"volume {request.volume_id}: unexpected error ({type(exc).__name__}); see the driver log",
            )
        metrics.node_publish.labels(provider, OS_TYPE).inc()
        log.info(
            "NodePublishVolume done",
            extra={
                "volume_id": volume_id,
                "pod": req.pod,
                "spc": req.spc_name,
                "target": target,
                "seconds": round(time.monotonic() - start, 4),
            },
        )
        return csi_pb2.NodePublishVolumeResponse()

    async def NodeUnpublishVolume(self, request: Any, context: Any) -> Any:
        try:
            if not request.volume_id:
                raise invalid("volume ID missing in request")
            target = _check_target(request.target_path)
            try:
                await self._pub.unpublish(target)
            except OSError as exc:
                raise DriverError(
                    grpc.StatusCode.INTERNAL,
                    errors.FAILED_TO_UNMOUNT,
                    f"volume {request.volume_id}: cleaning {target} failed: {exc.strerror or exc}",
                ) from exc
        except DriverError as exc:
            self._pub.metrics.node_unpublish_error.labels(exc.error_type, OS_TYPE).inc()
            log.warning(
                "NodeUnpublishVolume failed", extra={"volume_id": request.volume_id, "error": exc.message}
            )
            await context.abort(exc.code, exc.message)
        self._pub.metrics.node_unpublish.labels(OS_TYPE).inc()
        log.info("NodeUnpublishVolume done", extra={"volume_id": request.volume_id, "target": target})
        return csi_pb2.NodeUnpublishVolumeResponse()

    async def NodeGetCapabilities(self, request: Any, context: Any) -> Any:
        return csi_pb2.NodeGetCapabilitiesResponse()

    async def NodeGetInfo(self, request: Any, context: Any) -> Any:
        return csi_pb2.NodeGetInfoResponse(node_id=self._node_id)
