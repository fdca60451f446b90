"""The operator's connection: kopf's own login helpers, so the operator and kopf reach the cluster the
same way. The only module of this package that imports kopf (the driver and providers never load it)."""

from __future__ import annotations

import base64
import dataclasses
import os

import kopf

from secrets_store_csi.kube.config import SA_DIR, KubeConfig, client_ssl_context

SA_TOKEN = os.path.join(SA_DIR, "token")


def _pem(data: str | bytes | None) -> bytes | None:
    if not data:
        return None
    raw = data.encode() if isinstance(data, str) else data
    return raw if raw.lstrip().startswith(b"-----") else base64.b64decode(raw)


def _read(path: str | bytes | os.PathLike[str] | os.PathLike[bytes] | None) -> bytes | None:
    if not path:
        return None
    with open(os.fspath(path), "rb") as fh:
        return fh.read()


def connection_info() -> kopf.ConnectionInfo:
    """In a pod: the service account, with the API server from KUBERNETES_SERVICE_HOST/PORT (no cluster DNS
    needed); elsewhere: KUBECONFIG (or ~/.kube/config)."""
    settings = kopf.OperatorSettings()
    info = kopf.login_with_service_account(settings=settings)
    host, port = os.environ.get("KUBERNETES_SERVICE_HOST"), os.environ.get("KUBERNETES_SERVICE_PORT", "443")
    if info is not None and host:
        host = f"[{host}]" if ":" in host else host
        info = dataclasses.replace(info, server=f"https://{host}:{port}")
    info = info or kopf.login_with_kubeconfig(settings=settings)
    if info is None:
        raise kopf.LoginError("no service account token and no KUBECONFIG: cannot reach the cluster")
    return info


def config_from(info: kopf.ConnectionInfo) -> KubeConfig:
    """kopf's connection as a KubeConfig. A token is re-read from the service account's file when that
    exists (bound tokens rotate)."""
    ca = _read(info.ca_path) or _pem(info.ca_data)
    cert = _pem(info.certificate_data) or _read(info.certificate_path)
    key = _pem(info.private_key_data) or _read(info.private_key_path)
    if info.insecure:
        ssl_context = client_ssl_context(None, cert, key, insecure=True)
    else:
        ssl_context = client_ssl_context(ca, cert, key)
    return KubeConfig(
        server=info.server.rstrip("/"),
        ssl_context=ssl_context,
        token=info.token or "",
        token_file=SA_TOKEN if info.token and os.path.exists(SA_TOKEN) else "",
        scheme=info.scheme or "Bearer",
        username=info.username or "",
        password=info.password or "",
    )
