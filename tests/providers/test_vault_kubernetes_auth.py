"""Vault provider with the Kubernetes auth method: OpenBao validates the pod's service-account token
through the local cluster's TokenReview API, then the provider reads the secret."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
import yaml
from provider_cluster import configure_vault_kubernetes_auth, kubectl
from provider_support import emulator_env, files_of, start_provider, stop_provider
from provider_vault import Bao

pytestmark = [pytest.mark.cluster, pytest.mark.emulators]


@pytest.fixture
def reviewer(cluster: dict[str, str], namespace: str) -> Iterator[str]:
    """A service account allowed to call TokenReview (system:auth-delegator), as Vault's reviewer JWT."""
    kubectl("create", "serviceaccount", "vault-reviewer", "-n", namespace)
    binding = f"{namespace}-vault-reviewer"
    kubectl(
        "create",
        "clusterrolebinding",
        binding,
        "--clusterrole=system:auth-delegator",
        f"--serviceaccount={namespace}:vault-reviewer",
    )
    yield kubectl("create", "token", "vault-reviewer", "-n", namespace, "--duration=1h").strip()
    kubectl("delete", "clusterrolebinding", binding)


def test_kubernetes_auth_login_with_the_pods_token_reads_the_secret(
    cluster: dict[str, str], namespace: str, reviewer: str, tmp_path: Path
) -> None:
    env = emulator_env()
    bao = Bao(env["VAULT_ADDR"])
    mount = f"k8s-{namespace}"
    configure_vault_kubernetes_auth(bao, mount, cluster, reviewer, namespace, token_ttl="5m")
    bao.call(
        "POST",
        f"secret/data/{namespace}/db",
        {"data": {"password": f"pw-{uuid.uuid4().hex[:6]}"}},
    )
    expected = bao.call("GET", f"secret/data/{namespace}/db")["data"]["data"]["password"].encode()
    kubectl("create", "serviceaccount", "app", "-n", namespace)
    kubectl("create", "serviceaccount", "intruder", "-n", namespace)
    app_token = kubectl("create", "token", "app", "-n", namespace, "--audience=vault").strip()
    intruder_token = kubectl("create", "token", "intruder", "-n", namespace, "--audience=vault").strip()

    p = start_provider("vault", tmp_path, {"VAULT_ADDR": env["VAULT_ADDR"]})
    try:

        def attrs(token: str) -> dict[str, str]:
            return {
                "roleName": "app",
                "vaultAuthMountPath": mount,
                "csi.storage.k8s.io/pod.namespace": namespace,
                "csi.storage.k8s.io/serviceAccount.name": "app",
                "csi.storage.k8s.io/serviceAccount.tokens": json.dumps(
                    {"vault": {"token": token, "expirationTimestamp": ""}}
                ),
                "objects": yaml.safe_dump(
                    [
                        {
                            "objectName": "password",
                            "secretPath": f"secret/data/{namespace}/db",
                            "secretKey": "password",
                        }
                    ]
                ),
            }

        resp = p.mount(attrs(app_token))
        assert files_of(resp) == {"password": expected}
        with pytest.raises(grpc.RpcError) as info:
            p.mount(attrs(intruder_token))
        assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert app_token not in p.log() and reviewer not in p.log()
    finally:
        stop_provider(p)
        bao.call("DELETE", f"sys/auth/{mount}")
