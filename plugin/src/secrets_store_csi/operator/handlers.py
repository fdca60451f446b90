"""The kopf handlers: each one small, each calling the same level-based `reconcile` pass.

- the ClusterCSIDriver named secrets-store.csi.k8s.io created, changed or found at start-up -> a pass;
- a periodic pass (drift of objects nobody watches, foreign drivers appearing);
- an owned DaemonSet changed or deleted, the CSIDriver object changed or deleted -> a pass (drift is
  undone within one pass, and the DaemonSet's rollout shows in status as it happens);
- the ClusterCSIDriver deleted -> the driver removed, then the finalizer released.
Other ClusterCSIDrivers (other drivers' operators own them) match no handler: no finalizer, no status.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, cast

import kopf

from secrets_store_csi.kube.errors import KubeError
from secrets_store_csi.kube.kopflogin import connection_info
from secrets_store_csi.operator.api import DRIVER_NAME, GROUP, OWNER_LABELS, PLURAL, VERSION
from secrets_store_csi.operator.reconcile import Context, EmitFn, reconcile, teardown

log = logging.getLogger(__name__)


def is_ours(name: str | None, **_: Any) -> bool:
    return name == DRIVER_NAME


def emitter(body: Mapping[str, Any]) -> EmitFn:
    """Kubernetes events on the ClusterCSIDriver (kopf posts them in the background)."""

    def emit(event_type: str, reason: str, message: str) -> None:
        kopf.event(kopf.Body(cast(kopf.RawBody, dict(body))), type=event_type, reason=reason, message=message)

    return emit


async def reconcile_now(ctx: Context) -> None:
    """A pass; API errors become kopf's short retries instead of its default minute."""
    try:
        await reconcile(ctx, emitter)
    except KubeError as error:
        raise kopf.TemporaryError(str(error), delay=5) from error


def build_registry(ctx: Context, resync_seconds: float = 60.0) -> kopf.OperatorRegistry:
    registry = kopf.OperatorRegistry()
    waiting = {"passes": 0}

    @kopf.on.login(registry=registry)
    def login(**_: Any) -> kopf.ConnectionInfo:
        return connection_info()

    async def pass_for_current_object() -> None:
        """A pass triggered by something other than the ClusterCSIDriver itself.

        Events arriving while a pass is already waiting for the lock need no pass of their own: the
        waiting one reads the cluster after them.
        """
        if waiting["passes"]:
            return
        waiting["passes"] += 1
        try:
            async with ctx.lock:
                pass
        finally:
            waiting["passes"] -= 1
        try:
            await reconcile(ctx, emitter)
        except KubeError as error:
            log.warning("pass after a driver object changed: %s (the next pass retries)", error)

    @kopf.on.resume(GROUP, VERSION, PLURAL, when=is_ours, registry=registry)
    @kopf.on.create(GROUP, VERSION, PLURAL, when=is_ours, registry=registry)
    @kopf.on.update(GROUP, VERSION, PLURAL, when=is_ours, registry=registry)
    async def clustercsidriver_changed(**_: Any) -> None:
        await reconcile_now(ctx)

    @kopf.timer(GROUP, VERSION, PLURAL, interval=resync_seconds, when=is_ours, registry=registry)
    async def resync(**_: Any) -> None:
        await reconcile_now(ctx)

    @kopf.on.event("apps", "v1", "daemonsets", labels=dict(OWNER_LABELS), registry=registry)
    async def driver_daemonset_event(**_: Any) -> None:
        await pass_for_current_object()

    @kopf.on.event("storage.k8s.io", "v1", "csidrivers", when=is_ours, registry=registry)
    async def csidriver_event(**_: Any) -> None:
        await pass_for_current_object()

    @kopf.on.delete(GROUP, VERSION, PLURAL, when=is_ours, registry=registry)
    async def clustercsidriver_deleted(**_: Any) -> None:
        try:
            remaining = await teardown(ctx)
        except KubeError as error:
            raise kopf.TemporaryError(str(error), delay=5) from error
        if remaining:
            raise kopf.TemporaryError("waiting for " + ", ".join(remaining) + " to go", delay=2)
        log.info("driver removed; releasing the ClusterCSIDriver %s", DRIVER_NAME)

    return registry
