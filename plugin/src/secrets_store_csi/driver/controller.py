"""CSI Controller service, reduced to ControllerGetCapabilities: the driver is node-only (ephemeral
inline volumes), but COs and csi-sanity ask for the controller's capabilities of every plugin."""

from __future__ import annotations

from typing import Any

from secrets_store_csi.proto.csi.v1 import csi_pb2, csi_pb2_grpc


class ControllerServicer(csi_pb2_grpc.ControllerServicer):
    async def ControllerGetCapabilities(self, request: Any, context: Any) -> Any:
        # One UNKNOWN entry: "no controller RPCs". csi-sanity rejects an empty (nil) list.
        unknown = csi_pb2.ControllerServiceCapability(
            rpc=csi_pb2.ControllerServiceCapability.RPC(type=csi_pb2.ControllerServiceCapability.RPC.UNKNOWN)
        )
        return csi_pb2.ControllerGetCapabilitiesResponse(capabilities=[unknown])
