"""A small asyncio Kubernetes API client over aiohttp: in-cluster config or a kubeconfig file.

Only what the driver needs (get, list, create, replace, merge-patch, delete of JSON objects). The full
`kubernetes` client is deliberately not used: it costs tens of MiB of RSS per process.
"""

from __future__ import annotations

import base64
import json
import os
import ssl
import tempfile
import urllib.parse
from dataclasses import dataclass
from typing import Any

import aiohttp
import yaml

SA_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
JSON = dict[str, Any]


class KubeError(Exception):
    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(f"{status} {reason}: {message}")
        self.status = status
        self.reason = reason
        self.message = message

    @property
    def not_found(self) -> bool:
        return self.status == 404

    @property
    def conflict(self) -> bool:
        return self.status == 409


@dataclass
class KubeConfig:
    server: str
    token: str = ""
    token_file: str = ""
    ssl_context: ssl.SSLContext | bool = True

    def bearer(self) -> str:
        if self.token_file:
            with open(self.token_file, encoding="utf-8") as fh:
                return fh.read().strip()
        return self.token


def _write_temp(data: bytes) -> str:
    fd, path = tempfile.mkstemp(prefix="ssc-kube-")
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    return path


def _load_material(entry: dict[str, Any], key: str, base_dir: str) -> str | None:
    """Return a file path for `key` (a path) or `key-data` (base64), as kubeconfig allows both."""
    if entry.get(f"{key}-data"):
        return _write_temp(base64.b64decode(entry[f"{key}-data"]))
    if entry.get(key):
        path = str(entry[key])
        return path if os.path.isabs(path) else os.path.join(base_dir, path)
    return None


def load_kubeconfig(path: str) -> KubeConfig:
    with open(path, encoding="utf-8") as fh:
        doc = yaml.safe_load(fh)
    base_dir = os.path.dirname(os.path.abspath(path))
    contexts = {c["name"]: c["context"] for c in doc.get("contexts", [])}
    clusters = {c["name"]: c["cluster"] for c in doc.get("clusters", [])}
    users = {u["name"]: u.get("user", {}) for u in doc.get("users", [])}
    ctx_name = doc.get("current-context") or next(iter(contexts))
    ctx = contexts[ctx_name]
    cluster = clusters[ctx["cluster"]]
    user = users.get(ctx.get("user", ""), {})
    ssl_ctx: ssl.SSLContext | bool
    if cluster.get("insecure-skip-tls-verify"):
        ssl_ctx = False
    else:
        ssl_ctx = ssl.create_default_context()
        ca = _load_material(cluster, "certificate-authority", base_dir)
        if ca:
            ssl_ctx.load_verify_locations(cafile=ca)
    cert = _load_material(user, "client-certificate", base_dir)
    key = _load_material(user, "client-key", base_dir)
    if cert and key:
        if ssl_ctx is False:
            ssl_ctx = ssl.create_default_context()
            ssl_ctx.check_hostname = False
            ssl_ctx.verify_mode = ssl.CERT_NONE
        assert isinstance(ssl_ctx, ssl.SSLContext)
        ssl_ctx.load_cert_chain(cert, key)
    return KubeConfig(
        server=str(cluster["server"]).rstrip("/"),
        token=str(user.get("token", "")),
        token_file=str(user.get("tokenFile", "")),
        ssl_context=ssl_ctx,
    )


def in_cluster_config() -> KubeConfig:
    host = os.environ.get("KUBERNETES_SERVICE_HOST")
    port = os.environ.get("KUBERNETES_SERVICE_PORT", "443")
    if not host:
        raise RuntimeError(
            "not running in a cluster (KUBERNETES_SERVICE_HOST unset) and no --kubeconfig given"
        )
    if ":" in host:
        host = f"[{host}]"
    ssl_ctx = ssl.create_default_context(cafile=os.path.join(SA_DIR, "ca.crt"))
    return KubeConfig(
        server=f"https://{host}:{port}", token_file=os.path.join(SA_DIR, "token"), ssl_context=ssl_ctx
    )


