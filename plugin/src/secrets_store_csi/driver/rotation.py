"""The driver's own rotation loop: every --rotation-poll-interval, refresh every mounted volume.

Volumes with the same share key (SPC content + identity) are refreshed with one provider fetch per poll.
The other rotation path, kubelet's requiresRepublish, goes through NodePublishVolume (see publisher.py).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict

from secrets_store_csi.driver import secretsync
from secrets_store_csi.driver.errors import FAILED_TO_ROTATE, DriverError
from secrets_store_csi.driver.metrics import OS_TYPE
from secrets_store_csi.driver.publisher import Publisher
from secrets_store_csi.driver.spc import SecretProviderClass

log = logging.getLogger("driver.rotation")
CONCURRENCY = 8


async def poll_once(pub: Publisher) -> tuple[int, int]:
    """One rotation pass over every mounted volume. Returns (volumes refreshed, volumes rotated)."""
    started = time.monotonic()
    spc_cache: dict[tuple[str, str], SecretProviderClass] = {}
    groups: defaultdict[str, list[str]] = defaultdict(list)
    for target, state in list(pub.volumes.items()):
        groups[state.key].append(target)
    sem = asyncio.Semaphore(CONCURRENCY)
    refreshed = rotated = 0

    async def one(target: str) -> None:
        nonlocal refreshed, rotated
        state = pub.volumes.get(target)
        if state is None:
            return
        provider = state.spc.provider
        try:
            changed = await pub.rotate(target, spc_cache, started)
        except DriverError as exc:
            pub.metrics.rotation_reconcile_error.labels(provider, exc.error_type, OS_TYPE).inc()
            log.warning(
                "rotation failed", extra={"pod": state.req.pod, "target": target, "error": exc.message}
            )
            if pub.kube is not None:
                await secretsync.post_event(
                    pub.kube,
                    state.req.pod_namespace,
                    state.req.pod_name,
                    pod_uid=state.req.pod_uid,
                    reason="SecretRotationFailed",
                    message=exc.message,
                    node=pub.opts.node_id,
                )
            return
        except Exception as exc:
            pub.metrics.rotation_reconcile_error.labels(provider, FAILED_TO_ROTATE, OS_TYPE).inc()
            log.exception("rotation failed", extra={"target": target, "error": str(exc)})
            return
        refreshed += 1
        rotated += int(changed)
        pub.metrics.rotation_reconcile.labels(provider, str(changed).lower(), OS_TYPE).inc()

    async def group(targets: list[str]) -> None:
        # The first volume of a group fetches; the others reuse that fetch (same key, same poll).
        async with sem:
            await one(targets[0])
            await asyncio.gather(*(one(t) for t in targets[1:]))

    await asyncio.gather(*(group(targets) for targets in groups.values()))
    pub.shared.prune(pub.opts.rotation_poll_interval * 2)
    pub.metrics.rotation_reconcile_duration.labels(OS_TYPE).observe(time.monotonic() - started)
    return refreshed, rotated


async def run(pub: Publisher, stop: asyncio.Event) -> None:
    interval = pub.opts.rotation_poll_interval
    log.info("rotation enabled", extra={"interval_seconds": interval})
    while not stop.is_set():
        try:
            await asyncio.wait_for(stop.wait(), timeout=interval)
            return
        except TimeoutError:
            pass
        try:
            refreshed, rotated = await poll_once(pub)
            log.info("rotation poll done", extra={"refreshed": refreshed, "rotated": rotated})
        except Exception:
            log.exception("rotation poll failed")
