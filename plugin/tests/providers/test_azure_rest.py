"""Azure provider's REST logic against a local Key Vault-shaped HTTPS server (unit tier).

This checks request shapes, token flows, 429 handling, version history and content wiring. It is not the
proof of interoperability with Key Vault: no Key Vault emulator could be fetched here (see
docs/providers/azure.md).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import socket
import ssl
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from secrets_store_csi.providers.azure import AzureProvider
from secrets_store_csi.providers.errors import ErrorCode, ProviderError
from secrets_store_csi.providers.mountspec import parse_mount_request

from .provider_certs import make_chain


class LocalResolver(AbstractResolver):
    async def resolve(self, host: str, port: int = 0, family: int = socket.AF_INET) -> list[ResolveResult]:
        return [
            {
                "hostname": host,
                "host": "127.0.0.1",
                "port": port,
                "family": socket.AF_INET,
                "proto": 0,
                "flags": 0,
            }
        ]

    async def close(self) -> None:
        return None


def tls_pair(tmp: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "vault.test")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("*.vault.test"), x509.DNSName("login.test")]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    (tmp / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(tmp / "cert.pem", tmp / "key.pem")
    client = ssl.create_default_context(cafile=str(tmp / "cert.pem"))
    return server, client


class KeyVault:
    """Enough of Key Vault 7.4 and Azure AD to exercise the provider."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        self.token_forms: list[dict[str, str]] = []
        self.throttle_once = {"throttled"}
        self.secrets = {"plain": [("v1", "one", 1), ("v2", "two", 2), ("v3", "three", 3)]}
        self.chain = make_chain()

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/{tenant}/oauth2/v2.0/token", self.token)
        app.router.add_get("/metadata/identity/oauth2/token", self.imds)
        app.router.add_get("/secrets/{name}/versions", self.versions)
        app.router.add_get("/secrets/{name}", self.secret)
        app.router.add_get("/secrets/{name}/{version}", self.secret)
        app.router.add_get("/certificates/{name}", self.cert)
        return app

    async def token(self, request: web.Request) -> web.Response:
        form = dict(await request.post())
        self.token_forms.append({k: str(v) for k, v in form.items()})
        if form.get("client_secret") == "wrong":
            return web.json_response({"error": "invalid_client"}, status=401)
        return web.json_response({"access_token": "aad-token", "expires_in": 3600})

    async def imds(self, request: web.Request) -> web.Response:
        assert request.headers.get("Metadata") == "true"
        return web.json_response({"access_token": "mi-token", "expires_in": "3600"})

    def authorized(self, request: web.Request) -> None:
        self.requests.append(request.path)
        assert request.query["api-version"] == "7.4"
        if request.headers.get("Authorization") not in ("Bearer aad-token", "Bearer mi-token"):
            raise web.HTTPUnauthorized()

    async def versions(self, request: web.Request) -> web.Response:
        self.authorized(request)
        name = request.match_info["name"]
        items = [
            {"id": f"https://x/secrets/{name}/{v}", "attributes": {"enabled": True, "created": c}}
            for v, _, c in self.secrets[name]
        ]
        if "page2" in request.query:
            return web.json_response({"value": items[2:]})
        base = f"{request.scheme}://{request.host}"
        return web.json_response(
            {"value": items[:2], "nextLink": f"{base}/secrets/{name}/versions?api-version=7.4&page2=1"}
        )

    async def secret(self, request: web.Request) -> web.Response:
        self.authorized(request)
        name = request.match_info["name"]
        if name in self.throttle_once:
            self.throttle_once.discard(name)
            return web.json_response(
                {"error": {"code": "Throttled"}}, status=429, headers={"Retry-After": "1"}
            )
        if name == "throttled":
            return web.json_response({"id": "https://x/secrets/throttled/abc", "value": "finally"})
        if name == "cert-backed":
            ch = self.chain
            from cryptography.hazmat.primitives.serialization import pkcs12

            pfx = pkcs12.serialize_key_and_certificates(
                b"l", ch.leaf_key, ch.leaf, [ch.intermediate, ch.root], serialization.NoEncryption()
            )
            return web.json_response(
                {
                    "id": "https://x/secrets/cert-backed/c1",
                    "kid": "https://x/keys/cb/c1",
                    "contentType": "application/x-pkcs12",
                    "value": base64.b64encode(pfx).decode(),
                }
            )
        versions = self.secrets.get(name)
        if versions is None:
            return web.json_response({"error": {"code": "SecretNotFound"}}, status=404)
        wanted = request.match_info.get("version")
        for v, value, _ in versions:
            if wanted in (None, v) and (wanted or v == versions[-1][0]):
                return web.json_response({"id": f"https://x/secrets/{name}/{v}", "value": value})
        return web.json_response({"error": {"code": "SecretNotFound"}}, status=404)

    async def cert(self, request: web.Request) -> web.Response:
        self.authorized(request)
        der = self.chain.leaf.public_bytes(serialization.Encoding.DER)
        return web.json_response(
            {"id": "https://x/certificates/c/cv1", "cer": base64.b64encode(der).decode()}
        )