def load_config(kubeconfig: str) -> KubeConfig:
    return load_kubeconfig(kubeconfig) if kubeconfig else in_cluster_config()


class KubeClient:
    def __init__(self, config: KubeConfig, timeout: float = 15.0) -> None:
        self._config = config
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    async def _sess(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(ssl=self._config.ssl_context, limit=16)
            self._session = aiohttp.ClientSession(connector=connector, timeout=self._timeout)
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def request(
        self,
        method: str,
        path: str,
        body: JSON | None = None,
        content_type: str = "application/json",
        params: dict[str, str] | None = None,
    ) -> JSON:
        session = await self._sess()
        headers = {"Accept": "application/json"}
        bearer = self._config.bearer()
        if bearer:
            headers["Authorization"] = f"Bearer {bearer}"
        data = None
        if body is not None:
            headers["Content-Type"] = content_type
            data = json.dumps(body)
        async with session.request(
            method, self._config.server + path, data=data, headers=headers, params=params
        ) as resp:
            text = await resp.text()
            if resp.status >= 400:
                reason, message = resp.reason or "", text
                try:
                    status = json.loads(text)
                    reason = status.get("reason", reason)
                    message = status.get("message", message)
                except ValueError:
                    pass
                raise KubeError(resp.status, str(reason), str(message))
            return json.loads(text) if text else {}

    async def get(self, path: str) -> JSON:
        return await self.request("GET", path)

    async def list(self, path: str, label_selector: str = "") -> JSON:
        params = {"labelSelector": label_selector} if label_selector else None
        return await self.request("GET", path, params=params)

    async def create(self, path: str, body: JSON) -> JSON:
        return await self.request("POST", path, body)

    async def replace(self, path: str, body: JSON) -> JSON:
        return await self.request("PUT", path, body)

    async def merge_patch(self, path: str, body: JSON) -> JSON:
        return await self.request("PATCH", path, body, content_type="application/merge-patch+json")

    async def delete(self, path: str) -> JSON:
        return await self.request("DELETE", path)


SPC_GROUP = "secrets-store.csi.x-k8s.io"
SPC_VERSION = "v1"


def name_problem(name: str) -> str:
    """Why `name` cannot be an object name in an API path ("" when it can): the apiserver's own rule for
    path segments. Names come from pods and SecretProviderClasses; "../../<other namespace>/..." would
    otherwise reach another namespace once the HTTP client normalises the URL."""
    if not name:
        return "it is empty"
    if name in (".", ".."):
        return f"{name!r} is not a name"
    for bad in ("/", "%"):
        if bad in name:
            return f"it contains {bad!r}"
    return ""


def _segment(value: str, what: str) -> str:
    problem = name_problem(value)
    if problem:
        raise KubeError(400, "Invalid", f"{what} {value!r} is not a valid object name: {problem}")
    return urllib.parse.quote(value, safe="")


def _path(prefix: str, namespace: str, resource: str, name: str) -> str:
    base = f"{prefix}/namespaces/{_segment(namespace, 'namespace')}/{resource}"
    return f"{base}/{_segment(name, resource[:-1] + ' name')}" if name else base


def spc_path(namespace: str, name: str = "") -> str:
    return _path(f"/apis/{SPC_GROUP}/{SPC_VERSION}", namespace, "secretproviderclasses", name)


def spcps_path(namespace: str, name: str = "") -> str:
    return _path(f"/apis/{SPC_GROUP}/{SPC_VERSION}", namespace, "secretproviderclasspodstatuses", name)


def pod_path(namespace: str, name: str) -> str:
    return _path("/api/v1", namespace, "pods", name)


def secret_path(namespace: str, name: str = "") -> str:
    return _path("/api/v1", namespace, "secrets", name)


def events_path(namespace: str) -> str:
    return _path("/api/v1", namespace, "events", "")
