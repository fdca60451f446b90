"""Vault / OpenBao provider: Kubernetes auth with the pod's service-account token, then one read per
distinct secret path (several keys of one secret cost one request). KV v1 and v2, any read endpoint.

Parameters as upstream vault-csi-provider: vaultAddress, roleName, vaultAuthMountPath (or the older
vaultKubernetesMountPath), vaultNamespace, audience, vaultCACertPath, vaultCADirectory, vaultTLSServerName,
vaultTLSClientCertPath, vaultTLSClientKeyPath, vaultSkipTLSVerify, objects (YAML list of objectName,
secretPath, secretKey, method, secretArgs, filePermission, encoding).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import json
import logging
import os
import secrets
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import aiohttp
import yaml

from secrets_store_csi.providers.errors import ErrorCode, ProviderError, from_http_status, invalid
from secrets_store_csi.providers.httpclient import TlsOptions, request, ssl_context
from secrets_store_csi.providers.mountspec import (
    MountResult,
    MountSpec,
    check_unique,
    object_fields,
    parse_bool,
)
from secrets_store_csi.providers.paths import check_relative_path, parse_file_permission

log = logging.getLogger(__name__)

DEFAULT_AUDIENCE = "vault"
OBJECT_KEYS = {"objectName", "secretPath", "secretKey", "method", "secretArgs", "filePermission", "encoding"}


@dataclass(frozen=True)
class VaultObject:
    name: str
    path: str
    key: str
    method: str
    args: str  # JSON of secretArgs, canonical (sorted keys): part of the request identity
    mode: int
    encoding: str

    @property
    def request_key(self) -> tuple[str, str, str]:
        return (self.method, self.path, self.args)


@dataclass(frozen=True)
class VaultParams:
    address: str
    role: str
    mount: str
    namespace: str
    audience: str
    tls: TlsOptions
    server_name: str
    objects: tuple[VaultObject, ...] = field(default=())


def _clean_secret_path(path: str, obj: str) -> str:
    path = path.strip().lstrip("/")
    if path.startswith("v1/"):
        path = path[3:]
    if not path or any(ord(c) < 32 for c in path) or "?" in path or "#" in path:
        raise invalid(f"secretPath {path!r} is not a Vault API path", obj)
    if any(seg in (".", "..") for seg in path.split("/")):
        raise invalid(f"secretPath {path!r} has . or .. segments", obj)
    return path


def parse_objects(raw_objects: str, default_mode: int) -> tuple[VaultObject, ...]:
    try:
        items = yaml.safe_load(raw_objects) if raw_objects else None
    except yaml.YAMLError as exc:
        raise invalid("objects is not valid YAML") from exc
    if not isinstance(items, list) or not items:
        raise invalid("objects must be a non-empty YAML list")
    objects: list[VaultObject] = []
    for item in items:
        raw, name = object_fields(
            item, OBJECT_KEYS, "each entry of objects must be a mapping with objectName and secretPath"
        )
        check_relative_path(name, name)
        path = raw.get("secretPath")
        if not isinstance(path, str) or not path:
            raise invalid("secretPath is required", name)
        key = raw.get("secretKey", "") or ""
        if not isinstance(key, str):
            raise invalid("secretKey must be a string", name)
        method = str(raw.get("method", "") or "GET").upper()
        if method not in ("GET", "POST", "PUT"):
            raise invalid(f"method {method!r} must be GET or POST", name)
        args = raw.get("secretArgs") or {}
        if not isinstance(args, dict):
            raise invalid("secretArgs must be a mapping", name)
        encoding = str(raw.get("encoding", "") or "utf-8").lower()
        if encoding not in ("utf-8", "utf8", "base64", "hex"):
            raise invalid(f"encoding {encoding!r} must be utf-8, base64 or hex", name)
        mode = parse_file_permission(raw["filePermission"], name) if "filePermission" in raw else default_mode
        objects.append(
            VaultObject(
                name,
                _clean_secret_path(path, name),
                key,
                method,
                json.dumps(args, sort_keys=True, default=str),
                mode,
                encoding,
            )
        )
    check_unique([o.name for o in objects], "objectName")
    return tuple(objects)


def parse_params(
    attrs: dict[str, str], default_mode: int, default_address: str, default_mount: str
) -> VaultParams:
    address = (attrs.get("vaultAddress") or default_address).rstrip("/")
    if not address:
        raise invalid("vaultAddress is required (no provider default is configured)")
    if not address.startswith(("http://", "https://")):
        raise invalid(f"vaultAddress {address!r} must start with http:// or https://")
    role = attrs.get("roleName", "")
    if not role:
        raise invalid("roleName is required")
    mount = attrs.get("vaultAuthMountPath") or attrs.get("vaultKubernetesMountPath") or default_mount
    mount = mount.strip("/").removeprefix("auth/").strip("/")
    if not mount or any(seg in (".", "..") for seg in mount.split("/")):
        raise invalid(f"auth mount path {mount!r} is not valid")
    tls = TlsOptions(
        ca_file=attrs.get("vaultCACertPath", ""),
        ca_dir=attrs.get("vaultCADirectory", ""),
        client_cert=attrs.get("vaultTLSClientCertPath", ""),
        client_key=attrs.get("vaultTLSClientKeyPath", ""),
        skip_verify=parse_bool(attrs.get("vaultSkipTLSVerify"), "vaultSkipTLSVerify"),
    )
    if bool(tls.client_cert) != bool(tls.client_key):
        raise invalid("vaultTLSClientCertPath and vaultTLSClientKeyPath go together")
    return VaultParams(
        address=address,
        role=role,
        mount=mount,
        namespace=attrs.get("vaultNamespace", ""),
        audience=attrs.get("audience", "") or DEFAULT_AUDIENCE,
        tls=tls,
        server_name=attrs.get("vaultTLSServerName", ""),
        objects=parse_objects(attrs.get("objects", ""), default_mode),
    )


def extract(obj: VaultObject, body: dict[str, Any]) -> bytes:
    """The file content of one object from the read's response body."""
    data = body.get("data")
    if (
        isinstance(data, dict)
        and isinstance(data.get("data"), dict)
        and isinstance(data.get("metadata"), dict)
    ):
        data = data["data"]  # KV v2
    if not obj.key:
        value: Any = body
    else:
        if not isinstance(data, dict) or obj.key not in data:
            raise ProviderError(ErrorCode.NOT_FOUND, f"key {obj.key!r} not found in {obj.path}", obj.name)
        value = data[obj.key]
    raw = value.encode() if isinstance(value, str) else json.dumps(value).encode()
    if obj.encoding == "base64":
        try:
            return base64.b64decode(raw, validate=True)
        except binascii.Error as exc:
            raise invalid(f"value of {obj.path} is not valid base64 (encoding: base64)", obj.name) from exc
    if obj.encoding == "hex":
        try:
            return bytes.fromhex(raw.decode())
        except ValueError as exc:
            raise invalid(f"value of {obj.path} is not valid hex (encoding: hex)", obj.name) from exc
    return raw


