"""The shared client against a real HTTP server on localhost: errors name the request, lists and watches."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from secrets_store_csi.kube.client import KubeClient
from secrets_store_csi.kube.config import KubeConfig
from secrets_store_csi.kube.errors import KubeError
from secrets_store_csi.kube.objects import ObjectClient


async def _pods(request: web.Request) -> web.StreamResponse:
    if request.query.get("watch") == "1":
        resp = web.StreamResponse()
        await resp.prepare(request)
        for kind in ("ADDED", "DELETED"):
            event = {"type": kind, "object": {"metadata": {"name": "p", "resourceVersion": "2"}}}
            await resp.write(json.dumps(event).encode() + b"\n")
        await resp.write_eof()
        return resp
    assert request.headers["Authorization"] == "Bearer t"
    return web.json_response(
        {"items": [{"metadata": {"name": "p"}}], "selector": request.query.get("labelSelector")}
    )


async def _missing(request: web.Request) -> web.Response:
    body = {"kind": "Status", "reason": "NotFound", "message": 'pods "gone" not found'}
    return web.json_response(body, status=404)


async def _discovery(request: web.Request) -> web.Response:
    return web.json_response({"resources": [{"name": "pods", "kind": "Pod", "namespaced": True}]})


@pytest.fixture
async def client() -> AsyncIterator[KubeClient]:
    app = web.Application()
    app.router.add_get("/api/v1/namespaces/ns/pods", _pods)
    app.router.add_get("/api/v1/namespaces/ns/pods/gone", _missing)
    app.router.add_get("/api/v1", _discovery)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    c = KubeClient(KubeConfig(f"http://127.0.0.1:{port}", ssl_context=False, token="t"))
    yield c
    await c.close()
    await runner.cleanup()


async def test_list_sends_the_token_and_the_label_selector(client: KubeClient) -> None:
    out = await client.list("/api/v1/namespaces/ns/pods", "app=x")
    assert out["selector"] == "app=x" and out["items"][0]["metadata"]["name"] == "p"


async def test_an_error_names_the_request_and_the_servers_reason(client: KubeClient) -> None:
    with pytest.raises(KubeError) as err:
        await client.get("/api/v1/namespaces/ns/pods/gone")
    assert err.value.not_found and err.value.reason == "NotFound"
    assert str(err.value) == 'GET /api/v1/namespaces/ns/pods/gone: 404 NotFound: pods "gone" not found'


async def test_watch_yields_one_event_per_line(client: KubeClient) -> None:
    events = [e["type"] async for e in client.watch("/api/v1/namespaces/ns/pods", "1")]
    assert events == ["ADDED", "DELETED"]


async def test_object_client_finds_paths_by_discovery_and_reads_missing_as_none(client: KubeClient) -> None:
    from secrets_store_csi.operator.inventory import ObjectRef

    objects = ObjectClient(client, "test")
    assert await objects.path("v1", "Pod", "ns", "x") == "/api/v1/namespaces/ns/pods/x"
    assert await objects.get(ObjectRef("v1", "Pod", "ns", "gone")) is None
    with pytest.raises(KubeError) as err:
        await objects.resource("v1", "Lease")
    assert err.value.not_found
