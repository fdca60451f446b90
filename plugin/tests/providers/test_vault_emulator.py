"""The Vault provider, driven through its gRPC socket like a driver, against the OpenBao dev server.

Login uses a JWT auth mount that trusts a key this test holds: the same login API (`POST auth/<mount>/login`
with role and jwt) as the Kubernetes auth method, whose TokenReview path is proven on the local cluster in
tests/providers/test_vault_kubernetes_auth.py.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
import yaml

from secrets_store_csi.proto.v1alpha1 import provider_pb2

from .provider_support import (
    ProviderProcess,
    calls_delta,
    files_of,
    start_provider,
    stop_provider,
    versions_of,
)
from .provider_vault import Bao, Signer, setup_jwt_auth

pytestmark = pytest.mark.emulators

MOUNT = "jwt-ssc-test"
ROLE = "app"
POLICY = """
path "secret/data/ssc/*" { capabilities = ["read"] }
path "kv1/ssc/*" { capabilities = ["read"] }
path "sys/tools/random" { capabilities = ["update"] }
"""


@pytest.fixture(scope="module")
def bao(emulators: dict[str, str]) -> Bao:
    b = Bao(emulators["VAULT_ADDR"])
    b.ensure_mount("kv1", {"type": "kv", "options": {"version": "1"}})
    b.call("PUT", "sys/policies/acl/ssc-test", {"policy": POLICY})
    return b


@pytest.fixture(scope="module")
def signer(bao: Bao) -> Signer:
    s = Signer()
    setup_jwt_auth(bao, s, MOUNT, ROLE, "ssc-test")
    setup_jwt_auth_role_audience(bao, "other-aud")
    return s


def setup_jwt_auth_role_audience(bao: Bao, audience: str) -> None:
    bao.call(
        "POST",
        f"auth/{MOUNT}/role/other",
        {
            "role_type": "jwt",
            "user_claim": "sub",
            "bound_audiences": [audience],
            "token_policies": ["ssc-test"],
        },
    )


@pytest.fixture(scope="module")
def vault(emulators: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProviderProcess]:
    p = start_provider("vault", tmp_path_factory.mktemp("vault"), {"VAULT_ADDR": emulators["VAULT_ADDR"]})
    yield p
    stop_provider(p)


@pytest.fixture
def name() -> str:
    return f"t{uuid.uuid4().hex[:10]}"


def attrs(
    signer: Signer, objects: list[dict[str, Any]], audience: str = "vault", **extra: str
) -> dict[str, str]:
    tokens = {
        audience: {
            "token": signer.token("system:serviceaccount:default:app", audience),
            "expirationTimestamp": "2099-01-01T00:00:00Z",
        }
    }
    return {
        "roleName": ROLE,
        "vaultAuthMountPath": MOUNT,
        "objects": yaml.safe_dump(objects),
        "csi.storage.k8s.io/serviceAccount.tokens": json.dumps(tokens),
        **extra,
    }


def error_of(p: ProviderProcess, a: dict[str, str]) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as info:
        p.mount(a)
    return info.value


def test_version_names_the_provider(vault: ProviderProcess) -> None:
    resp = vault.stub.Version(provider_pb2.VersionRequest(version="v1alpha1"))
    assert resp.runtime_name == "secrets-store-csi-provider-vault"


def test_kv2_keys_of_one_secret_cost_one_read(
    vault: ProviderProcess, bao: Bao, signer: Signer, name: str
) -> None:
    bao.call("POST", f"secret/data/ssc/{name}", {"data": {"user": "alice", "password": "s3cret"}})
    before = vault.backend_calls()
    resp = vault.mount(
        attrs(
            signer,
            [
                {"objectName": "user", "secretPath": f"secret/data/ssc/{name}", "secretKey": "user"},
                {
                    "objectName": "dir/password",
                    "secretPath": f"/v1/secret/data/ssc/{name}",
                    "secretKey": "password",
                    "filePermission": "0600",
                },
            ],
        )
    )
    assert files_of(resp) == {"user": b"alice", "dir/password": b"s3cret"}
    assert {f.path: f.mode for f in resp.files}["dir/password"] == 0o600
    assert calls_delta(before, vault.backend_calls()) == {"login": 1, "get": 1}


def test_whole_secret_without_secret_key_is_the_json_response(
    vault: ProviderProcess, bao: Bao, signer: Signer, name: str
) -> None:
    bao.call("POST", f"secret/data/ssc/{name}", {"data": {"a": "1"}})
    resp = vault.mount(attrs(signer, [{"objectName": "all", "secretPath": f"secret/data/ssc/{name}"}]))
    body = json.loads(files_of(resp)["all"])
    assert body["data"]["data"] == {"a": "1"}


def test_kv1_secret_and_base64_encoding(vault: ProviderProcess, bao: Bao, signer: Signer, name: str) -> None:
    bao.call(
        "POST", f"kv1/ssc/{name}", {"plain": "v1-value", "blob": base64.b64encode(b"\x00\x01binary").decode()}
    )
    resp = vault.mount(
        attrs(
            signer,
            [
                {"objectName": "plain", "secretPath": f"kv1/ssc/{name}", "secretKey": "plain"},
                {
                    "objectName": "blob",
                    "secretPath": f"kv1/ssc/{name}",
                    "secretKey": "blob",
                    "encoding": "base64",
                },
            ],
        )
    )
    assert files_of(resp) == {"plain": b"v1-value", "blob": b"\x00\x01binary"}


def test_post_method_with_secret_args(vault: ProviderProcess, signer: Signer) -> None:
    resp = vault.mount(
        attrs(
            signer,
            [
                {
                    "objectName": "random",
                    "secretPath": "sys/tools/random",
                    "method": "POST",
                    "secretArgs": {"bytes": 8, "format": "hex"},
                    "secretKey": "random_bytes",
                }
            ],
        )
    )
    assert len(files_of(resp)["random"]) == 16
    int(files_of(resp)["random"], 16)


def test_rotation_next_mount_returns_new_content_and_version(
    vault: ProviderProcess, bao: Bao, signer: Signer, name: str
) -> None:
    bao.call("POST", f"secret/data/ssc/{name}", {"data": {"k": "old"}})
    objs = [{"objectName": "k", "secretPath": f"secret/data/ssc/{name}", "secretKey": "k"}]
    first = vault.mount(attrs(signer, objs))
    again = vault.mount(attrs(signer, objs), current=versions_of(first))
    assert versions_of(again) == versions_of(first)
    bao.call("POST", f"secret/data/ssc/{name}", {"data": {"k": "new"}})
    second = vault.mount(attrs(signer, objs), current=versions_of(first))
    assert files_of(second) == {"k": b"new"}
    assert versions_of(second)["k"] != versions_of(first)["k"]
    assert "old" not in versions_of(first)["k"]


def test_custom_audience_selects_that_token(
    vault: ProviderProcess, bao: Bao, signer: Signer, name: str
) -> None:
    bao.call("POST", f"secret/data/ssc/{name}", {"data": {"k": "v"}})
    a = attrs(
        signer,
        [{"objectName": "k", "secretPath": f"secret/data/ssc/{name}", "secretKey": "k"}],
        audience="other-aud",
        roleName="other",
    )
    a["audience"] = "other-aud"  # the SecretProviderClass parameter naming the token's audience
    assert files_of(vault.mount(a)) == {"k": b"v"}


def test_login_token_is_reused_across_mounts(
    vault: ProviderProcess, bao: Bao, signer: Signer, name: str
) -> None:
    bao.call("POST", f"secret/data/ssc/{name}", {"data": {"k": "v"}})
    a = attrs(signer, [{"objectName": "k", "secretPath": f"secret/data/ssc/{name}", "secretKey": "k"}])
    vault.mount(a)
    before = vault.backend_calls()
    vault.mount(a)
    assert calls_delta(before, vault.backend_calls()) == {"get": 1}


def test_path_outside_the_policy_is_permission_denied(
    vault: ProviderProcess, signer: Signer, name: str
) -> None:
    err = error_of(vault, attrs(signer, [{"objectName": "x", "secretPath": f"secret/data/other/{name}"}]))
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "'x'" in err.details()


def test_missing_secret_is_not_found(vault: ProviderProcess, signer: Signer, name: str) -> None:
    err = error_of(vault, attrs(signer, [{"objectName": "x", "secretPath": f"secret/data/ssc/{name}"}]))
    assert err.code() == grpc.StatusCode.NOT_FOUND


def test_missing_key_is_not_found_without_the_values(
    vault: ProviderProcess, bao: Bao, signer: Signer, name: str
) -> None:
    bao.call("POST", f"secret/data/ssc/{name}", {"data": {"k": "hidden-value-99"}})
    err = error_of(
        vault,
        attrs(signer, [{"objectName": "x", "secretPath": f"secret/data/ssc/{name}", "secretKey": "nope"}]),
    )
    assert err.code() == grpc.StatusCode.NOT_FOUND
    assert "nope" in err.details()
    assert "hidden-value-99" not in err.details()
    assert "hidden-value-99" not in vault.log()


def test_unknown_role_fails_authentication(vault: ProviderProcess, signer: Signer) -> None:
    a = attrs(signer, [{"objectName": "x", "secretPath": "secret/data/ssc/x"}], roleName="no-such-role")
    err = error_of(vault, a)
    assert err.code() == grpc.StatusCode.UNAUTHENTICATED


def test_token_signed_by_another_key_fails_authentication(vault: ProviderProcess) -> None:
    err = error_of(vault, attrs(Signer(), [{"objectName": "x", "secretPath": "secret/data/ssc/x"}]))
    assert err.code() == grpc.StatusCode.UNAUTHENTICATED


def test_missing_token_for_the_audience_fails_authentication(vault: ProviderProcess, signer: Signer) -> None:
    a = attrs(signer, [{"objectName": "x", "secretPath": "secret/data/ssc/x"}], audience="not-vault")
    err = error_of(vault, a)
    assert err.code() == grpc.StatusCode.UNAUTHENTICATED
    assert "'vault'" in err.details()


@pytest.mark.parametrize(
    ("objects", "extra", "needle"),
    [
        ([{"objectName": "../x", "secretPath": "secret/data/a"}], {}, "escape"),
        ([{"objectName": "/abs", "secretPath": "secret/data/a"}], {}, "absolute"),
        (
            [
                {"objectName": "a", "secretPath": "secret/data/a"},
                {"objectName": "a", "secretPath": "secret/data/b"},
            ],
            {},
            "more than once",
        ),
        ([{"objectName": "a"}], {}, "secretPath"),
        ([{"objectName": "a", "secretPath": "secret/../sys/raw"}], {}, ".."),
        ([{"objectName": "a", "secretPath": "s", "method": "DELETE"}], {}, "method"),
        ([{"objectName": "a", "secretPath": "s", "encoding": "rot13"}], {}, "encoding"),
        ([{"objectName": "a", "secretPath": "s"}], {"roleName": ""}, "roleName"),
        ([{"objectName": "a", "secretPath": "s"}], {"vaultAddress": "ftp://x"}, "vaultAddress"),
    ],
)
def test_malformed_parameters_are_rejected_before_any_backend_call(
    vault: ProviderProcess, signer: Signer, objects: list[dict[str, Any]], extra: dict[str, str], needle: str
) -> None:
    before = vault.backend_calls()
    err = error_of(vault, attrs(signer, objects, **extra))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert needle in err.details()
    assert calls_delta(before, vault.backend_calls()) == {}


def test_unreachable_vault_is_unavailable(vault: ProviderProcess, signer: Signer) -> None:
    a = attrs(signer, [{"objectName": "x", "secretPath": "secret/data/x"}], vaultAddress="http://127.0.0.1:9")
    err = error_of(vault, a)
    assert err.code() == grpc.StatusCode.UNAVAILABLE
