"""`KubeClient`: JSON requests to the API server over one pooled aiohttp session."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from typing import Any

import aiohttp

from secrets_store_csi.kube.config import KubeConfig
from secrets_store_csi.kube.errors import KubeError

JSON = dict[str, Any]


class KubeClient:
    def __init__(self, config: KubeConfig, timeout: float = 15.0, connections: int = 16) -> None:
        self.config = config
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._connections = connections
        self._session: aiohttp.ClientSession | None = None

    def _sess(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(ssl=self.config.ssl_context, limit=self._connections)
            self._session = aiohttp.ClientSession(connector=connector, timeout=self._timeout)
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _headers(self) -> dict[str, str]:
        return {"Accept": "application/json", **self.config.headers()}

    async def request(
        self,
        method: str,
        path: str,
        body: object = None,
        *,
        content_type: str = "application/json",
        params: Mapping[str, str] | None = None,
    ) -> JSON:
        """One request; the decoded JSON answer ({} when empty). KubeError for an HTTP error."""
        headers = self._headers()
        data = None
        if body is not None:
            headers["Content-Type"] = content_type
            data = json.dumps(body)
        async with self._sess().request(
            method, self.config.server + path, data=data, headers=headers, params=params
        ) as resp:
            text = await resp.text()
            if resp.status >= 400:
                raise _error(method, path, resp.status, resp.reason or "", text)
            return json.loads(text) if text else {}

    async def get(self, path: str) -> JSON:
        return await self.request("GET", path)

    async def list(self, path: str, label_selector: str = "") -> JSON:
        return await self.request(
            "GET", path, params={"labelSelector": label_selector} if label_selector else None
        )

    async def create(self, path: str, body: JSON) -> JSON:
        return await self.request("POST", path, body)

    async def replace(self, path: str, body: JSON) -> JSON:
        return await self.request("PUT", path, body)

    async def merge_patch(self, path: str, body: JSON) -> JSON:
        return await self.request("PATCH", path, body, content_type="application/merge-patch+json")

    async def delete(self, path: str, body: JSON | None = None) -> JSON:
        return await self.request("DELETE", path, body)

    async def watch(
        self, path: str, resource_version: str, timeout_seconds: int = 300
    ) -> AsyncIterator[JSON]:
        """The events of a watch from `resource_version` (ADDED, MODIFIED, DELETED, BOOKMARK, ERROR), one
        JSON object per line, until the server ends it (after about `timeout_seconds`)."""
        params = {
            "watch": "1",
            "resourceVersion": resource_version,
            "allowWatchBookmarks": "true",
            "timeoutSeconds": str(timeout_seconds),
        }
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=15, sock_read=timeout_seconds + 30)
        async with self._sess().get(
            self.config.server + path, headers=self._headers(), params=params, timeout=timeout
        ) as resp:
            if resp.status >= 400:
                raise _error("GET", path, resp.status, resp.reason or "", await resp.text())
            async for line in resp.content:
                if line.strip():
                    yield json.loads(line)


def _error(method: str, path: str, status: int, reason: str, text: str) -> KubeError:
    message = text
    try:
        doc = json.loads(text)
        reason = str(doc.get("reason") or reason)
        message = str(doc.get("message") or text)
    except (ValueError, AttributeError):
        pass
    return KubeError(status, f"{method} {path}: {status} {reason}: {message}", reason)
