"""What the driver knows about the volumes it mounted, and the fetch shared between them.

Pods that mount the same SecretProviderClass content with the same identity (namespace, service
account, nodePublishSecretRef data) share one provider fetch: concurrently, and for rotation within one
poll interval. The identity is part of the key, so content fetched with one identity's credentials never
reaches a pod of another identity.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from secrets_store_csi.driver.attributes import EPHEMERAL, POD_NAME, POD_UID, VolumeRequest
from secrets_store_csi.driver.provider_client import MountResult
from secrets_store_csi.driver.spc import SecretProviderClass

# Volume context keys that differ per pod but say nothing about what is fetched or with which identity.
_PER_POD_KEYS = frozenset({POD_NAME, POD_UID, EPHEMERAL})


def share_key(spc: SecretProviderClass, req: VolumeRequest, permission: int) -> str:
    """Key of (SPC content, identity): equal keys may share one provider fetch."""
    context = {k: v for k, v in req.volume_context.items() if k not in _PER_POD_KEYS}
    doc = {
        "provider": spc.provider,
        "parameters": spc.parameters,
        "context": context,
        "permission": permission,
        "identity": {
            "namespace": req.pod_namespace,
            "serviceAccount": req.service_account,
            "nodePublishSecretRef": hashlib.sha256(
                json.dumps(req.secrets, sort_keys=True).encode()
            ).hexdigest(),
        },
    }
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()


@dataclass
class VolumeState:
    target: str
    req: VolumeRequest
    spc: SecretProviderClass
    permission: int
    versions: dict[str, str] = field(default_factory=dict)
    last_fetch: float = 0.0
    key: str = ""


@dataclass
class _Entry:
    started: float
    target: str
    future: asyncio.Future[MountResult]


class SharedFetch:
    """Coalesces provider fetches by key: one in flight per key, results reused up to `max_age`."""

    def __init__(self) -> None:
        self._entries: dict[str, _Entry] = {}
        self.calls = 0

    async def get(
        self, key: str, target: str, max_age: float, fetch: Callable[[], Awaitable[MountResult]]
    ) -> tuple[MountResult, str]:
        """Return a result for `key` and the target path it was fetched for (the caller's, or another
        volume's when shared). A result with no files (a provider that wrote them itself) is never reused."""
        now = time.monotonic()
        entry = self._entries.get(key)
        if entry is not None:
            fut = entry.future
            if not fut.done():
                return await asyncio.shield(fut), entry.target
            fresh = now - entry.started <= max_age
            if fresh and not fut.cancelled() and fut.exception() is None and fut.result().files:
                return fut.result(), entry.target
        loop = asyncio.get_running_loop()
        fut = loop.create_future()
        self._entries[key] = _Entry(now, target, fut)
        self.calls += 1
        try:
            result = await fetch()
        except BaseException as exc:
            if isinstance(exc, asyncio.CancelledError):
                fut.cancel()
            else:
                fut.set_exception(exc)
                fut.exception()  # mark retrieved: waiters re-raise it themselves
            current = self._entries.get(key)
            if current is not None and current.future is fut:
                del self._entries[key]
            raise
        fut.set_result(result)
        return result, target

    def forget(self, key: str) -> None:
        self._entries.pop(key, None)

    def prune(self, max_age: float) -> None:
        now = time.monotonic()
        for key in [k for k, e in self._entries.items() if e.future.done() and now - e.started > max_age]:
            del self._entries[key]
