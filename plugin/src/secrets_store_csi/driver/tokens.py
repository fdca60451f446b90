"""Service-account tokens for the rotation poll loop.

kubelet passes the pod's tokens (CSIDriver tokenRequests) on NodePublishVolume; with requiresRepublish it
refreshes them. The driver's own poll loop runs between those calls, so before a fetch it mints fresh
tokens with the TokenRequest API when the stored ones expire within the margin: same audiences, bound to
the same pod. Token values never reach a log line.
"""

from __future__ import annotations

import datetime
import json
import logging
from typing import Any

from secrets_store_csi.kube.client import KubeClient
from secrets_store_csi.kube.errors import KubeError
from secrets_store_csi.kube.paths import token_path

log = logging.getLogger("driver.tokens")
DEFAULT_EXPIRATION = 3600


def _expires(entry: Any) -> datetime.datetime | None:
    if not isinstance(entry, dict):
        return None
    stamp = entry.get("expirationTimestamp")
    if not isinstance(stamp, str):
        return None
    try:
        return datetime.datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return None


def needs_refresh(tokens_json: str, margin_seconds: float, now: datetime.datetime | None = None) -> bool:
    """True when any token expires within `margin_seconds` (or has no readable expiry)."""
    if not tokens_json:
        return False
    try:
        tokens = json.loads(tokens_json)
    except ValueError:
        return False
    now = now or datetime.datetime.now(datetime.UTC)
    for entry in tokens.values():
        expiry = _expires(entry)
        if expiry is None or (expiry - now).total_seconds() < margin_seconds:
            return True
    return False


async def mint(
    kube: KubeClient, tokens_json: str, *, namespace: str, service_account: str, pod: str, pod_uid: str
) -> str:
    """New tokens JSON for the same audiences, bound to the pod. Raises KubeError."""
    requests = {audience: DEFAULT_EXPIRATION for audience in json.loads(tokens_json)}
    return await mint_for(
        kube, requests, namespace=namespace, service_account=service_account, pod=pod, pod_uid=pod_uid
    )


def token_requests(csidriver: dict[str, Any]) -> dict[str, int]:
    """The CSIDriver's spec.tokenRequests as audience -> expirationSeconds (kubelet's default when unset)."""
    out: dict[str, int] = {}
    for entry in (csidriver.get("spec") or {}).get("tokenRequests") or []:
        if isinstance(entry, dict):
            seconds = entry.get("expirationSeconds")
            out[str(entry.get("audience") or "")] = int(seconds) if seconds else DEFAULT_EXPIRATION
    return out


async def mint_for(
    kube: KubeClient,
    requests: dict[str, int],
    *,
    namespace: str,
    service_account: str,
    pod: str,
    pod_uid: str,
) -> str:
    """Tokens JSON as kubelet passes it (audience -> token, expirationTimestamp), one TokenRequest per
    audience, each bound to the pod. Raises KubeError."""
    audiences = list(requests)
    fresh: dict[str, dict[str, str]] = {}
    for audience, seconds in requests.items():
        body = {
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenRequest",
            "spec": {
                "audiences": [audience] if audience else [],
                "expirationSeconds": seconds,
                "boundObjectRef": {"apiVersion": "v1", "kind": "Pod", "name": pod, "uid": pod_uid},
            },
        }
        out = await kube.create(token_path(namespace, service_account), body)
        status = out.get("status") or {}
        if not status.get("token"):
            raise KubeError(
                500, f"TokenRequest for {namespace}/{service_account} returned no token", "NoToken"
            )
        fresh[audience] = {
            "token": status["token"],
            "expirationTimestamp": status.get("expirationTimestamp", ""),
        }
    log.debug("minted tokens", extra={"pod": f"{namespace}/{pod}", "audiences": audiences})
    return json.dumps(fresh)
