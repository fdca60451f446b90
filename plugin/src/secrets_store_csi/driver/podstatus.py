"""SecretProviderClassPodStatus: the record of what a pod has mounted, one per pod and SPC."""

from __future__ import annotations

import logging
from typing import Any

from secrets_store_csi.kube.client import KubeClient
from secrets_store_csi.kube.errors import KubeError
from secrets_store_csi.kube.paths import SPC_GROUP, SPC_VERSION, spcps_path

NODE_LABEL = "internal.secrets-store.csi.k8s.io/node-name"
log = logging.getLogger("driver.podstatus")


def status_name(pod: str, namespace: str, spc: str) -> str:
    return f"{pod}-{namespace}-{spc}"


def build_status(
    pod: str, namespace: str, pod_uid: str, *, spc: str, node: str, target_path: str, versions: dict[str, str]
) -> dict[str, Any]:
    return {
        "apiVersion": f"{SPC_GROUP}/{SPC_VERSION}",
        "kind": "SecretProviderClassPodStatus",
        "metadata": {
            "name": status_name(pod, namespace, spc),
            "namespace": namespace,
            "labels": {NODE_LABEL: node},
            "ownerReferences": [{"apiVersion": "v1", "kind": "Pod", "name": pod, "uid": pod_uid}],
        },
        "status": {
            "podName": pod,
            "secretProviderClassName": spc,
            "mounted": True,
            "targetPath": target_path,
            "objects": [{"id": k, "version": versions[k]} for k in sorted(versions)],
        },
    }


async def upsert(kube: KubeClient, body: dict[str, Any]) -> None:
    """Create the status, or replace it when it exists (keeping its resourceVersion)."""
    meta = body["metadata"]
    path = spcps_path(meta["namespace"])
    try:
        await kube.create(path, body)
        return
    except KubeError as exc:
        if not exc.conflict:
            raise
    for _ in range(3):
        current = await kube.get(spcps_path(meta["namespace"], meta["name"]))
        if (
            current.get("status") == body["status"]
            and (current["metadata"].get("labels") or {}).get(NODE_LABEL) == meta["labels"][NODE_LABEL]
        ):
            return
        updated = dict(body)
        updated["metadata"] = {**meta, "resourceVersion": current["metadata"]["resourceVersion"]}
        try:
            await kube.replace(spcps_path(meta["namespace"], meta["name"]), updated)
            return
        except KubeError as exc:
            if not exc.conflict:
                raise
    raise KubeError(
        409, f"SecretProviderClassPodStatus {meta['namespace']}/{meta['name']} kept changing", "Conflict"
    )
