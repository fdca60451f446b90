"""`secrets-store-csi operator`: run the ClusterCSIDriver operator (kopf), optionally as elected leader."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import socket
import urllib.parse
from collections.abc import AsyncIterator, Sequence
from typing import Any

import kopf
import yaml
from aiohttp import web

from secrets_store_csi.kube.client import KubeClient
from secrets_store_csi.kube.kopflogin import config_from, connection_info
from secrets_store_csi.kube.objects import ObjectClient
from secrets_store_csi.operator.api import ANNOTATION_PREFIX, FIELD_MANAGER, FINALIZER, OPERATOR_NAME
from secrets_store_csi.operator.handlers import build_registry
from secrets_store_csi.operator.leader import LeaderElection
from secrets_store_csi.operator.reconcile import Context
from secrets_store_csi.operator.values import OperatorConfig

log = logging.getLogger("secrets_store_csi.operator")

# spec.operatorLogLevel -> Python logging level for the operator's own logs.
OPERATOR_LOG_LEVELS = {
    "Normal": logging.INFO,
    "Debug": logging.DEBUG,
    "Trace": logging.DEBUG,
    "TraceAll": logging.DEBUG,
}


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="secrets-store-csi operator",
        description="Reconcile the ClusterCSIDriver secrets-store.csi.k8s.io into the driver rendered "
        "from its chart.",
    )
    env = os.environ.get
    parser.add_argument(
        "--namespace",
        default=env("POD_NAMESPACE", "secrets-store-csi-driver"),
        help="namespace the driver's namespaced objects go to (default: $POD_NAMESPACE)",
    )
    parser.add_argument(
        "--chart",
        default=env("DRIVER_CHART", "/charts/secrets-store-csi-driver"),
        help="the driver chart directory (default: the one bundled in the image)",
    )
    parser.add_argument("--helm", default=env("HELM", "helm"), help="the helm binary")
    parser.add_argument(
        "--driver-values",
        metavar="FILE",
        help="YAML values for the driver chart (images, resources...); the spec's settings win",
    )
    parser.add_argument(
        "--rotation-poll-interval",
        default="2m",
        help="rotation interval when the spec says nothing about rotation (default 2m)",
    )
    parser.add_argument(
        "--no-rotation", action="store_true", help="rotation off when the spec says nothing about rotation"
    )
    parser.add_argument(
        "--token-request",
        action="append",
        default=[],
        metavar="AUDIENCE[:SECONDS]",
        help="a tokenRequests entry used when the spec manages none (repeatable)",
    )
    parser.add_argument("--resync", type=float, default=60.0, help="seconds between periodic passes")
    parser.add_argument("--leader-elect", action="store_true", help="act only while holding the Lease")
    parser.add_argument("--lease-name", default=OPERATOR_NAME)
    parser.add_argument("--lease-namespace", default=None, help="default: --namespace")
    parser.add_argument("--identity", default=env("POD_NAME", socket.gethostname()))
    parser.add_argument(
        "--liveness",
        default=None,
        metavar="URL",
        help="serve kopf's liveness probe, e.g. http://0.0.0.0:8080/healthz",
    )
    parser.add_argument(
        "--log-level",
        default="Normal",
        choices=sorted(OPERATOR_LOG_LEVELS),
        help="until spec.operatorLogLevel says otherwise",
    )
    return parser.parse_args(list(argv))


def token_requests(items: Sequence[str]) -> tuple[dict[str, Any], ...]:
    result = []
    for item in items:
        audience, _, seconds = item.partition(":")
        request: dict[str, Any] = {"audience": audience}
        if seconds:
            request["expirationSeconds"] = int(seconds)
        result.append(request)
    return tuple(result)


def operator_config(args: argparse.Namespace) -> OperatorConfig:
    base: dict[str, Any] = {}
    if args.driver_values:
        with open(args.driver_values, encoding="utf-8") as f:
            base = yaml.safe_load(f) or {}
    return OperatorConfig(
        namespace=args.namespace,
        chart=args.chart,
        base_values=base,
        rotation_enabled=not args.no_rotation,
        rotation_poll_interval=args.rotation_poll_interval,
        token_requests=token_requests(args.token_request),
    )


def set_log_level(level: str) -> None:
    logging.getLogger().setLevel(OPERATOR_LOG_LEVELS.get(level, logging.INFO))


def kopf_settings() -> kopf.OperatorSettings:
    settings = kopf.OperatorSettings()
    settings.persistence.finalizer = FINALIZER
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=ANNOTATION_PREFIX)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(prefix=ANNOTATION_PREFIX)
    # Events on the ClusterCSIDriver are the condition transitions; kopf's per-handler notes stay in the log.
    settings.posting.level = logging.WARNING
    settings.watching.server_timeout = 300
    return settings


@contextlib.asynccontextmanager
async def candidate_health(url: str | None) -> AsyncIterator[None]:
    """While waiting for the Lease, answer the liveness probe (kopf serves it once this replica leads)."""
    if not url:
        yield
        return
    where = urllib.parse.urlsplit(url)
    app = web.Application()

    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"candidate": True})

    app.router.add_get(where.path or "/", healthz)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, where.hostname, where.port or 80).start()
    try:
        yield
    finally:
        await runner.cleanup()


async def run(args: argparse.Namespace) -> int:
    client = ObjectClient(KubeClient(config_from(connection_info()), timeout=30.0), FIELD_MANAGER)
    ctx = Context(
        client=client, config=operator_config(args), helm=args.helm, set_operator_log_level=set_log_level
    )
    election = None
    if args.leader_elect:
        election = LeaderElection(
            client, args.lease_namespace or args.namespace, args.lease_name, args.identity
        )
        async with candidate_health(args.liveness):
            await election.acquire()
    operator = asyncio.create_task(
        kopf.operator(
            registry=build_registry(ctx, args.resync),
            settings=kopf_settings(),
            standalone=True,
            clusterwide=True,
            liveness_endpoint=args.liveness,
        )
    )
    code = 0
    try:
        if election is None:
            await operator
        else:
            holding = asyncio.create_task(election.hold())
            done, _ = await asyncio.wait({operator, holding}, return_when=asyncio.FIRST_COMPLETED)
            if holding in done:
                log.error("leadership lost: stopping so that the new leader acts alone")
                code = 1
            for task in (operator, holding):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            if code == 0:
                await election.release()
    finally:
        await client.close()
    return code


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    set_log_level(args.log_level)
    return asyncio.run(run(args))
