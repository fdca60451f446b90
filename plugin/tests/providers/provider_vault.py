"""Test setup for the Vault provider on the OpenBao dev server: a JWT auth mount that trusts a key the test
holds (same login API as the Kubernetes auth method: POST auth/<mount>/login {role, jwt}), KV v1 and v2
mounts, a policy and roles. Uses the root token of the dev server."""

from __future__ import annotations

import base64
import json
import ssl
import time
import urllib.error
import urllib.request
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Signer:
    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def public_pem(self) -> str:
        return (
            self.key.public_key()
            .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
            .decode()
        )

    def token(self, sub: str, aud: str, ttl: int = 600, iss: str = "ssc-test") -> str:
        header = b64url(json.dumps({"alg": "RS256", "typ": "JWT"}).encode())
        now = int(time.time())
        payload = b64url(
            json.dumps(
                {"sub": sub, "aud": aud, "iss": iss, "iat": now, "nbf": now - 5, "exp": now + ttl}
            ).encode()
        )
        sig = self.key.sign(f"{header}.{payload}".encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{header}.{payload}.{b64url(sig)}"


class Bao:
    def __init__(
        self, addr: str, token: str = "root", namespace: str = "", cafile: str | None = None
    ) -> None:
        self.addr = addr.rstrip("/")
        self.token = token
        self.namespace = namespace
        self.context = ssl.create_default_context(cafile=cafile) if cafile else None

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        req = urllib.request.Request(
            f"{self.addr}/v1/{path}",
            method=method,
            data=json.dumps(body).encode() if body is not None else None,
            headers={"X-Vault-Token": self.token, "Content-Type": "application/json"},
        )
        if self.namespace:
            req.add_header("X-Vault-Namespace", self.namespace)
        try:
            with urllib.request.urlopen(req, timeout=10, context=self.context) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as err:
            raise RuntimeError(f"{method} {path}: HTTP {err.code} {err.read()[:300]!r}") from err
        return json.loads(raw) if raw else None

    def ensure_mount(self, path: str, body: dict[str, Any], kind: str = "mounts") -> None:
        existing = self.call("GET", f"sys/{kind}")
        table = existing.get("data", existing)
        if f"{path}/" not in table:
            self.call("POST", f"sys/{kind}/{path}", body)


def setup_jwt_auth(
    bao: Bao, signer: Signer, mount: str, role: str, policy: str, audience: str = "vault"
) -> None:
    bao.ensure_mount(mount, {"type": "jwt"}, kind="auth")
    bao.call(
        "POST",
        f"auth/{mount}/config",
        {"jwt_validation_pubkeys": [signer.public_pem()], "bound_issuer": "ssc-test"},
    )
    bao.call(
        "POST",
        f"auth/{mount}/role/{role}",
        {
            "role_type": "jwt",
            "user_claim": "sub",
            "bound_audiences": [audience],
            "token_policies": [policy],
            "token_ttl": "10m",
        },
    )
