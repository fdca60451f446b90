"""`ObjectClient`: objects addressed by apiVersion, kind, namespace and name, through API discovery.

For callers that handle many kinds (the operator applies whatever the driver chart renders): the plural
and scope of each kind come from discovery, remembered per process; writes are server-side apply.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from secrets_store_csi.kube.client import JSON, KubeClient
from secrets_store_csi.kube.errors import KubeError


class ObjectKey(Protocol):
    @property
    def api_version(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def namespace(self) -> str: ...
    @property
    def name(self) -> str: ...


@dataclass(frozen=True)
class Resource:
    plural: str
    namespaced: bool


def _group_base(api_version: str) -> str:
    return f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"


class ObjectClient:
    def __init__(self, client: KubeClient, field_manager: str) -> None:
        self.client = client
        self.field_manager = field_manager
        self._resources: dict[tuple[str, str], Resource] = {}

    async def close(self) -> None:
        await self.client.close()

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: object = None,
        content_type: str = "application/json",
    ) -> JSON:
        return await self.client.request(method, path, body, content_type=content_type, params=params)

    async def version(self) -> str:
        return str((await self.client.get("/version"))["gitVersion"])

    async def resource(self, api_version: str, kind: str) -> Resource:
        """The plural name and scope of a kind, from API discovery (remembered per process)."""
        key = (api_version, kind)
        if key not in self._resources:
            listing = await self.client.get(_group_base(api_version))
            for item in listing.get("resources", []):
                if "/" not in item["name"]:
                    self._resources[(api_version, item["kind"])] = Resource(item["name"], item["namespaced"])
            if key not in self._resources:
                raise KubeError(404, f"the API server does not serve {kind} in {api_version}", "NotFound")
        return self._resources[key]

    async def path(self, api_version: str, kind: str, namespace: str = "", name: str = "") -> str:
        res = await self.resource(api_version, kind)
        base = _group_base(api_version)
        if res.namespaced and namespace:
            base += f"/namespaces/{namespace}"
        base += f"/{res.plural}"
        return f"{base}/{name}" if name else base

    async def get(self, ref: ObjectKey) -> dict[str, Any] | None:
        """The object, or None when it does not exist."""
        try:
            return await self.client.get(await self.path(ref.api_version, ref.kind, ref.namespace, ref.name))
        except KubeError as error:
            if error.not_found:
                return None
            raise

    async def list(
        self, api_version: str, kind: str, namespace: str = "", label_selector: str = ""
    ) -> list[dict[str, Any]]:
        listing = await self.client.list(await self.path(api_version, kind, namespace), label_selector)
        items: list[dict[str, Any]] = listing.get("items", [])
        for item in items:  # lists leave these out of their items
            item.setdefault("apiVersion", api_version)
            item.setdefault("kind", kind)
        return items

    async def apply(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        """Server-side apply as the field manager, taking back fields others changed."""
        meta = obj.get("metadata") or {}
        path = await self.path(
            str(obj["apiVersion"]), str(obj["kind"]), str(meta.get("namespace") or ""), str(meta["name"])
        )
        return await self.client.request(
            "PATCH",
            path,
            obj,
            params={"fieldManager": self.field_manager, "force": "true"},
            content_type="application/apply-patch+yaml",
        )

    async def delete(self, ref: ObjectKey, propagation: str = "Background") -> bool:
        """Delete; False when it was already gone."""
        try:
            await self.client.delete(
                await self.path(ref.api_version, ref.kind, ref.namespace, ref.name),
                {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": propagation},
            )
        except KubeError as error:
            if error.not_found:
                return False
            raise
        return True

    async def patch_status(self, ref: ObjectKey, status: Mapping[str, Any]) -> None:
        path = await self.path(ref.api_version, ref.kind, ref.namespace, ref.name)
        await self.client.merge_patch(path + "/status", {"status": dict(status)})
