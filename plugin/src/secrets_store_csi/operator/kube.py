"""A small asyncio Kubernetes client over aiohttp: discovery, get, list, server-side apply, delete.

Credentials come from kopf's own minimal login helpers (service account in a pod, else KUBECONFIG), so
the operator and kopf talk to the same cluster the same way.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import ssl
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import aiohttp
import kopf

from secrets_store_csi.operator.api import FIELD_MANAGER
from secrets_store_csi.operator.inventory import ObjectRef

SA_TOKEN: Final = "/var/run/secrets/kubernetes.io/serviceaccount/token"  # noqa: S105 - a path, not a secret


class KubeError(Exception):
    """The API server refused a request; the message names the request and the server's reason."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Resource:
    plural: str
    namespaced: bool


def _pem(data: str | bytes) -> bytes:
    raw = data.encode() if isinstance(data, str) else data
    return raw if raw.lstrip().startswith(b"-----") else base64.b64decode(raw)


def _ssl_context(info: kopf.ConnectionInfo) -> ssl.SSLContext | bool:
    if info.insecure:
        return False
    context = ssl.create_default_context()
    if info.ca_path:
        context.load_verify_locations(cafile=os.fsdecode(info.ca_path))
    elif info.ca_data:
        context.load_verify_locations(cadata=_pem(info.ca_data).decode())
    cert, key = info.certificate_path, info.private_key_path
    if info.certificate_data and info.private_key_data:
        # ssl loads client certificates from files only: write them where only root can read, briefly.
        with tempfile.TemporaryDirectory() as tmp:
            cert, key = os.path.join(tmp, "cert.pem"), os.path.join(tmp, "key.pem")
            for path, data in ((cert, info.certificate_data), (key, info.private_key_data)):
                fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
                with os.fdopen(fd, "wb") as f:
                    f.write(_pem(data))
            context.load_cert_chain(cert, key)
    elif cert and key:
        context.load_cert_chain(os.fsdecode(cert), os.fsdecode(key))
    return context


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


class KubeClient:
    def __init__(self, info: kopf.ConnectionInfo) -> None:
        self._info = info
        self._server = info.server.rstrip("/")
        self._ssl = _ssl_context(info)
        self._session: aiohttp.ClientSession | None = None
        self._resources: dict[tuple[str, str], Resource] = {}

    @classmethod
    def from_environment(cls) -> KubeClient:
        return cls(connection_info())

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _headers(self) -> dict[str, str]:
        token = self._info.token
        if token and os.path.exists(SA_TOKEN):
            # Bound service-account tokens rotate: read the kubelet-refreshed file each time.
            with open(SA_TOKEN, encoding="utf-8") as f:
                token = f.read().strip()
        if token:
            return {"Authorization": f"{self._info.scheme or 'Bearer'} {token}"}
        if self._info.username and self._info.password:
            basic = base64.b64encode(f"{self._info.username}:{self._info.password}".encode()).decode()
            return {"Authorization": f"Basic {basic}"}
        return {}

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: object = None,
        content_type: str = "application/json",
    ) -> Any:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
        headers = self._headers()
        data = None
        if body is not None:
            headers["Content-Type"] = content_type
            data = json.dumps(body)
        async with self._session.request(
            method, self._server + path, params=params, data=data, headers=headers, ssl=self._ssl
        ) as response:
            text = await response.text()
            if response.status >= 400:
                try:
                    reason = json.loads(text).get("message", text)
                except ValueError:
                    reason = text
                raise KubeError(response.status, f"{method} {path}: {response.status} {reason}")
            return json.loads(text) if text else None

    async def version(self) -> str:
        info = await self.request("GET", "/version")
        return str(info["gitVersion"])

    async def resource(self, api_version: str, kind: str) -> Resource:
        """The plural name and scope of a kind, from API discovery (remembered per process)."""
        key = (api_version, kind)
        if key not in self._resources:
            base = f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"
            listing = await self.request("GET", base)
            for item in listing.get("resources", []):
                if "/" not in item["name"]:
                    self._resources[(api_version, item["kind"])] = Resource(item["name"], item["namespaced"])
            if key not in self._resources:
                raise KubeError(404, f"the API server does not serve {kind} in {api_version}")
        return self._resources[key]

    async def path(self, api_version: str, kind: str, namespace: str = "", name: str = "") -> str:
        res = await self.resource(api_version, kind)
        base = f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"
        if res.namespaced and namespace:
            base += f"/namespaces/{namespace}"
        base += f"/{res.plural}"
        return f"{base}/{name}" if name else base

    async def get(self, ref: ObjectRef) -> dict[str, Any] | None:
        try:
            obj: dict[str, Any] = await self.request(
                "GET", await self.path(ref.api_version, ref.kind, ref.namespace, ref.name)
            )
        except KubeError as error:
            if error.status == 404:
                return None
            raise
        return obj

    async def list(
        self, api_version: str, kind: str, namespace: str = "", label_selector: str = ""
    ) -> list[dict[str, Any]]:
        params = {"labelSelector": label_selector} if label_selector else None
        listing = await self.request("GET", await self.path(api_version, kind, namespace), params=params)
        items: list[dict[str, Any]] = listing.get("items", [])
        for item in items:  # lists leave these out of their items
            item.setdefault("apiVersion", api_version)
            item.setdefault("kind", kind)
        return items

    async def apply(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        """Server-side apply as the operator's field manager, taking back fields others changed."""
        ref = ObjectRef.of(obj)
        path = await self.path(ref.api_version, ref.kind, ref.namespace, ref.name)
        result: dict[str, Any] = await self.request(
            "PATCH",
            path,
            params={"fieldManager": FIELD_MANAGER, "force": "true"},
            body=obj,
            content_type="application/apply-patch+yaml",
        )
        return result

    async def delete(self, ref: ObjectRef, propagation: str = "Background") -> bool:
        """Delete; False when it was already gone."""
        try:
            await self.request(
                "DELETE",
                await self.path(ref.api_version, ref.kind, ref.namespace, ref.name),
                body={"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": propagation},
            )
        except KubeError as error:
            if error.status == 404:
                return False
            raise
        return True

    async def patch_status(self, ref: ObjectRef, status: Mapping[str, Any]) -> None:
        path = await self.path(ref.api_version, ref.kind, ref.namespace, ref.name)
        await self.request(
            "PATCH", path + "/status", body={"status": status}, content_type="application/merge-patch+json"
        )
