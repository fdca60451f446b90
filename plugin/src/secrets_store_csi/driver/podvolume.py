"""The pod's side of a volume: its inline CSI volume and the nodePublishSecretRef Secret it names."""

from __future__ import annotations

import base64
from typing import Any

from secrets_store_csi.driver.attributes import SPC_KEY
from secrets_store_csi.kube.client import KubeClient
from secrets_store_csi.kube.paths import secret_path


def pod_csi_volume(pod: dict[str, Any], driver: str, spc_name: str) -> dict[str, Any] | None:
    """The pod's inline CSI volume of `driver` that names SecretProviderClass `spc_name`."""
    for volume in (pod.get("spec") or {}).get("volumes") or []:
        csi = volume.get("csi") or {}
        attrs = csi.get("volumeAttributes") or {}
        if csi.get("driver") == driver and attrs.get(SPC_KEY) == spc_name:
            return dict(csi)
    return None


async def read_publish_secret(kube: KubeClient, namespace: str, name: str) -> dict[str, str]:
    """The data of a nodePublishSecretRef Secret (pod's namespace only), decoded as kubelet passes it."""
    secret = await kube.get(secret_path(namespace, name))
    return {k: base64.b64decode(v).decode("utf-8", "replace") for k, v in (secret.get("data") or {}).items()}