@pytest.fixture
async def env(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[AzureProvider, KeyVault]]:
    server_ctx, client_ctx = tls_pair(tmp_path)
    kv = KeyVault()
    runner = web.AppRunner(kv.app())
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=server_ctx)
    await site.start()
    port = runner.addresses[0][1]
    cloud = tmp_path / "cloud.json"
    cloud.write_text(
        json.dumps(
            {
                "keyVaultDNSSuffix": f"vault.test:{port}",
                "activeDirectoryEndpoint": f"https://login.test:{port}/",
            }
        )
    )
    monkeypatch.setenv("AZURE_ENVIRONMENT_FILEPATH", str(cloud))
    monkeypatch.setenv("AZURE_POD_IDENTITY_AUTHORITY_HOST", f"https://login.test:{port}")
    monkeypatch.delenv("AZURE_AUTHORITY_HOST", raising=False)
    provider = AzureProvider()
    provider._ssl = client_ctx
    provider._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(resolver=LocalResolver()))
    yield provider, kv
    await provider.close()
    await runner.cleanup()


def spec(objects: list[dict[str, Any]], secrets: dict[str, str] | None = None, **attrs: str) -> Any:
    a = {
        "keyvaultName": "kv-test",
        "tenantId": "tenant-1",
        "cloudName": "AzureStackCloud",
        "objects": json.dumps({"array": [json.dumps(o) for o in objects]}),
        **attrs,
    }
    return parse_mount_request(
        json.dumps(a),
        json.dumps(secrets if secrets is not None else {"clientid": "app", "clientsecret": "pw"}),
        "/t",
        "420",
        [],
    )


async def test_service_principal_token_then_secret(env: tuple[AzureProvider, KeyVault]) -> None:
    provider, kv = env
    result = await provider.mount(spec([{"objectName": "plain", "objectType": "secret"}]))
    assert [(f.path, f.contents) for f in result.files] == [("plain", b"three")]
    assert result.versions == [("plain", "v3")]
    form = kv.token_forms[0]
    assert form["grant_type"] == "client_credentials"
    assert form["client_id"] == "app"
    assert form["scope"].endswith("/.default")


async def test_workload_identity_sends_the_pod_token_as_assertion(
    env: tuple[AzureProvider, KeyVault],
) -> None:
    provider, kv = env
    tokens = json.dumps({"api://AzureADTokenExchange": {"token": "pod-jwt", "expirationTimestamp": ""}})
    s = spec(
        [{"objectName": "plain", "objectType": "secret"}],
        secrets={},
        clientID="wi-client",
        **{"csi.storage.k8s.io/serviceAccount.tokens": tokens},
    )
    await provider.mount(s)
    assert kv.token_forms[0]["client_assertion"] == "pod-jwt"
    assert kv.token_forms[0]["client_id"] == "wi-client"


async def test_managed_identity_uses_the_metadata_endpoint(env: tuple[AzureProvider, KeyVault]) -> None:
    provider, kv = env
    s = spec([{"objectName": "plain", "objectType": "secret"}], secrets={}, useVMManagedIdentity="true")
    result = await provider.mount(s)
    assert result.files[0].contents == b"three"
    assert kv.token_forms == []


async def test_throttling_is_retried_after_retry_after(env: tuple[AzureProvider, KeyVault]) -> None:
    provider, kv = env
    result = await provider.mount(spec([{"objectName": "throttled", "objectType": "secret"}]))
    assert result.files[0].contents == b"finally"
    assert kv.requests.count("/secrets/throttled") == 2


async def test_version_history_writes_index_files_newest_first(env: tuple[AzureProvider, KeyVault]) -> None:
    provider, _ = env
    result = await provider.mount(
        spec([{"objectName": "plain", "objectType": "secret", "objectAlias": "p", "objectVersionHistory": 3}])
    )
    assert {f.path: f.contents for f in result.files} == {"p/0": b"three", "p/1": b"two", "p/2": b"one"}
    assert dict(result.versions) == {"p/0": "v3", "p/1": "v2", "p/2": "v1"}


async def test_pinned_version_and_cert_and_cert_backed_secret(env: tuple[AzureProvider, KeyVault]) -> None:
    provider, _ = env
    result = await provider.mount(
        spec(
            [
                {"objectName": "plain", "objectType": "secret", "objectVersion": "v1", "objectAlias": "old"},
                {"objectName": "c", "objectType": "cert"},
                {"objectName": "cert-backed", "objectType": "secret", "filePermission": "0600"},
            ]
        )
    )
    files = {f.path: f for f in result.files}
    assert files["old"].contents == b"one"
    assert files["c"].contents.startswith(b"-----BEGIN CERTIFICATE-----")
    assert files["cert-backed"].contents.startswith(b"-----BEGIN PRIVATE KEY-----")
    assert files["cert-backed"].mode == 0o600


async def test_missing_secret_is_not_found(env: tuple[AzureProvider, KeyVault]) -> None:
    provider, _ = env
    with pytest.raises(ProviderError) as info:
        await provider.mount(spec([{"objectName": "absent", "objectType": "secret"}]))
    assert info.value.code == ErrorCode.NOT_FOUND
    assert "absent" in str(info.value)


async def test_rejected_client_secret_is_an_authentication_error(env: tuple[AzureProvider, KeyVault]) -> None:
    provider, _ = env
    with pytest.raises(ProviderError) as info:
        await provider.mount(
            spec(
                [{"objectName": "plain", "objectType": "secret"}],
                secrets={"clientid": "app", "clientsecret": "wrong"},
            )
        )
    assert info.value.code == ErrorCode.UNAUTHENTICATED
    assert "wrong" not in str(info.value)


async def test_alias_escape_is_rejected_before_any_request(env: tuple[AzureProvider, KeyVault]) -> None:
    provider, kv = env
    with pytest.raises(ProviderError) as info:
        await provider.mount(spec([{"objectName": "plain", "objectType": "secret", "objectAlias": "../x"}]))
    assert info.value.code == ErrorCode.INVALID_PARAMETER
    assert kv.requests == [] and kv.token_forms == []
