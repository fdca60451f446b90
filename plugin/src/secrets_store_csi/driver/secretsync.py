"""Sync mounted objects to Kubernetes Secrets (SecretProviderClass spec.secretObjects).

Secrets the driver writes carry `secrets-store.csi.k8s.io/managed=true`; an existing Secret without that
label is never overwritten. Owner references point at the pod's owners (the pod itself when it has none),
so the Secret is garbage-collected when its last owner goes.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import logging
import time
from typing import Any

from secrets_store_csi.driver.spc import SecretObject, SecretProviderClass
from secrets_store_csi.kube.client import KubeClient
from secrets_store_csi.kube.errors import KubeError
from secrets_store_csi.kube.paths import events_path, pod_path, secret_path

MANAGED_LABEL = "secrets-store.csi.k8s.io/managed"
TLS_TYPE = "kubernetes.io/tls"
log = logging.getLogger("driver.secretsync")


class SyncError(Exception):
    """A Secret could not be built or written; the message names it and never holds its data."""


def _pem_blocks(data: bytes) -> list[tuple[str, bytes]]:
    blocks: list[tuple[str, bytes]] = []
    lines = data.replace(b"\r\n", b"\n").split(b"\n")
    current: list[bytes] | None = None
    kind = ""
    for line in lines:
        stripped = line.strip()
        if stripped.startswith(b"-----BEGIN ") and stripped.endswith(b"-----"):
            kind = stripped[len(b"-----BEGIN ") : -5].decode("ascii", "replace")
            current = [stripped]
        elif current is not None:
            current.append(stripped)
            if stripped.startswith(b"-----END "):
                blocks.append((kind, b"\n".join(current) + b"\n"))
                current = None
    return blocks


def _from_pkcs12(data: bytes) -> tuple[bytes, bytes] | None:
    # Imported here: cryptography costs ~9 MiB of RSS and only TLS syncs need it.
    from cryptography.hazmat.primitives import serialization  # noqa: PLC0415
    from cryptography.hazmat.primitives.serialization import pkcs12  # noqa: PLC0415

    candidates = [data]
    with contextlib.suppress(binascii.Error, ValueError):
        candidates.append(base64.b64decode(data, validate=False))
    for raw in candidates:
        try:
            key, cert, extra = pkcs12.load_key_and_certificates(raw, None)
        except (ValueError, TypeError):
            continue
        if key is None or cert is None:
            continue
        key_pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        chain = [cert, *(extra or [])]
        crt_pem = b"".join(c.public_bytes(serialization.Encoding.PEM) for c in chain)
        return key_pem, crt_pem
    return None


def tls_part(data: bytes, key: str) -> bytes:
    """For a kubernetes.io/tls Secret: tls.key gets the private key, tls.crt the certificate chain,
    from PEM (key and certificates in one object) or PKCS#12 (raw or base64). Other keys get the data."""
    if key not in ("tls.key", "tls.crt"):
        return data
    blocks = _pem_blocks(data)
    if blocks:
        if key == "tls.key":
            keys = [b for kind, b in blocks if kind.endswith("PRIVATE KEY")]
            if not keys:
                raise SyncError("no private key in the PEM object")
            return keys[0]
        certs = [b for kind, b in blocks if kind == "CERTIFICATE"]
        if not certs:
            raise SyncError("no certificate in the PEM object")
        from cryptography import x509  # noqa: PLC0415

        for c in certs:
            x509.load_pem_x509_certificate(c)
        return b"".join(certs)
    parts = _from_pkcs12(data)
    if parts is None:
        raise SyncError("the object is neither PEM nor an unencrypted PKCS#12 bundle")
    return parts[0] if key == "tls.key" else parts[1]


def build_secret(
    so: SecretObject, files: dict[str, bytes], namespace: str, owners: list[dict[str, Any]]
) -> dict[str, Any]:
    data: dict[str, str] = {}
    for item in so.data:
        if item.object_name not in files:
            raise SyncError(
                f"Secret {namespace}/{so.secret_name}: objectName {item.object_name!r} is not among "
                "the mounted "
                f"files ({', '.join(sorted(files)) or 'none'})"
            )
        raw = files[item.object_name]
        if so.type == TLS_TYPE:
            try:
                raw = tls_part(raw, item.key)
            except (SyncError, ValueError) as exc:
                raise SyncError(
                    f"Secret {namespace}/{so.secret_name} key {item.key}: object {item.object_name!r}: {exc}"
                ) from exc
        data[item.key] = base64.b64encode(raw).decode("ascii")
    labels = {**so.labels, MANAGED_LABEL: "true"}
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": so.type,
        "metadata": {
            "name": so.secret_name,
            "namespace": namespace,
            "labels": labels,
            "annotations": dict(so.annotations),
            "ownerReferences": owners,
        },
        "data": data,
    }


def merge_owners(existing: list[dict[str, Any]], wanted: list[dict[str, Any]]) -> list[dict[str, Any]]:
    uids = {o.get("uid") for o in existing}
    return existing + [o for o in wanted if o.get("uid") not in uids]


