"""The emulators of `make emulators-up` as the Ansible cluster tests seed them: moto (Secrets Manager, SSM)
and OpenBao (KV v2, Kubernetes auth), over their HTTP APIs, with only the standard library (the tests run
in the Ansible venv)."""

from __future__ import annotations

import contextlib
import json
import urllib.error
import urllib.request
from typing import Any

from chartcluster import emulator_env


def _call(url: str, body: dict[str, Any] | None, headers: dict[str, str], method: str = "POST") -> Any:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    with urllib.request.urlopen(request, timeout=15) as response:
        text = response.read()
    return json.loads(text) if text else None


def _moto(target: str, service: str, region: str, body: dict[str, Any]) -> None:
    _call(
        emulator_env()["MOTO_URL"] + "/",
        body,
        {
            "Content-Type": "application/x-amz-json-1.1",
            "X-Amz-Target": target,
            # moto reads the key id and region from the header; it does not check the signature.
            "Authorization": f"AWS4-HMAC-SHA256 Credential=test/20260101/{region}/{service}/aws4_request, "
            "SignedHeaders=host, Signature=0",
        },
    )


def moto_put_secret(name: str, value: str, region: str) -> None:
    """Creates the Secrets Manager secret, or adds a version when it exists (moto kept from earlier runs)."""
    try:
        _moto("secretsmanager.CreateSecret", "secretsmanager", region, {"Name": name, "SecretString": value})
    except urllib.error.HTTPError as error:
        if error.code != 400:
            raise
        _moto(
            "secretsmanager.PutSecretValue",
            "secretsmanager",
            region,
            {"SecretId": name, "SecretString": value},
        )


def moto_put_parameter(name: str, value: str, region: str) -> None:
    _moto(
        "AmazonSSM.PutParameter",
        "ssm",
        region,
        {"Name": name, "Type": "SecureString", "Overwrite": True, "Value": value},
    )


class OpenBao:
    """The OpenBao dev server (root token) of the emulators."""

    def __init__(self) -> None:
        env = emulator_env()
        self.addr = env["VAULT_ADDR"]
        self.token = env.get("VAULT_TOKEN", "root")

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        return _call(f"{self.addr}/v1/{path}", body, {"X-Vault-Token": self.token}, method)

    def kubernetes_auth(
        self, mount: str, host: str, ca_pem: str, reviewer_jwt: str, namespace: str, read_path: str
    ) -> None:
        """Kubernetes auth at `mount` reviewing tokens through the cluster's TokenReview API; role `app` for
        the service account `app` of `namespace` (audience vault) with a policy of the same name as the mount
        that reads `read_path`."""
        mounts = self.call("GET", "sys/auth") or {}
        if f"{mount}/" not in mounts.get("data", mounts):
            self.call("POST", f"sys/auth/{mount}", {"type": "kubernetes"})
        self.call(
            "POST",
            f"auth/{mount}/config",
            {
                "kubernetes_host": host,
                "kubernetes_ca_cert": ca_pem,
                "token_reviewer_jwt": reviewer_jwt,
                "disable_local_ca_jwt": True,
            },
        )
        self.call(
            "PUT",
            f"sys/policies/acl/{mount}",
            {"policy": f'path "{read_path}" {{ capabilities = ["read"] }}'},
        )
        self.call(
            "POST",
            f"auth/{mount}/role/app",
            {
                "bound_service_account_names": ["app"],
                "bound_service_account_namespaces": [namespace],
                "audience": "vault",
                "token_policies": [mount],
            },
        )

    def remove_kubernetes_auth(self, mount: str) -> None:
        for path in (f"sys/auth/{mount}", f"sys/policies/acl/{mount}"):
            with contextlib.suppress(urllib.error.URLError):
                self.call("DELETE", path)