class VaultProvider:
    name = "vault"

    def __init__(self, default_address: str = "", default_mount: str = "kubernetes") -> None:
        self.default_address = default_address
        self.default_mount = default_mount
        # Object versions are an HMAC of the content: they change when the content does and reveal nothing.
        self._hmac_key = os.environ.get("VAULT_PROVIDER_HMAC_KEY", "").encode() or secrets.token_bytes(32)
        self._session: aiohttp.ClientSession | None = None
        self._tokens: dict[str, tuple[str, float]] = {}
        self._ssl: dict[TlsOptions, Any] = {}

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
        return self._session

    def _ssl_for(self, params: VaultParams) -> Any:
        if not params.address.startswith("https://"):
            return True
        if params.tls not in self._ssl:
            self._ssl[params.tls] = ssl_context(params.tls)
        return self._ssl[params.tls]

    def _headers(self, params: VaultParams, token: str | None = None) -> dict[str, str]:
        headers = {"X-Vault-Request": "true"}
        if params.namespace:
            headers["X-Vault-Namespace"] = params.namespace
        if token:
            headers["X-Vault-Token"] = token
        return headers

    async def login(self, params: VaultParams, spec: MountSpec) -> str:
        jwt = spec.token_for(params.audience)
        if not jwt:
            raise ProviderError(
                ErrorCode.UNAUTHENTICATED,
                f"no service-account token for audience "
                f"{params.audience!r}: add it to the CSIDriver's tokenRequests",
            )
        key = hashlib.sha256(
            "\0".join((params.address, params.namespace, params.mount, params.role, jwt)).encode()
        ).hexdigest()
        cached = self._tokens.get(key)
        if cached is not None and cached[1] > time.time():
            return cached[0]
        resp = await request(
            self._http(),
            "POST",
            f"{params.address}/v1/auth/{quote(params.mount)}/login",
            provider="vault",
            operation="login",
            json={"role": params.role, "jwt": jwt},
            headers=self._headers(params),
            ssl_ctx=self._ssl_for(params),
            server_hostname=params.server_name or None,
        )
        if resp.status != 200 or not isinstance(resp.body, dict) or not resp.body.get("auth"):
            code = ErrorCode.UNAUTHENTICATED if resp.status in (400, 401, 403) else None
            err = from_http_status(
                resp.status,
                f"login at auth/{params.mount} as role {params.role!r} failed "
                f"(HTTP {resp.status}{vault_errors(resp.body)})",
            )
            if code is not None:
                err = ProviderError(code, err.cause)
            raise err
        auth = resp.body["auth"]
        lease = float(auth.get("lease_duration") or 0)
        now = time.time()
        self._tokens = {k: v for k, v in self._tokens.items() if v[1] > now}
        if lease > 0:
            self._tokens[key] = (auth["client_token"], now + lease * 0.8)
        return str(auth["client_token"])

    async def read(self, params: VaultParams, token: str, obj: VaultObject) -> dict[str, Any]:
        url = f"{params.address}/v1/{quote(obj.path)}"
        args = json.loads(obj.args)
        kwargs: dict[str, Any] = {}
        if obj.method == "GET":
            if args:
                kwargs["params"] = {k: str(v) for k, v in args.items()}
        else:
            kwargs["json"] = args
        resp = await request(
            self._http(),
            obj.method,
            url,
            provider="vault",
            operation=f"{obj.method.lower()}",
            obj=obj.name,
            headers=self._headers(params, token),
            ssl_ctx=self._ssl_for(params),
            server_hostname=params.server_name or None,
            **kwargs,
        )
        if resp.status != 200 or not isinstance(resp.body, dict):
            raise from_http_status(
                resp.status,
                f"reading {obj.path} failed (HTTP {resp.status}{vault_errors(resp.body)})",
                obj.name,
            )
        return resp.body

    async def mount(self, spec: MountSpec) -> MountResult:
        params = parse_params(spec.attributes, spec.default_mode, self.default_address, self.default_mount)
        token = await self.login(params, spec)
        distinct = {obj.request_key: obj for obj in params.objects}  # one read per (method, path, args)
        answers = await asyncio.gather(*[self.read(params, token, obj) for obj in distinct.values()])
        bodies = dict(zip(distinct, answers, strict=True))
        result = MountResult()
        for obj in params.objects:
            content = extract(obj, bodies[obj.request_key])
            result.add(obj.name, obj.mode, content)
            digest = hmac.new(self._hmac_key, content, hashlib.sha256).hexdigest()[:32]
            result.versions.append((obj.name, digest))
        return result


def vault_errors(body: Any) -> str:
    """Vault's `errors` list names the cause (permission denied, no handler...): never a secret value."""
    if isinstance(body, dict) and isinstance(body.get("errors"), list) and body["errors"]:
        return ": " + "; ".join(str(e)[:200] for e in body["errors"][:3])
    return ""
