"""SecretProviderClasses from a watch: NodePublishVolume reads the pod's SPC from memory.

Every publish used to GET its SecretProviderClass: one apiserver round trip (about a quarter of a publish
with a zero-latency provider). The driver now lists and watches SecretProviderClasses once and answers
from that cache. A name the cache does not hold (not listed yet, just created, or really missing) is read
with a GET, so "not found" is always the apiserver's answer and a pod never waits for the watch. The
namespace rule is unchanged: the key is (pod namespace, name). While the watch is down (apiserver away,
no list/watch permission) every read is a GET, as before.

Only the parsed view is kept (provider, parameters, secretObjects), a few hundred bytes per SPC.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import aiohttp

from secrets_store_csi.driver.spc import KubeSpcSource, SecretProviderClass, parse_spc
from secrets_store_csi.kube.client import KubeClient
from secrets_store_csi.kube.errors import KubeError
from secrets_store_csi.kube.paths import spc_path

log = logging.getLogger("driver.spccache")
RETRY_SECONDS = 5.0
FORBIDDEN_RETRY_SECONDS = 300.0  # RBAC without list/watch on SPCs (an older chart): GETs, retried rarely


class WatchedSpcSource:
    def __init__(self, kube: KubeClient) -> None:
        self._kube = kube
        self._direct = KubeSpcSource(kube)
        # (namespace, name) -> parsed SPC, or None for an object that does not parse (GET reports why).
        self._cache: dict[tuple[str, str], SecretProviderClass | None] = {}
        self._synced = False
        self.hits = 0

    @property
    def synced(self) -> bool:
        return self._synced

    async def get(self, namespace: str, name: str, pod: str) -> SecretProviderClass:
        if self._synced:
            spc = self._cache.get((namespace, name))
            if spc is not None:
                self.hits += 1
                return spc
        return await self._direct.get(namespace, name, pod)

    def _store(self, obj: dict[str, Any]) -> None:
        meta = obj.get("metadata") or {}
        key = (str(meta.get("namespace") or ""), str(meta.get("name") or ""))
        try:
            self._cache[key] = parse_spc(obj, *key)
        except ValueError:
            self._cache[key] = None

    def _drop(self, obj: dict[str, Any]) -> None:
        meta = obj.get("metadata") or {}
        self._cache.pop((str(meta.get("namespace") or ""), str(meta.get("name") or "")), None)

    async def _list(self) -> str:
        listing = await self._kube.list(spc_path(""))
        self._cache.clear()
        for item in listing.get("items") or []:
            self._store(item)
        self._synced = True
        return str((listing.get("metadata") or {}).get("resourceVersion") or "")

    async def _watch(self, resource_version: str) -> None:
        """Follow the watch until it ends; returns to relist on expiry (410) or a server error event."""
        while True:
            async for event in self._kube.watch(spc_path(""), resource_version):
                kind, obj = event.get("type"), event.get("object") or {}
                if kind == "ERROR":
                    log.debug("SecretProviderClass watch ended", extra={"reason": obj.get("message", "")})
                    return
                resource_version = str((obj.get("metadata") or {}).get("resourceVersion") or resource_version)
                if kind in ("ADDED", "MODIFIED"):
                    self._store(obj)
                elif kind == "DELETED":
                    self._drop(obj)

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                resource_version = await self._list()
                log.info("SecretProviderClass cache synced", extra={"count": len(self._cache)})
                await self._watch(resource_version)
            except KubeError as exc:
                if exc.status == 410:  # the watch's resourceVersion expired: relist at once
                    continue
                await self._failed(exc, stop)
            except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
                await self._failed(exc, stop)

    async def _failed(self, exc: Exception, stop: asyncio.Event) -> None:
        self._synced = False
        forbidden = isinstance(exc, KubeError) and exc.status in (401, 403)
        retry = FORBIDDEN_RETRY_SECONDS if forbidden else RETRY_SECONDS
        hint = "; grant list and watch on secretproviderclasses" if forbidden else ""
        log.warning(
            f"SecretProviderClass watch failed; reading each SPC with a GET until it is back{hint}",
            extra={"error": str(exc), "retry_seconds": retry},
        )
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=retry)
