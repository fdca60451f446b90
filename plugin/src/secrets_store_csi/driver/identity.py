"""CSI Identity service: plugin name and version, no plugin capabilities (node-only), Probe."""

from __future__ import annotations

from typing import Any

from secrets_store_csi import __version__
from secrets_store_csi.proto.csi.v1 import csi_pb2, csi_pb2_grpc


class IdentityServicer(csi_pb2_grpc.IdentityServicer):
    def __init__(self, driver_name: str) -> None:
        self._name = driver_name

    async def GetPluginInfo(self, request: Any, context: Any) -> Any:
        return csi_pb2.GetPluginInfoResponse(name=self._name, vendor_version=__version__)

    async def GetPluginCapabilities(self, request: Any, context: Any) -> Any:
        # No CONTROLLER_SERVICE: the driver serves ephemeral inline volumes on the node only.
        return csi_pb2.GetPluginCapabilitiesResponse()

    async def Probe(self, request: Any, context: Any) -> Any:
        return csi_pb2.ProbeResponse(ready={"value": True})
