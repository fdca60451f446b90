"""Azure Key Vault provider: Key Vault REST api-version 7.4 over aiohttp.

Auth: workload identity (`clientID` + the pod's token for `api://AzureADTokenExchange`), a service
principal from the nodePublishSecretRef Secret (`clientid`, `clientsecret`), or the node's managed
identity (`useVMManagedIdentity`, `userAssignedIdentityID`). Throttling (429) is retried after Retry-After.

Clouds: `cloudName` picks the Key Vault DNS suffix and the Azure AD authority (AzurePublicCloud,
AzureUSGovernmentCloud, AzureChinaCloud, AzureGermanCloud); `AzureStackCloud` reads both from the JSON
file named by AZURE_ENVIRONMENT_FILEPATH (keys `keyVaultDNSSuffix`, `activeDirectoryEndpoint`,
`resourceIdentifiers.keyVault`), as upstream. AZURE_AUTHORITY_HOST overrides the authority,
AZURE_POD_IDENTITY_AUTHORITY_HOST the managed-identity endpoint; extra CAs come from SSL_CERT_FILE.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import re
import ssl
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import aiohttp
import yaml

from secrets_store_csi.providers.azure_content import cert_pem, key_pem, secret_content
from secrets_store_csi.providers.errors import ErrorCode, ProviderError, from_http_status, invalid
from secrets_store_csi.providers.httpclient import request
from secrets_store_csi.providers.mountspec import (
    MountResult,
    MountSpec,
    check_unique,
    object_fields,
    parse_bool,
)
from secrets_store_csi.providers.paths import check_relative_path, parse_file_permission

log = logging.getLogger(__name__)

API_VERSION = "7.4"
WI_AUDIENCE = "api://AzureADTokenExchange"
IMDS = "http://169.254.169.254"
_VAULT_NAME = re.compile(r"^[A-Za-z0-9-]{3,24}$")
_OBJECT_NAME = re.compile(r"^[A-Za-z0-9-]{1,127}$")
_VERSION = re.compile(r"^[A-Za-z0-9]{0,64}$")
OBJECT_KEYS = {
    "objectName",
    "objectType",
    "objectVersion",
    "objectAlias",
    "objectFormat",
    "objectEncoding",
    "filePermission",
    "objectVersionHistory",
}


@dataclass(frozen=True)
class Cloud:
    dns_suffix: str
    authority: str
    resource: str


CLOUDS = {
    "azurepubliccloud": Cloud(
        "vault.azure.net", "https://login.microsoftonline.com/", "https://vault.azure.net"
    ),
    "azureusgovernmentcloud": Cloud(
        "vault.usgovcloudapi.net", "https://login.microsoftonline.us/", "https://vault.usgovcloudapi.net"
    ),
    "azurechinacloud": Cloud("vault.azure.cn", "https://login.chinacloudapi.cn/", "https://vault.azure.cn"),
    "azuregermancloud": Cloud(
        "vault.microsoftazure.de", "https://login.microsoftonline.de/", "https://vault.microsoftazure.de"
    ),
}


def resolve_cloud(name: str) -> Cloud:
    key = (name or "AzurePublicCloud").lower()
    if key == "azurestackcloud":
        path = os.environ.get("AZURE_ENVIRONMENT_FILEPATH", "")
        if not path:
            raise invalid("cloudName AzureStackCloud needs AZURE_ENVIRONMENT_FILEPATH on the provider")
        try:
            with open(path, encoding="utf-8") as f:
                env = json.load(f)
            suffix = str(env["keyVaultDNSSuffix"]).lstrip(".")
            authority = str(env["activeDirectoryEndpoint"])
        except (OSError, ValueError, KeyError) as exc:
            raise invalid(
                f"custom cloud file {path} is unreadable or lacks keyVaultDNSSuffix / activeDirectoryEndpoint"
            ) from exc
        resource = str(env.get("resourceIdentifiers", {}).get("keyVault") or f"https://{suffix}")
        cloud = Cloud(suffix, authority, resource)
    elif key in CLOUDS:
        cloud = CLOUDS[key]
    else:
        raise invalid(
            f"cloudName {name!r} is not one of AzurePublicCloud, AzureUSGovernmentCloud, "
            "AzureChinaCloud, AzureGermanCloud, AzureStackCloud"
        )
    authority = os.environ.get("AZURE_AUTHORITY_HOST") or cloud.authority
    return Cloud(cloud.dns_suffix, authority.rstrip("/") + "/", cloud.resource.rstrip("/"))


@dataclass(frozen=True)
class AzureObject:
    name: str
    type: str
    version: str
    alias: str
    format: str
    encoding: str
    mode: int
    history: int

    @property
    def file_name(self) -> str:
        return self.alias or self.name


@dataclass(frozen=True)
class AzureParams:
    vault_name: str
    tenant_id: str
    cloud_name: str
    client_id: str
    use_vm_identity: bool
    user_assigned_id: str
    objects: tuple[AzureObject, ...]


def parse_objects(raw: str, default_mode: int) -> tuple[AzureObject, ...]:
    try:
        doc = yaml.safe_load(raw) if raw else None
    except yaml.YAMLError as exc:
        raise invalid("objects is not valid YAML") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("array"), list) or not doc["array"]:
        raise invalid("objects must be a YAML mapping with a non-empty `array` list")
    objects: list[AzureObject] = []
    for entry in doc["array"]:
        try:
            item = yaml.safe_load(entry) if isinstance(entry, str) else entry
        except yaml.YAMLError as exc:
            raise invalid("an entry of objects.array is not valid YAML") from exc
        item, name = object_fields(
            item, OBJECT_KEYS, "each entry of objects.array must be a mapping with objectName and objectType"
        )
        if not _OBJECT_NAME.match(name):
            raise invalid("objectName must be 1-127 letters, digits or dashes", name)
        otype = str(item.get("objectType") or "").lower()
        if otype not in ("secret", "key", "cert"):
            raise invalid(f"objectType {item.get('objectType')!r} must be secret, key or cert", name)
        version = str(item.get("objectVersion") or "")
        if not _VERSION.match(version):
            raise invalid(f"objectVersion {version!r} is not a Key Vault version id", name)
        alias = str(item.get("objectAlias") or "")
        if alias:
            check_relative_path(alias, name)
        fmt = str(item.get("objectFormat") or "pem").lower()
        if fmt not in ("pem", "pfx"):
            raise invalid(f"objectFormat {fmt!r} must be pem or pfx", name)
        if fmt == "pfx" and otype != "secret":
            raise invalid("objectFormat pfx is only supported for objectType secret", name)
        encoding = str(item.get("objectEncoding") or "utf-8").lower()
        if encoding not in ("utf-8", "hex", "base64"):
            raise invalid(f"objectEncoding {encoding!r} must be utf-8, hex or base64", name)
        if encoding != "utf-8" and otype != "secret":
            raise invalid("objectEncoding is only supported for objectType secret", name)
        mode = (
            parse_file_permission(item["filePermission"], name) if "filePermission" in item else default_mode
        )
        raw_history = item.get("objectVersionHistory", 0) or 0
        try:
            history = int(raw_history)
        except (TypeError, ValueError) as exc:
            raise invalid(f"objectVersionHistory {raw_history!r} must be a number", name) from exc
        if history < 0 or history > 200:
            raise invalid("objectVersionHistory must be between 0 and 200", name)
        if history > 1 and version:
            raise invalid("objectVersionHistory and objectVersion cannot be combined", name)
        objects.append(AzureObject(name, otype, version, alias, fmt, encoding, mode, history))
    check_unique([o.file_name for o in objects], "file name (objectAlias or objectName)")
    return tuple(objects)


def parse_params(attrs: dict[str, str], default_mode: int) -> AzureParams:
    vault = attrs.get("keyvaultName", "")
    if not _VAULT_NAME.match(vault):
        raise invalid(f"keyvaultName {vault!r} must be 3-24 letters, digits or dashes")
    tenant = attrs.get("tenantId") or attrs.get("tenantID") or ""
    if not tenant:
        raise invalid("tenantId is required")
    if not re.match(r"^[A-Za-z0-9.-]{1,100}$", tenant):
        raise invalid(f"tenantId {tenant!r} is not a tenant id or domain")
    flags = {
        f: parse_bool(attrs.get(f), f)
        for f in ("usePodIdentity", "useVMManagedIdentity", "useAzureTokenProxy")
    }
    if sum(flags.values()) > 1:
        raise invalid("set at most one of usePodIdentity, useVMManagedIdentity, useAzureTokenProxy")
    if flags["usePodIdentity"]:
        raise invalid("usePodIdentity (AAD pod identity) is retired: use workload identity (clientID)")
    if flags["useAzureTokenProxy"]:
        raise invalid(
            "useAzureTokenProxy is not supported by this provider: use workload identity (clientID)"
        )
    return AzureParams(
        vault_name=vault,
        tenant_id=tenant,
        cloud_name=attrs.get("cloudName", ""),
        client_id=attrs.get("clientID", ""),
        use_vm_identity=flags["useVMManagedIdentity"],
        user_assigned_id=attrs.get("userAssignedIdentityID", ""),
        objects=parse_objects(attrs.get("objects", ""), default_mode),
    )


class AzureProvider:
    name = "azure"

    def __init__(self) -> None:
        self._session: aiohttp.ClientSession | None = None
        self._tokens: dict[str, tuple[str, float]] = {}
        self._ssl = ssl.create_default_context()  # honours SSL_CERT_FILE / SSL_CERT_DIR

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
        return self._session

    # ---- tokens -------------------------------------------------------------------------------------

    async def token(self, params: AzureParams, cloud: Cloud, spec: MountSpec) -> str:
        scope = f"{cloud.resource}/.default"
        secrets = {k.lower(): v for k, v in spec.secrets.items()}
        form: dict[str, str]
        if params.client_id:
            assertion = spec.token_for(WI_AUDIENCE)
            if not assertion:
                raise ProviderError(
                    ErrorCode.UNAUTHENTICATED,
                    f"workload identity needs a service-account token "
                    f"for audience {WI_AUDIENCE!r} in the CSIDriver's tokenRequests",
                )
            form = {
                "grant_type": "client_credentials",
                "client_id": params.client_id,
                "scope": scope,
                "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                "client_assertion": assertion,
            }
            mode = "workload identity"
        elif params.use_vm_identity:
            return await self.managed_identity_token(params, cloud)
        elif secrets.get("clientid") and secrets.get("clientsecret"):
            form = {
                "grant_type": "client_credentials",
                "client_id": secrets["clientid"],
                "client_secret": secrets["clientsecret"],
                "scope": scope,
            }
            mode = "service principal"
        else:
            raise ProviderError(
                ErrorCode.UNAUTHENTICATED,
                "no credentials: set clientID (workload identity), "
                "useVMManagedIdentity, or a nodePublishSecretRef with clientid and clientsecret",
            )
        key = hashlib.sha256(
            json.dumps([cloud.authority, params.tenant_id, sorted(form.items())]).encode()
        ).hexdigest()
        cached = self._tokens.get(key)
        if cached and cached[1] > time.time():
            return cached[0]
        url = f"{cloud.authority}{quote(params.tenant_id)}/oauth2/v2.0/token"
        resp = await request(
            self._http(), "POST", url, provider="azure", operation="aad.token", data=form, ssl_ctx=self._ssl
        )
        return self._remember(key, resp.status, resp.body, mode)

    async def managed_identity_token(self, params: AzureParams, cloud: Cloud) -> str:
        host = (os.environ.get("AZURE_POD_IDENTITY_AUTHORITY_HOST") or IMDS).rstrip("/")
        query = {"api-version": "2018-02-01", "resource": cloud.resource}
        if params.user_assigned_id:
            query["client_id"] = params.user_assigned_id
        key = hashlib.sha256(json.dumps([host, sorted(query.items())]).encode()).hexdigest()
        cached = self._tokens.get(key)
        if cached and cached[1] > time.time():
            return cached[0]
        resp = await request(
            self._http(),
            "GET",
            f"{host}/metadata/identity/oauth2/token",
            provider="azure",
            operation="imds.token",
            params=query,
            headers={"Metadata": "true"},
            ssl_ctx=self._ssl,
        )
        return self._remember(key, resp.status, resp.body, "managed identity")

    def _remember(self, key: str, status: int, body: Any, mode: str) -> str:
        if status != 200 or not isinstance(body, dict) or not body.get("access_token"):
            code = ""
            if isinstance(body, dict):
                code = str(body.get("error", ""))
            raise ProviderError(
                ErrorCode.UNAUTHENTICATED,
                f"{mode} token request failed (HTTP {status}{', ' + code if code else ''})",
            )
        try:
            lifetime = float(body.get("expires_in") or 300)
        except ValueError:
            lifetime = 300.0
        self._tokens[key] = (str(body["access_token"]), time.time() + max(lifetime - 300, 30))
        return str(body["access_token"])

    # ---- Key Vault ----------------------------------------------------------------------------------

    async def get(
        self,
        base: str,
        token: str,
        path: str,
        obj: str,
        *,
        operation: str,
        query: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        params = {"api-version": API_VERSION, **(query or {})}
        resp = await request(
            self._http(),
            "GET",
            f"{base}{path}",
            provider="azure",
            operation=operation,
            obj=obj,
            params=params,
            headers={"Authorization": f"Bearer {token}"},
            ssl_ctx=self._ssl,
        )
        if resp.status != 200 or not isinstance(resp.body, dict):
            detail = ""
            if isinstance(resp.body, dict) and isinstance(resp.body.get("error"), dict):
                detail = f", {resp.body['error'].get('code', '')}"
            raise from_http_status(
                resp.status, f"Key Vault {operation} answered HTTP {resp.status}{detail}", obj
            )
        return resp.body

    async def versions(self, base: str, token: str, obj: AzureObject) -> list[str]:
        """Enabled versions, newest first (paged listing)."""
        kind = "certificates" if obj.type == "cert" else f"{obj.type}s"
        items: list[dict[str, Any]] = []
        body = await self.get(
            base,
            token,
            f"/{kind}/{quote(obj.name)}/versions",
            obj.name,
            operation=f"{obj.type}.versions",
            query={"maxresults": "25"},
        )
        items.extend(body.get("value", []))
        while body.get("nextLink"):
            next_link = str(body["nextLink"])
            if not next_link.startswith(base + "/"):
                raise ProviderError(ErrorCode.INTERNAL, "Key Vault nextLink points to another host", obj.name)
            path = next_link[len(base) :].split("?", 1)
            query = dict(p.split("=", 1) for p in path[1].split("&") if "=" in p) if len(path) > 1 else {}
            query.pop("api-version", None)
            body = await self.get(
                base, token, path[0], obj.name, operation=f"{obj.type}.versions", query=query
            )
            items.extend(body.get("value", []))
        enabled = [i for i in items if i.get("attributes", {}).get("enabled", True)]
        enabled.sort(key=lambda i: i.get("attributes", {}).get("created", 0), reverse=True)
        return [str(i["id"]).rstrip("/").rsplit("/", 1)[-1] for i in enabled]

    async def fetch(self, base: str, token: str, obj: AzureObject, version: str) -> tuple[str, bytes]:
        suffix = f"/{quote(version)}" if version else ""
        if obj.type == "secret":
            body = await self.get(
                base, token, f"/secrets/{quote(obj.name)}{suffix}", obj.name, operation="secret.get"
            )
            content = secret_content(body, obj.format, obj.encoding, obj.name)
            ident = str(body.get("id", ""))
        elif obj.type == "key":
            body = await self.get(
                base, token, f"/keys/{quote(obj.name)}{suffix}", obj.name, operation="key.get"
            )
            content = key_pem(body.get("key", {}), obj.name)
            ident = str(body.get("key", {}).get("kid", ""))
        else:
            body = await self.get(
                base, token, f"/certificates/{quote(obj.name)}{suffix}", obj.name, operation="cert.get"
            )
            content = cert_pem(str(body.get("cer", "")))
            ident = str(body.get("id", ""))
        return ident.rstrip("/").rsplit("/", 1)[-1], content

    async def mount(self, spec: MountSpec) -> MountResult:
        params = parse_params(spec.attributes, spec.default_mode)
        cloud = resolve_cloud(params.cloud_name)
        token = await self.token(params, cloud, spec)
        base = f"https://{params.vault_name}.{cloud.dns_suffix}"

        async def one(obj: AzureObject) -> list[tuple[str, str, int, bytes]]:
            if obj.history > 1:
                versions = (await self.versions(base, token, obj))[: obj.history]
                got = await asyncio.gather(*[self.fetch(base, token, obj, v) for v in versions])
                return [(f"{obj.file_name}/{i}", v, obj.mode, c) for i, (v, c) in enumerate(got)]
            version, content = await self.fetch(base, token, obj, obj.version)
            return [(obj.file_name, version, obj.mode, content)]

        parts = await asyncio.gather(*[one(o) for o in params.objects])
        result = MountResult()
        for part in parts:
            for path, version, mode, content in part:
                result.add(path, mode, content)
                result.versions.append((path, version))
        return result
