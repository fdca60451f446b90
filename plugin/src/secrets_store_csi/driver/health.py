"""Provider health check: Version with a timeout, periodically, exported as provider_health_check_status."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os

import grpc

from secrets_store_csi.driver.errors import DriverError
from secrets_store_csi.driver.metrics import OS_TYPE, Metrics
from secrets_store_csi.driver.provider_client import ProviderClients

log = logging.getLogger("driver.health")
TIMEOUT = 5.0


def discovered_providers(dirs: list[str]) -> list[str]:
    names: set[str] = set()
    for d in dirs:
        with contextlib.suppress(OSError):
            names.update(e[: -len(".sock")] for e in os.listdir(d) if e.endswith(".sock"))
    return sorted(names)


async def check_once(providers: ProviderClients, dirs: list[str], metrics: Metrics) -> dict[str, bool]:
    result: dict[str, bool] = {}
    for name in discovered_providers(dirs):
        try:
            await providers.version(name, TIMEOUT)
            ok = True
        except (grpc.aio.AioRpcError, DriverError) as exc:
            ok = False
            log.warning("provider health check failed", extra={"provider": name, "error": str(exc)})
        metrics.provider_health.labels(name, OS_TYPE).set(1 if ok else 0)
        result[name] = ok
    return result


async def run(
    providers: ProviderClients, dirs: list[str], metrics: Metrics, interval: float, stop: asyncio.Event
) -> None:
    while not stop.is_set():
        await check_once(providers, dirs, metrics)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval)