async def pod_owners(kube: KubeClient, namespace: str, pod: str, pod_uid: str) -> list[dict[str, Any]]:
    obj = await kube.get(pod_path(namespace, pod))
    refs = obj.get("metadata", {}).get("ownerReferences") or []
    owners = [
        {"apiVersion": r["apiVersion"], "kind": r["kind"], "name": r["name"], "uid": r["uid"]} for r in refs
    ]
    if not owners:
        owners = [
            {"apiVersion": "v1", "kind": "Pod", "name": pod, "uid": obj["metadata"].get("uid", pod_uid)}
        ]
    return owners


async def apply_secret(kube: KubeClient, body: dict[str, Any]) -> None:
    meta = body["metadata"]
    ns, name = meta["namespace"], meta["name"]
    for _ in range(3):
        try:
            current = await kube.get(secret_path(ns, name))
        except KubeError as exc:
            if not exc.not_found:
                raise
            try:
                await kube.create(secret_path(ns), body)
                return
            except KubeError as cexc:
                if cexc.conflict:
                    continue
                raise
        cmeta = current.get("metadata", {})
        if (cmeta.get("labels") or {}).get(MANAGED_LABEL) != "true":
            raise SyncError(
                f"Secret {ns}/{name} exists and is not managed by the driver "
                f"(no {MANAGED_LABEL}=true label); "
                "left unchanged"
            )
        if current.get("type", "Opaque") != body["type"]:
            raise SyncError(
                f"Secret {ns}/{name} has type {current.get('type')!r}, SPC asks for {body['type']!r}"
            )
        owners = merge_owners(cmeta.get("ownerReferences") or [], meta["ownerReferences"])
        labels = {**(cmeta.get("labels") or {}), **meta["labels"]}
        annotations = {**(cmeta.get("annotations") or {}), **meta["annotations"]}
        if (
            current.get("data") == body["data"]
            and owners == cmeta.get("ownerReferences")
            and labels == cmeta.get("labels")
            and annotations == (cmeta.get("annotations") or {})
        ):
            return
        updated = {
            **body,
            "metadata": {
                **meta,
                "labels": labels,
                "annotations": annotations,
                "ownerReferences": owners,
                "resourceVersion": cmeta["resourceVersion"],
            },
        }
        try:
            await kube.replace(secret_path(ns, name), updated)
            return
        except KubeError as exc:
            if not exc.conflict:
                raise
    raise SyncError(f"Secret {ns}/{name} kept changing while being updated")


# An identical event (same pod, reason and message) is recorded at most once per window: a backend outage
# then costs one Event per volume per window instead of one per rotation poll, as client-go's recorder
# aggregates repeats for the upstream driver. The failure is still counted in metrics and logged each time.
EVENT_REPEAT_SECONDS = 300.0
_recorded: dict[tuple[str, str, str, str, str], float] = {}
_clock = time.monotonic


def _recently_recorded(key: tuple[str, str, str, str, str], now: float) -> bool:
    last = _recorded.get(key)
    return last is not None and now - last < EVENT_REPEAT_SECONDS


def _remember(key: tuple[str, str, str, str, str], now: float) -> None:
    if len(_recorded) >= 4096:
        for old in [k for k, t in _recorded.items() if now - t >= EVENT_REPEAT_SECONDS]:
            del _recorded[old]
    _recorded[key] = now


async def post_event(
    kube: KubeClient,
    namespace: str,
    pod: str,
    *,
    pod_uid: str,
    reason: str,
    message: str,
    node: str,
    type_: str = "Warning",
) -> None:
    key = (namespace, pod_uid or pod, type_, reason, message)
    seen = _clock()
    if _recently_recorded(key, seen):
        log.debug(
            "event repeated within the window: not recorded again",
            extra={"pod": f"{namespace}/{pod}", "reason": reason},
        )
        return
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    body = {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"generateName": f"{pod}.", "namespace": namespace},
        "involvedObject": {
            "apiVersion": "v1",
            "kind": "Pod",
            "name": pod,
            "namespace": namespace,
            "uid": pod_uid,
        },
        "reason": reason,
        "message": message,
        "type": type_,
        "source": {"component": "secrets-store-csi-driver", "host": node},
        "firstTimestamp": now,
        "lastTimestamp": now,
        "count": 1,
    }
    try:
        await kube.create(events_path(namespace), body)
    except KubeError as exc:
        log.warning(
            "could not record event", extra={"pod": f"{namespace}/{pod}", "reason": reason, "error": str(exc)}
        )
        return
    _remember(key, seen)


async def sync_secrets(
    kube: KubeClient,
    spc: SecretProviderClass,
    files: dict[str, bytes],
    *,
    namespace: str,
    pod: str,
    pod_uid: str,
) -> int:
    """Write every secretObject of `spc`; returns how many were written.

    Raises SyncError on the first failure."""
    if not spc.secret_objects:
        return 0
    try:
        owners = await pod_owners(kube, namespace, pod, pod_uid)
    except KubeError as exc:
        raise SyncError(f"reading pod {namespace}/{pod} for its owners failed: {exc.reason}") from exc
    for so in spc.secret_objects:
        body = build_secret(so, files, namespace, owners)
        try:
            await apply_secret(kube, body)
        except KubeError as exc:
            raise SyncError(
                f"writing Secret {namespace}/{so.secret_name} failed: {exc.status} {exc.reason}"
            ) from exc
    return len(spc.secret_objects)
