"""The few Kubernetes API reads a provider needs (a service account's annotations, a node's labels).

In-cluster config (the pod's service-account token and CA) or a kubeconfig file with a token or a client
certificate. Small on purpose: a provider needs two GETs, not a client library.
"""

from __future__ import annotations

import base64
import os
import ssl
import tempfile
from dataclasses import dataclass
from typing import Any, cast

import aiohttp
import yaml

from secrets_store_csi.providers import metrics
from secrets_store_csi.providers.errors import ErrorCode, ProviderError, from_http_status

SA_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"


@dataclass
class KubeConfig:
    server: str
    ssl_context: ssl.SSLContext | bool
    token_file: str | None = None
    token: str | None = None


def load_kubeconfig(path: str) -> KubeConfig:
    with open(path, encoding="utf-8") as f:
        doc = yaml.safe_load(f)
    ctx_name = doc.get("current-context")
    ctx = next(c["context"] for c in doc["contexts"] if c["name"] == ctx_name)
    cluster = next(c["cluster"] for c in doc["clusters"] if c["name"] == ctx["cluster"])
    user: dict[str, Any] = next((u["user"] for u in doc.get("users", []) if u["name"] == ctx.get("user")), {})
    base = os.path.dirname(path)

    def material(key: str) -> bytes | None:
        for src in (cluster, user):
            if f"{key}-data" in src:
                return base64.b64decode(src[f"{key}-data"])
            if key in src:
                with open(os.path.join(base, src[key]), "rb") as fh:
                    return fh.read()
        return None

    if cluster.get("insecure-skip-tls-verify"):
        ctx_ssl: ssl.SSLContext | bool = False
    else:
        ca = material("certificate-authority")
        ctx_ssl = ssl.create_default_context(cadata=ca.decode() if ca else None)
        cert, key = material("client-certificate"), material("client-key")
        if cert and key:
            # ssl loads a client key only from a file: a private temporary one, removed right after.
            with tempfile.TemporaryDirectory(prefix="ssc-kube-") as tmp:
                os.chmod(tmp, 0o700)
                pem = os.path.join(tmp, "client.pem")
                with open(pem, "wb") as out:
                    out.write(cert + b"\n" + key)
                ctx_ssl.load_cert_chain(pem)
    return KubeConfig(
        server=cluster["server"],
        ssl_context=ctx_ssl,
        token=user.get("token"),
        token_file=user.get("tokenFile"),
    )


def in_cluster_config() -> KubeConfig | None:
    host, port = os.environ.get("KUBERNETES_SERVICE_HOST"), os.environ.get("KUBERNETES_SERVICE_PORT")
    if not host or not port or not os.path.exists(f"{SA_DIR}/token"):
        return None
    if ":" in host:
        host = f"[{host}]"
    return KubeConfig(
        server=f"https://{host}:{port}",
        ssl_context=ssl.create_default_context(cafile=f"{SA_DIR}/ca.crt"),
        token_file=f"{SA_DIR}/token",
    )


class KubeClient:
    def __init__(self, config: KubeConfig | None) -> None:
        self.config = config
        self._session: aiohttp.ClientSession | None = None

    @classmethod
    def from_config(cls, kubeconfig: str | None) -> KubeClient:
        return cls(load_kubeconfig(kubeconfig) if kubeconfig else in_cluster_config())

    def _headers(self) -> dict[str, str]:
        assert self.config is not None
        token = self.config.token
        if self.config.token_file:
            with open(self.config.token_file, encoding="utf-8") as f:  # rotated by the kubelet: reread
                token = f.read().strip()
        return {"Authorization": f"Bearer {token}"} if token else {}

    async def get(self, path: str, what: str) -> dict[str, Any]:
        if self.config is None:
            raise ProviderError(
                ErrorCode.INTERNAL,
                f"cannot read {what}: no Kubernetes API configuration (not in a cluster and no --kubeconfig)",
            )
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15))
        metrics.BACKEND_CALLS.labels("kubernetes", "get").inc()
        try:
            async with self._session.get(
                self.config.server + path, headers=self._headers(), ssl=self.config.ssl_context
            ) as resp:
                if resp.status != 200:
                    raise from_http_status(
                        resp.status, f"Kubernetes API returned {resp.status} reading {what}"
                    )
                return cast(dict[str, Any], await resp.json())
        except aiohttp.ClientError as exc:
            raise ProviderError(
                ErrorCode.UNAVAILABLE, f"Kubernetes API unreachable reading {what}: {type(exc).__name__}"
            ) from exc

    async def service_account_annotations(self, namespace: str, name: str) -> dict[str, str]:
        obj = await self.get(
            f"/api/v1/namespaces/{namespace}/serviceaccounts/{name}", f"service account {namespace}/{name}"
        )
        return cast(dict[str, str], obj.get("metadata", {}).get("annotations") or {})

    async def node_labels(self, name: str) -> dict[str, str]:
        obj = await self.get(f"/api/v1/nodes/{name}", f"node {name}")
        return cast(dict[str, str], obj.get("metadata", {}).get("labels") or {})

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
