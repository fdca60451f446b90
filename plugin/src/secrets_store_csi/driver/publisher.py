"""The publish flow shared by NodePublishVolume and rotation: fetch, check, write, record, sync."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import time
from collections import defaultdict
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import aiohttp
import grpc

from secrets_store_csi.driver import errors, mount, podstatus, secretsync, tokens, writer
from secrets_store_csi.driver.attributes import VolumeRequest, mount_attributes, permission_json
from secrets_store_csi.driver.errors import DriverError, PathError
from secrets_store_csi.driver.metrics import OS_TYPE, Metrics
from secrets_store_csi.driver.options import Options
from secrets_store_csi.driver.paths import check_tree_inside
from secrets_store_csi.driver.podvolume import pod_csi_volume, read_publish_secret
from secrets_store_csi.driver.provider_client import MountResult, ProviderClients, validate_provider_name
from secrets_store_csi.driver.spc import SecretProviderClass, SpcSource
from secrets_store_csi.driver.volumes import SharedFetch, VolumeState, share_key
from secrets_store_csi.driver.writer import FileContent, read_current
from secrets_store_csi.kube.client import KubeClient
from secrets_store_csi.kube.errors import KubeError
from secrets_store_csi.kube.paths import pod_path

DEFAULT_PERMISSION = 0o644
# A payload up to this size is staged and committed on the event loop: on the tmpfs the driver mounted,
# those syscalls never wait for a disk and take tens of microseconds, less than a hop to a worker thread
# (which costs about 1 ms, and 10 ms at p99 on a loaded node). Larger payloads go to a thread.
INLINE_WRITE_BYTES = 64 * 1024
INLINE_WRITE_FILES = 64
log = logging.getLogger("driver.publish")
P = ParamSpec("P")
T = TypeVar("T")


class Publisher:
    def __init__(
        self,
        opts: Options,
        spcs: SpcSource,
        providers: ProviderClients,
        kube: KubeClient | None,
        metrics: Metrics,
    ) -> None:
        self.opts = opts
        self.spcs = spcs
        self.providers = providers
        self.kube = kube
        self.metrics = metrics
        self.volumes: dict[str, VolumeState] = {}
        self.shared = SharedFetch()
        self._locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)

    def lock(self, target: str) -> asyncio.Lock:
        return self._locks[target]

    async def publish(self, target: str, req: VolumeRequest, permission: int = DEFAULT_PERMISSION) -> str:
        """Mount and fill `target`. Returns the provider name (for metrics)."""
        async with self.lock(target):
            state = self.volumes.get(target)
            if (
                state is not None
                and self.opts.enable_secret_rotation
                and time.monotonic() - state.last_fetch < self.opts.rotation_poll_interval
            ):
                return state.spc.provider  # requiresRepublish, rate-limited by the poll interval
            # Read the SPC first: a pod naming a missing SPC gets no mount at all.
            spc = await self.spcs.get(req.pod_namespace, req.spc_name, req.pod)
            validate_provider_name(spc.provider)
            try:
                mounted = await asyncio.to_thread(mount.ensure_tmpfs, target, True)
            except OSError as exc:
                raise DriverError(
                    grpc.StatusCode.INTERNAL,
                    errors.FAILED_TO_ENSURE_MOUNT_POINT,
                    f"mounting tmpfs at {target} for pod {req.pod} failed: {exc.strerror or exc}",
                ) from exc
            if mounted and not self.opts.enable_secret_rotation:
                log.debug("target already mounted", extra={"target": target, "pod": req.pod})
                return spc.provider
            first = not mounted
            try:
                await self._refresh(
                    target, req, spc, permission=permission, state=state, max_age=0.0 if first else None
                )
            except BaseException:
                if first:
                    try:
                        await asyncio.to_thread(mount.clean_target, target)
                    except OSError as exc:
                        log.error(
                            "cleanup after failed first mount failed",
                            extra={"target": target, "error": str(exc)},
                        )
                raise
            return spc.provider

    async def _refresh(
        self,
        target: str,
        req: VolumeRequest,
        spc: SecretProviderClass,
        *,
        permission: int,
        state: VolumeState | None,
        max_age: float | None,
    ) -> bool:
        """Fetch (possibly shared), write when changed, record. Returns True when content changed.

        Order when content changed: the new files are staged beside the current ones, the pod status is
        recorded, then the staged files become visible. A pod status that cannot be recorded fails the
        call and the current files stay (a rotation or remount never leaves content the status does not
        describe); a legacy provider that wrote the files itself has already replaced them."""
        key = share_key(spc, req, permission)
        current = dict(state.versions) if state else {}
        result = await self._fetch(
            target, req, spc, permission=permission, current=current, key=key, max_age=max_age
        )
        changed = state is None or result.object_versions != state.versions or not result.object_versions
        new_state = VolumeState(
            target=target,
            req=req,
            spc=spc,
            permission=permission,
            versions=dict(result.object_versions),
            last_fetch=time.monotonic(),
            key=key,
        )
        if not changed:
            self.volumes[target] = new_state
            return False
        staged, files = await self._stage(target, req, spc, result)
        inline = _small(result)
        try:
            await self._record_status(new_state)
        except BaseException:
            if staged is not None:
                await _run(inline, writer.discard, staged)
            raise
        if staged is not None:
            try:
                await _run(inline, writer.commit, staged)
            except OSError as exc:
                await _run(inline, writer.discard, staged)
                raise DriverError(
                    grpc.StatusCode.INTERNAL,
                    errors.FILE_WRITE_ERROR,
                    f"writing files to {target} for pod {req.pod}, SecretProviderClass {spc.ref} failed: "
                    f"{exc.strerror or exc}",
                ) from exc
        self.volumes[target] = new_state
        await self._sync(new_state, files)
        return state is not None

    async def _fetch(
        self,
        target: str,
        req: VolumeRequest,
        spc: SecretProviderClass,
        *,
        permission: int,
        current: dict[str, str],
        key: str,
        max_age: float | None,
    ) -> MountResult:
        what = f"pod {req.pod}, SecretProviderClass {spc.ref}"

        async def fetch() -> MountResult:
            self.metrics.provider_mount_calls.labels(spc.provider, OS_TYPE).inc()
            return await self.providers.mount(
                spc.provider,
                attributes=mount_attributes(spc.parameters, req),
                secrets=json.dumps(req.secrets, sort_keys=True),
                target_path=target,
                permission=permission_json(permission),
                current=current,
                what=what,
            )

        age = self.opts.rotation_poll_interval if max_age is None else max_age
        result, fetched_for = await self.shared.get(key, target, age, fetch)
        if not result.files and fetched_for != target:
            result = await fetch()  # a provider that writes files itself must see this target
        return result

    async def _stage(
        self, target: str, req: VolumeRequest, spc: SecretProviderClass, result: MountResult
    ) -> tuple[writer.StagedWrite | None, dict[str, bytes]]:
        """Stage the provider's files (None for a legacy provider that wrote them itself) and return the
        content by path for secret sync."""
        what = f"pod {req.pod}, SecretProviderClass {spc.ref}"
        if result.files:
            files = [FileContent(p, m, c) for p, m, c in result.files]
            try:
                staged = await _run(_small(result), writer.stage, target, files)
            except PathError as exc:
                raise DriverError(
                    grpc.StatusCode.INTERNAL,
                    errors.FILE_WRITE_ERROR,
                    f"provider {spc.provider!r} returned an unsafe file for {what}: {exc}; "
                    "nothing was written",
                ) from exc
            except OSError as exc:
                raise DriverError(
                    grpc.StatusCode.INTERNAL,
                    errors.FILE_WRITE_ERROR,
                    f"writing files to {target} for {what} failed: {exc.strerror or exc}",
                ) from exc
            return staged, {f.path: f.contents for f in files}
        # A legacy provider wrote the files itself: check nothing it left points outside the target.
        try:
            await asyncio.to_thread(check_tree_inside, target)
        except PathError as exc:
            raise DriverError(
                grpc.StatusCode.INTERNAL,
                errors.FILE_WRITE_ERROR,
                f"provider {spc.provider!r} wrote an unsafe entry for {what}: {exc}",
            ) from exc
        if spc.secret_objects:
            return None, await asyncio.to_thread(read_current, target)
        return None, {}

    async def _record_status(self, state: VolumeState) -> None:
        """Create or update the volume's SecretProviderClassPodStatus; a failure is a DriverError naming
        the object (upstream fails NodePublishVolume the same way)."""
        if self.kube is None:
            return
        req, spc = state.req, state.spc
        body = podstatus.build_status(
            req.pod_name,
            req.pod_namespace,
            req.pod_uid,
            spc=spc.name,
            node=self.opts.node_id,
            target_path=state.target,
            versions=state.versions,
        )
        try:
            await podstatus.upsert(self.kube, body)
        except (KubeError, aiohttp.ClientError, TimeoutError) as exc:
            name = podstatus.status_name(req.pod_name, req.pod_namespace, spc.name)
            raise DriverError(
                grpc.StatusCode.INTERNAL,
                errors.FAILED_TO_CREATE_SPCPS,
                f"recording SecretProviderClassPodStatus {req.pod_namespace}/{name} for pod {req.pod}, "
                f"SecretProviderClass {spc.ref} failed: {exc or type(exc).__name__}",
            ) from exc

    async def _sync(self, state: VolumeState, files: dict[str, bytes]) -> None:
        req, spc = state.req, state.spc
        if self.kube is None or not self.opts.enable_secret_sync or not spc.secret_objects:
            return
        start = time.monotonic()
        try:
            count = await secretsync.sync_secrets(
                self.kube, spc, files, namespace=req.pod_namespace, pod=req.pod_name, pod_uid=req.pod_uid
            )
            self.metrics.sync_k8s_secret.labels(spc.provider, OS_TYPE).inc(count)
        except secretsync.SyncError as exc:
            log.warning("secret sync failed", extra={"pod": req.pod, "spc": spc.ref, "error": str(exc)})
            await secretsync.post_event(
                self.kube,
                req.pod_namespace,
                req.pod_name,
                pod_uid=req.pod_uid,
                reason="FailedToSyncSecret",
                message=str(exc),
                node=self.opts.node_id,
            )
        finally:
            self.metrics.sync_k8s_secret_duration.labels(OS_TYPE).observe(time.monotonic() - start)

    async def adopt(self, state: VolumeState) -> bool:
        """Add a volume found after a restart to the rotation set, unless it is known already (a
        NodePublishVolume got there first). Returns whether it was added."""
        async with self.lock(state.target):
            if state.target in self.volumes:
                return False
            self.volumes[state.target] = state
            return True

    async def unpublish(self, target: str) -> None:
        async with self.lock(target):
            self.volumes.pop(target, None)
            await asyncio.to_thread(mount.clean_target, target)
        self._locks.pop(target, None)

    async def _fresh_tokens(self, state: VolumeState) -> VolumeRequest:
        """The volume's request with tokens still valid for the next poll (minted when needed)."""
        req = state.req
        margin = self.opts.rotation_poll_interval + 60
        if self.kube is None or not req.tokens or not tokens.needs_refresh(req.tokens, margin):
            return req
        try:
            fresh = await tokens.mint(
                self.kube,
                req.tokens,
                namespace=req.pod_namespace,
                service_account=req.service_account,
                pod=req.pod_name,
                pod_uid=req.pod_uid,
            )
        except (KubeError, ValueError) as exc:
            log.warning(
                "minting service-account tokens failed; using the last ones",
                extra={"pod": req.pod, "error": str(exc)},
            )
            return req
        return dataclasses.replace(req, tokens=fresh)

    async def _fresh_publish_secrets(self, req: VolumeRequest) -> VolumeRequest:
        """Re-read the volume's nodePublishSecretRef Secret so rotated credentials are used (the pod's
        spec names it; the Secret is read from the pod's namespace only)."""
        if self.kube is None or not req.secrets:
            return req
        try:
            pod = await self.kube.get(pod_path(req.pod_namespace, req.pod_name))
            csi = pod_csi_volume(pod, self.opts.driver_name, req.spc_name)
            ref = str(((csi or {}).get("nodePublishSecretRef") or {}).get("name") or "")
            if not ref:
                return req
            data = await read_publish_secret(self.kube, req.pod_namespace, ref)
        except KubeError as exc:
            log.warning(
                "re-reading nodePublishSecretRef failed; using the last data",
                extra={"pod": req.pod, "error": str(exc)},
            )
            return req
        return dataclasses.replace(req, secrets=data)

    async def rotate(
        self, target: str, spc_cache: dict[tuple[str, str], SecretProviderClass], poll_started: float
    ) -> bool:
        """Refresh one mounted volume during a rotation poll. Returns True when its content changed.
        Fetches made since `poll_started` with the same share key are reused."""
        async with self.lock(target):
            state = self.volumes.get(target)
            if state is None:
                return False
            if not await asyncio.to_thread(mount.is_tmpfs, target):
                # Unmounted behind the driver's back (kubelet cleaned up while the driver was away):
                # never write into a plain directory on the node's disk.
                del self.volumes[target]
                log.info(
                    "target no longer a mounted tmpfs; dropped from rotation",
                    extra={"target": target, "pod": state.req.pod},
                )
                return False
            req = await self._fresh_tokens(state)
            req = await self._fresh_publish_secrets(req)
            cache_key = (req.pod_namespace, req.spc_name)
            spc = spc_cache.get(cache_key)
            if spc is None:
                spc = await self.spcs.get(req.pod_namespace, req.spc_name, req.pod)
                spc_cache[cache_key] = spc
            max_age = time.monotonic() - poll_started
            rotated = await self._refresh(
                target, req, spc, permission=state.permission, state=state, max_age=max_age
            )
            if rotated and self.kube is not None:
                await secretsync.post_event(
                    self.kube,
                    req.pod_namespace,
                    req.pod_name,
                    pod_uid=req.pod_uid,
                    reason="SecretRotationComplete",
                    message=f"successfully rotated mounted contents for SecretProviderClass {spc.ref}",
                    node=self.opts.node_id,
                    type_="Normal",
                )
            return rotated


def _small(result: MountResult) -> bool:
    return (
        len(result.files) <= INLINE_WRITE_FILES and sum(len(f[2]) for f in result.files) <= INLINE_WRITE_BYTES
    )


async def _run(inline: bool, func: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Call `func` on the loop when `inline` (small tmpfs writes), else in a worker thread."""
    if inline:
        return func(*args, **kwargs)
    return await asyncio.to_thread(func, *args, **kwargs)
