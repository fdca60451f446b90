"""gRPC wiring: Identity and Node services on the unix socket named by --endpoint."""

from __future__ import annotations

import contextlib
import os

import grpc

from secrets_store_csi.driver.controller import ControllerServicer
from secrets_store_csi.driver.identity import IdentityServicer
from secrets_store_csi.driver.node import NodeServicer
from secrets_store_csi.proto.csi.v1 import csi_pb2_grpc


async def start(socket_path: str, identity: IdentityServicer, node: NodeServicer) -> grpc.aio.Server:
    os.makedirs(os.path.dirname(socket_path) or ".", exist_ok=True)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(socket_path)  # a stale socket from a previous run
    server = grpc.aio.server(options=[("grpc.so_reuseport", 0)])
    csi_pb2_grpc.add_IdentityServicer_to_server(identity, server)  # type: ignore[no-untyped-call]
    csi_pb2_grpc.add_NodeServicer_to_server(node, server)  # type: ignore[no-untyped-call]
    csi_pb2_grpc.add_ControllerServicer_to_server(  # type: ignore[no-untyped-call]
        ControllerServicer(), server
    )
    server.add_insecure_port(f"unix:{socket_path}")
    await server.start()
    os.chmod(socket_path, 0o660)
    return server
