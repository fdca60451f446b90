"""After a restart: rebuild the rotation loop's set of volumes from the cluster.

The driver keeps no state on disk. What it mounted on this node is recorded in the
SecretProviderClassPodStatus objects labelled with the node (targetPath, secretProviderClassName, podName,
mounted, objects). For each one whose target is still a mounted tmpfs, the rest of the publish request is
rebuilt from its sources, as kubelet would send it:
- the pod (uid, service account) and its CSI volume of this driver naming the SecretProviderClass
  (volumeAttributes, nodePublishSecretRef);
- the nodePublishSecretRef Secret, read from the pod's namespace only;
- when the CSIDriver has tokenRequests, fresh service-account tokens from the TokenRequest API, bound to
  the pod, one per audience.

The rebuilt volume carries the same identity (namespace, service account, nodePublishSecretRef data) as the
original publish, so it joins the same shared-fetch group and never another identity's. A volume that
cannot be rebuilt is skipped with a log line naming the pod and why; kubelet's next publish (if any) adds
it again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import aiohttp

from secrets_store_csi.driver import mount, podstatus, tokens
from secrets_store_csi.driver.attributes import (
    EPHEMERAL,
    POD_NAME,
    POD_NAMESPACE,
    POD_UID,
    SA_NAME,
    SA_TOKENS,
    parse_volume_request,
)
from secrets_store_csi.driver.errors import DriverError
from secrets_store_csi.driver.podvolume import pod_csi_volume, read_publish_secret
from secrets_store_csi.driver.publisher import DEFAULT_PERMISSION, Publisher
from secrets_store_csi.driver.volumes import VolumeState, share_key
from secrets_store_csi.kube.client import KubeClient
from secrets_store_csi.kube.errors import KubeError
from secrets_store_csi.kube.paths import csidriver_path, pod_path, spcps_path

log = logging.getLogger("driver.recovery")
CONCURRENCY = 8


class Skip(Exception):
    """A recorded volume that is not rebuilt; the message says why."""


async def _token_requests(kube: KubeClient, driver: str) -> dict[str, int]:
    try:
        return tokens.token_requests(await kube.get(csidriver_path(driver)))
    except KubeError as exc:
        if not exc.not_found:
            log.warning(
                "reading the CSIDriver failed; volumes are rebuilt without service-account tokens",
                extra={"csidriver": driver, "error": str(exc)},
            )
        return {}


async def _rebuild(
    pub: Publisher, kube: KubeClient, item: dict[str, Any], token_requests: dict[str, int]
) -> VolumeState:
    meta = item.get("metadata") or {}
    status = item.get("status") or {}
    namespace = str(meta.get("namespace") or "")
    pod_name = str(status.get("podName") or "")
    spc_name = str(status.get("secretProviderClassName") or "")
    target = str(status.get("targetPath") or "")
    if not (status.get("mounted") and namespace and pod_name and spc_name and target):
        raise Skip("not mounted, or podName / secretProviderClassName / targetPath missing")
    if not await asyncio.to_thread(mount.is_tmpfs, target):
        raise Skip(f"target {target} is no longer a mounted tmpfs")
    try:
        pod = await kube.get(pod_path(namespace, pod_name))
    except KubeError as exc:
        raise Skip(f"pod {namespace}/{pod_name}: {exc}") from exc
    pod_uid = str((pod.get("metadata") or {}).get("uid") or "")
    owners = {o.get("uid") for o in meta.get("ownerReferences") or [] if o.get("kind") == "Pod"}
    if owners and pod_uid not in owners:
        raise Skip(f"pod {namespace}/{pod_name} was re-created (uid {pod_uid}); the status is a leftover")
    csi = pod_csi_volume(pod, pub.opts.driver_name, spc_name)
    if csi is None:
        raise Skip(
            f"pod {namespace}/{pod_name} has no {pub.opts.driver_name} volume for SecretProviderClass "
            f"{spc_name}"
        )
    service_account = str((pod.get("spec") or {}).get("serviceAccountName") or "default")
    context = {str(k): str(v) for k, v in (csi.get("volumeAttributes") or {}).items()}
    context.update(
        {
            POD_NAME: pod_name,
            POD_NAMESPACE: namespace,
            POD_UID: pod_uid,
            SA_NAME: service_account,
            EPHEMERAL: "true",
        }
    )
    secrets: dict[str, str] = {}
    ref = (csi.get("nodePublishSecretRef") or {}).get("name")
    if ref:
        try:
            secrets = await read_publish_secret(kube, namespace, str(ref))
        except KubeError as exc:
            raise Skip(f"nodePublishSecretRef {namespace}/{ref}: {exc}") from exc
    if token_requests:
        try:
            secrets[SA_TOKENS] = await tokens.mint_for(
                kube,
                token_requests,
                namespace=namespace,
                service_account=service_account,
                pod=pod_name,
                pod_uid=pod_uid,
            )
        except KubeError as exc:
            raise Skip(f"service-account tokens for {namespace}/{service_account}: {exc}") from exc
    try:
        req = parse_volume_request(context, secrets)
        spc = await pub.spcs.get(namespace, spc_name, req.pod)
    except DriverError as exc:
        raise Skip(exc.message) from exc
    versions = {
        str(o.get("id")): str(o.get("version") or "")
        for o in status.get("objects") or []
        if isinstance(o, dict) and o.get("id")
    }
    return VolumeState(
        target=target,
        req=req,
        spc=spc,
        permission=DEFAULT_PERMISSION,
        versions=versions,
        last_fetch=0.0,
        key=share_key(spc, req, DEFAULT_PERMISSION),
    )


async def recover(pub: Publisher) -> int:
    """Add every volume recorded for this node and still mounted to the rotation set. Returns how many
    were added. Needs the apiserver (pub.kube); errors listing the statuses are raised."""
    kube = pub.kube
    if kube is None:
        return 0
    listing = await kube.list(spcps_path(""), label_selector=f"{podstatus.NODE_LABEL}={pub.opts.node_id}")
    items = listing.get("items") or []
    token_requests = await _token_requests(kube, pub.opts.driver_name) if items else {}
    sem = asyncio.Semaphore(CONCURRENCY)
    added = 0

    async def one(item: dict[str, Any]) -> None:
        nonlocal added
        name = f"{(item.get('metadata') or {}).get('namespace')}/{(item.get('metadata') or {}).get('name')}"
        async with sem:
            try:
                state = await _rebuild(pub, kube, item, token_requests)
            except Skip as exc:
                log.info("volume not rebuilt", extra={"podstatus": name, "reason": str(exc)})
                return
            except (aiohttp.ClientError, TimeoutError) as exc:
                log.warning("volume not rebuilt", extra={"podstatus": name, "reason": str(exc)})
                return
        if await pub.adopt(state):
            added += 1

    await asyncio.gather(*(one(item) for item in items))
    log.info("volumes rebuilt after start", extra={"recorded": len(items), "rebuilt": added})
    return added


async def run(pub: Publisher, stop: asyncio.Event, retry_seconds: float = 10.0) -> None:
    """Recover once, retrying while the apiserver is unreachable (the driver serves calls meanwhile)."""
    while not stop.is_set():
        try:
            await recover(pub)
            return
        except (KubeError, aiohttp.ClientError, TimeoutError) as exc:
            log.warning(
                "listing SecretProviderClassPodStatuses failed; retrying",
                extra={"error": str(exc), "retry_seconds": retry_seconds},
            )
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=retry_seconds)
