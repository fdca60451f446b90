"""Isolation on the installed stack: namespaces, identities and the target directory.

- A pod uses a SecretProviderClass and a nodePublishSecretRef of its own namespace only: naming one that
  exists only in another namespace, or reaching for it through a path ("../../<ns>/..."), leaves the pod
  ContainerCreating with an event saying why.
- Two pods with different service accounts mount the same SecretProviderClass at the same time: each fetch
  logs in to OpenBao with the pod's own token. OpenBao's policy (templated on the service account name)
  lets one read the path and denies the other, and a third account is not bound to the role at all: the
  denied pods fail with an event naming the cause, the allowed one gets its content. The denial is
  OpenBao's. The same with AWS IAM is test_isolation_aws.py (a private moto enforcing IAM).
- Path escapes in the parameters (objectAlias and jmesPath aliases with `..` or an absolute path, a Vault
  objectName with `..`) are refused with an event and nothing is written outside the pod's volume.
  A provider that returns such paths or symlinks itself is covered by the driver's integration tier with
  the test provider (plugin/tests/driver/test_integration_node.py:
  test_unsafe_returned_paths_are_refused_and_nothing_is_mounted,
  test_symlink_escape_by_a_provider_writing_itself_is_refused); the chart-installed providers cannot be
  made to return one.

Azure is not covered: its emulator (Lowkey Vault) is not served to this machine.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from kubecluster import Cluster
from security_support import (
    Bao,
    cluster_api,
    configure_vault_kubernetes_auth,
    emulator_clients_kwargs,
    failed_mount,
    vault_reviewer,
)
from stack import Stack, emulators, secret_pod, secret_provider_class

pytestmark = [pytest.mark.cluster, pytest.mark.emulators]


@pytest.fixture
def other_namespace(cluster: Cluster) -> Iterator[str]:
    name = f"sec-other-{uuid.uuid4().hex[:6]}"
    cluster.kubectl("create", "namespace", name)
    yield name
    cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)


def aws_static(cluster: Cluster, namespace: str, name: str = "creds") -> None:
    """A nodePublishSecretRef Secret with static keys for moto (any key works there)."""
    cluster.apply(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": name, "labels": {"secrets-store.csi.k8s.io/used": "true"}},
            "stringData": {"access_key_id": "AKIDISOLATION", "secret_access_key": "isolation"},
        },
        namespace,
    )


def moto_secret(value: str) -> str:
    name = f"iso-{uuid.uuid4().hex[:10]}"
    boto3.client("secretsmanager", **emulator_clients_kwargs(emulators())).create_secret(
        Name=name, SecretString=value
    )
    return name


def test_pod_cannot_use_a_secret_provider_class_or_publish_secret_of_another_namespace(
    cluster: Cluster, stack: Stack, namespace: str, other_namespace: str
) -> None:
    name = moto_secret("only-for-the-other-namespace")
    objects = {"objects": [{"objectName": name, "objectType": "secretsmanager"}], "region": "us-east-1"}
    # The other namespace has the class and a credentials Secret only it holds; a pod there mounts the
    # class (the control: the class works).
    aws_static(cluster, other_namespace)
    aws_static(cluster, other_namespace, "other-creds")
    cluster.apply(
        [
            secret_provider_class("shared", "aws", objects),
            secret_pod("owner", "shared", node_publish_secret="creds"),
        ],
        other_namespace,
    )
    # Here: credentials of its own, a class of its own, but not the other's.
    aws_static(cluster, namespace)
    cluster.apply(secret_provider_class("local", "aws", objects), namespace)
    escape = f"../../{other_namespace}/secretproviderclasses/shared"
    cluster.apply(
        [
            secret_pod("by-name", "shared", node_publish_secret="creds"),
            secret_pod("by-path", escape, node_publish_secret="creds"),
            secret_pod("foreign-creds", "local", node_publish_secret="other-creds"),
            secret_pod("control", "local", node_publish_secret="creds"),
        ],
        namespace,
    )
    stack.wait_ready(other_namespace, ["owner"])
    stack.wait_ready(namespace, ["control"])
    failed_mount(stack, namespace, "by-name", "'shared'", f"not found in namespace '{namespace}'")
    failed_mount(stack, namespace, "by-path", "secretProviderClass", "own namespace")
    # kubelet reads nodePublishSecretRef from the pod's namespace only: the other namespace's is absent.
    failed_mount(stack, namespace, "foreign-creds", '"other-creds" not found', namespace)


def test_each_pod_fetches_with_its_own_identity_and_a_denied_one_fails_alone(
    cluster: Cluster, stack: Stack, namespace: str
) -> None:
    env = emulators()
    bao = Bao(env["VAULT_ADDR"])
    ns = namespace
    mount = f"sec-iso-{uuid.uuid4().hex[:6]}"
    with vault_reviewer(cluster, ns) as reviewer:
        configure_vault_kubernetes_auth(
            bao,
            mount,
            cluster_api(),
            reviewer,
            ns,
            bound_service_account_names=["alice", "bob"],
            token_ttl="5m",
        )
        try:
            accessor = bao.call("GET", "sys/auth")["data"][f"{mount}/"]["accessor"]
            # One role for both; the policy lets an account read only the path named after itself.
            sa_name = f"{{{{identity.entity.aliases.{accessor}.metadata.service_account_name}}}}"
            bao.call(
                "PUT",
                f"sys/policies/acl/{ns}",
                {"policy": f'path "secret/data/{ns}/{sa_name}-only" {{ capabilities = ["read"] }}'},
            )
            value = f"alice-{uuid.uuid4().hex}"
            bao.call("POST", f"secret/data/{ns}/alice-only", {"data": {"v": value}})
            objects = [{"objectName": "v", "secretPath": f"secret/data/{ns}/alice-only", "secretKey": "v"}]
            accounts = [
                {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": n}}
                for n in ("alice", "bob", "carol")
            ]
            cluster.apply(
                [
                    *accounts,
                    secret_provider_class(
                        "vault", "vault", {"roleName": "app", "vaultAuthMountPath": mount, "objects": objects}
                    ),
                    secret_pod("alice", "vault", service_account="alice"),
                    secret_pod("bob", "vault", service_account="bob"),
                    secret_pod("carol", "vault", service_account="carol"),
                ],
                ns,
            )
            stack.wait_ready(ns, ["alice"])
            assert stack.read(ns, "alice", "/mnt/secrets/v") == value
            failed_mount(stack, ns, "bob", "permission denied", f"secret/data/{ns}/alice-only")
            failed_mount(stack, ns, "carol", "login", "role 'app'")
            # The denied pods' retries change nothing for the one that works.
            assert stack.read(ns, "alice", "/mnt/secrets/v") == value
        finally:
            bao.call("DELETE", f"sys/auth/{mount}")
            bao.call("DELETE", f"sys/policies/acl/{ns}")


def _files_named(roots: list[str], marker: str) -> list[str]:
    found = []
    for root in roots:
        for dirpath, dirnames, filenames in os.walk(root):
            found += [os.path.join(dirpath, n) for n in dirnames + filenames if marker in n]
    return found


@pytest.mark.parametrize(
    ("provider", "object_entry", "words"),
    [
        ("aws", {"objectAlias": "../escape-{tag}"}, ["../escape-", "escape"]),
        ("aws", {"objectAlias": "/tmp/escape-{tag}"}, ["/tmp/escape-", "absolute"]),
        (
            "aws",
            {"jmesPath": [{"path": "user", "objectAlias": "../../escape-{tag}"}]},
            ["../../escape-", "escape"],
        ),
        ("vault", {"objectName": "../escape-{tag}"}, ["../escape-", "escape"]),
    ],
    ids=["objectAlias-dotdot", "objectAlias-absolute", "jmesPath-alias-dotdot", "vault-objectName-dotdot"],
)
def test_path_escape_in_parameters_is_refused_and_nothing_lands_outside(
    cluster: Cluster,
    stack: Stack,
    namespace: str,
    provider: str,
    object_entry: dict[str, Any],
    words: list[str],
) -> None:
    tag = uuid.uuid4().hex[:10]
    entry: dict[str, Any] = {
        k: (v.format(tag=tag) if isinstance(v, str) else v) for k, v in object_entry.items()
    }
    if "jmesPath" in entry:
        entry["jmesPath"] = [
            {**j, "objectAlias": j["objectAlias"].format(tag=tag)} for j in entry["jmesPath"]
        ]
    if provider == "aws":
        aws_static(cluster, namespace)
        name = moto_secret(json.dumps({"user": "u"}))
        params: dict[str, Any] = {
            "objects": [{"objectName": name, "objectType": "secretsmanager", **entry}],
            "region": "us-east-1",
        }
        pod = secret_pod("escape", "escape", node_publish_secret="creds")
    else:
        # No login is needed to refuse the name: the parameters are checked before any backend call.
        params = {
            "roleName": "app",
            "objects": [{"secretPath": f"secret/data/{namespace}/x", "secretKey": "k", **entry}],
        }
        pod = secret_pod("escape", "escape")
    cluster.apply([secret_provider_class("escape", provider, params), pod], namespace)
    failed_mount(stack, namespace, "escape", *words)
    uid = cluster.kubectl_json("-n", namespace, "get", "pod", "escape")["metadata"]["uid"]
    # Nowhere the driver or a provider could have resolved the name: the pod's directories on the node,
    # the node's /tmp, and /tmp of every component's container (their writable layers).
    assert _files_named([f"/var/lib/kubelet/pods/{uid}"], tag) == []
    assert not os.path.lexists(f"/tmp/escape-{tag}")
    for component in stack.releases:
        for p in stack.pods(component):
            ls = cluster.kubectl(
                "-n",
                stack.namespace,
                "exec",
                p,
                "-c",
                _main_container(component),
                "--",
                "sh",
                "-c",
                f"ls -d /tmp/*{tag}* /*{tag}* 2>/dev/null; true",
            )
            assert ls.stdout.strip() == "", f"{p}: {ls.stdout}"


def _main_container(component: str) -> str:
    return "secrets-store" if component == "driver" else "provider"
