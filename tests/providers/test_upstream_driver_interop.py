"""Interop: the upstream Secrets Store CSI driver (sigs.k8s.io/secrets-store-csi-driver v1.6.0, built from its
Go module into $CACHE/bin) mounts secrets through this project's aws and vault providers into a real pod,
via the real kubelet of the local cluster.

The upstream driver and the node-driver-registrar run on the host; the providers run on the host on a
socket directory the driver is pointed at. The CSIDriver object and the CRDs exist only for the test,
under the team's cluster-driver lock. The Azure provider cannot take part: no Key Vault emulator here.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from provider_cluster import CACHE, KUBECONFIG, configure_vault_kubernetes_auth, kubectl
from provider_support import emulator_env
from provider_vault import Bao

pytestmark = [pytest.mark.cluster, pytest.mark.emulators]

REPO = Path(__file__).resolve().parents[2]
DRIVER = "secrets-store.csi.k8s.io"
REGISTRATION_DIR = Path("/var/lib/kubelet/plugins_registry")
IMAGE = os.environ.get("SSC_TEST_IMAGE", "localhost/ssc-base:bookworm")
CRD_DIR = Path(os.environ.get("SSC_CRD_DIR", REPO / "charts" / "secrets-store-csi-driver" / "crds"))
LOCK = "/tmp/ssc-cluster-driver.lock"


def wait(cond: Any, what: str, limit: float = 90) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            if cond():
                return
        time.sleep(1)
    raise AssertionError(f"timed out waiting for {what}")


def apply(doc: dict[str, Any]) -> None:
    kubectl("apply", "-f", "-", stdin=json.dumps(doc))


@contextlib.contextmanager
def cluster_lock() -> Iterator[None]:
    with open(LOCK, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


@pytest.fixture(scope="module")
def upstream_driver(cluster: dict[str, str]) -> Iterator[Path]:
    binary = CACHE / "bin" / "secrets-store-csi-driver"
    for b in (binary, CACHE / "bin" / "csi-node-driver-registrar"):
        if not b.exists():
            pytest.fail(f"{b} missing: build the upstream driver and the registrar (make cluster-build)")
    if not CRD_DIR.is_dir():
        pytest.fail(f"CRDs not found at {CRD_DIR} (the driver chart's crds/; SSC_CRD_DIR overrides)")
    env = emulator_env()
    with cluster_lock():
        if kubectl("get", "csidriver", "-o", "name").strip():
            pytest.fail("a CSIDriver is installed by someone else; it must be gone under the lock")
        had_crds = "secretproviderclasses" in kubectl("get", "crd", "-o", "name")
        if not had_crds:
            kubectl("apply", "-f", str(CRD_DIR))
            wait(
                lambda: "secretproviderclasses" in kubectl("get", "crd", "-o", "name"),
                "CRDs",
            )
        root = Path(tempfile.mkdtemp(prefix="ssc-upstream-"))
        providers = root / "providers"
        providers.mkdir()
        socket = root / "csi.sock"
        procs: list[subprocess.Popen[bytes]] = []

        def start(args: list[str], log: str, extra_env: dict[str, str] | None = None) -> None:
            fh = open(root / log, "ab")  # noqa: SIM115
            procs.append(
                subprocess.Popen(args, stdout=fh, stderr=fh, env={**os.environ, **(extra_env or {})})
            )

        py = [
            os.environ.get("PYTHON", __import__("sys").executable),
            "-m",
            "secrets_store_csi.cli",
            "provider",
        ]
        start(
            [*py, "aws", "--socket-dir", str(providers)],
            "aws.log",
            {"AWS_ENDPOINT_URL": env["AWS_ENDPOINT_URL"], "AWS_REGION": "us-east-1"},
        )
        start(
            [*py, "vault", "--socket-dir", str(providers)],
            "vault.log",
            {"VAULT_ADDR": env["VAULT_ADDR"]},
        )
        node = kubectl("get", "nodes", "-o", "jsonpath={.items[0].metadata.name}").strip()
        start(
            [
                str(binary),
                f"--endpoint=unix://{socket}",
                f"--nodeid={node}",
                f"--provider-volume={providers}",
                "--metrics-addr=:0",
                "--enable-secret-rotation=true",
                "--rotation-poll-interval=5s",
            ],
            "upstream-driver.log",
            {"KUBECONFIG": KUBECONFIG},
        )
        wait(
            lambda: (
                socket.exists() and (providers / "aws.sock").exists() and (providers / "vault.sock").exists()
            ),
            "driver and provider sockets",
            60,
        )
        start(
            [
                str(CACHE / "bin" / "csi-node-driver-registrar"),
                f"--csi-address={socket}",
                f"--kubelet-registration-path={socket}",
                f"--plugin-registration-path={REGISTRATION_DIR}",
            ],
            "registrar.log",
        )
        apply(
            {
                "apiVersion": "storage.k8s.io/v1",
                "kind": "CSIDriver",
                "metadata": {"name": DRIVER},
                "spec": {
                    "attachRequired": False,
                    "podInfoOnMount": True,
                    "volumeLifecycleModes": ["Ephemeral"],
                    "tokenRequests": [{"audience": "vault"}],
                    "requiresRepublish": True,  # kubelet republishes: the driver rotates
                },
            }
        )
        wait(
            lambda: DRIVER in kubectl("get", "csinode", node, "-o", "json"),
            "CSINode registration",
        )
        try:
            yield root
        finally:
            kubectl("delete", "csidriver", DRIVER, "--wait=true")
            for p in reversed(procs):
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(30)
                except subprocess.TimeoutExpired:
                    p.kill()
            (REGISTRATION_DIR / f"{DRIVER}-reg.sock").unlink(missing_ok=True)
            shutil.rmtree(root, ignore_errors=True)
            if not had_crds:
                kubectl("delete", "-f", str(CRD_DIR), "--wait=true")


def test_upstream_driver_mounts_aws_and_vault_secrets_into_a_pod(
    upstream_driver: Path, namespace: str, cluster: dict[str, str]
) -> None:
    env = emulator_env()
    tag = uuid.uuid4().hex[:8]
    # AWS: a Secrets Manager secret and an SSM parameter in moto, static keys from nodePublishSecretRef.
    kw: dict[str, Any] = {
        "endpoint_url": env["AWS_ENDPOINT_URL"],
        "region_name": "us-east-1",
        "aws_access_key_id": "a",
        "aws_secret_access_key": "b",
    }
    boto3.client("secretsmanager", **kw).create_secret(Name=f"interop-{tag}", SecretString=f"sm-{tag}")
    boto3.client("ssm", **kw).put_parameter(Name=f"/interop/{tag}", Value=f"ssm-{tag}", Type="SecureString")
    kubectl(
        "create",
        "secret",
        "generic",
        "aws-creds",
        "-n",
        namespace,
        "--from-literal=access_key_id=AKIDINTEROP",
        "--from-literal=secret_access_key=interop",
    )
    kubectl(
        "label",
        "secret",
        "aws-creds",
        "-n",
        namespace,
        "secrets-store.csi.k8s.io/used=true",
    )
    # Vault: Kubernetes auth through the cluster's TokenReview, as in test_vault_kubernetes_auth.
    kubectl("create", "serviceaccount", "reviewer", "-n", namespace)
    binding = f"{namespace}-reviewer"
    kubectl(
        "create",
        "clusterrolebinding",
        binding,
        "--clusterrole=system:auth-delegator",
        f"--serviceaccount={namespace}:reviewer",
    )
    bao = Bao(env["VAULT_ADDR"])
    mount = f"k8s-{namespace}"
    try:
        reviewer = kubectl("create", "token", "reviewer", "-n", namespace, "--duration=1h").strip()
        configure_vault_kubernetes_auth(bao, mount, cluster, reviewer, namespace)
        bao.call(
            "POST",
            f"secret/data/{namespace}/db",
            {"data": {"password": f"vault-{tag}"}},
        )
        kubectl("create", "serviceaccount", "app", "-n", namespace)

        for name, provider, params in (
            (
                "aws",
                "aws",
                {
                    "objects": yaml.safe_dump(
                        [
                            {
                                "objectName": f"interop-{tag}",
                                "objectType": "secretsmanager",
                                "objectAlias": "sm",
                            },
                            {
                                "objectName": f"/interop/{tag}",
                                "objectType": "ssmparameter",
                                "objectAlias": "ssm",
                            },
                        ]
                    )
                },
            ),
            (
                "vault",
                "vault",
                {
                    "roleName": "app",
                    "vaultAuthMountPath": mount,
                    "objects": yaml.safe_dump(
                        [
                            {
                                "objectName": "password",
                                "secretPath": f"secret/data/{namespace}/db",
                                "secretKey": "password",
                            }
                        ]
                    ),
                },
            ),
        ):
            apply(
                {
                    "apiVersion": "secrets-store.csi.x-k8s.io/v1",
                    "kind": "SecretProviderClass",
                    "metadata": {"name": name, "namespace": namespace},
                    "spec": {"provider": provider, "parameters": params},
                }
            )
        apply(
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": "reader", "namespace": namespace},
                "spec": {
                    "serviceAccountName": "app",
                    "terminationGracePeriodSeconds": 1,
                    "containers": [
                        {
                            "name": "app",
                            "image": IMAGE,
                            "imagePullPolicy": "Never",
                            "command": [
                                "sh",
                                "-c",
                                "cat /aws/sm; echo; cat /aws/ssm; echo; "
                                "cat /vault/password; echo; sleep 3600",
                            ],
                            "volumeMounts": [
                                {"name": "aws", "mountPath": "/aws", "readOnly": True},
                                {
                                    "name": "vault",
                                    "mountPath": "/vault",
                                    "readOnly": True,
                                },
                            ],
                        }
                    ],
                    "volumes": [
                        {
                            "name": "aws",
                            "csi": {
                                "driver": DRIVER,
                                "readOnly": True,
                                "volumeAttributes": {"secretProviderClass": "aws"},
                                "nodePublishSecretRef": {"name": "aws-creds"},
                            },
                        },
                        {
                            "name": "vault",
                            "csi": {
                                "driver": DRIVER,
                                "readOnly": True,
                                "volumeAttributes": {"secretProviderClass": "vault"},
                            },
                        },
                    ],
                },
            }
        )
        try:
            kubectl(
                "wait",
                "-n",
                namespace,
                "--for=condition=Ready",
                "pod/reader",
                "--timeout=120s",
                timeout=150,
            )
        except (RuntimeError, subprocess.TimeoutExpired):
            events = kubectl(
                "get",
                "events",
                "-n",
                namespace,
                "-o",
                "custom-columns=R:.reason,M:.message",
            )
            logs = "\n".join(f"--- {p.name}\n{p.read_text()[-2000:]}" for p in upstream_driver.glob("*.log"))
            raise AssertionError(f"pod not ready\n{events}\n{logs}") from None
        logs = kubectl("logs", "-n", namespace, "reader")
        assert f"sm-{tag}" in logs
        assert f"ssm-{tag}" in logs
        assert f"vault-{tag}" in logs
        # Rotation: the upstream driver remounts with the versions it holds; the new value reaches the pod.
        boto3.client("secretsmanager", **kw).put_secret_value(
            SecretId=f"interop-{tag}", SecretString=f"sm2-{tag}"
        )
        wait(
            lambda: kubectl("exec", "-n", namespace, "reader", "--", "cat", "/aws/sm") == f"sm2-{tag}",
            "rotated secret in the pod",
            90,
        )
        assert kubectl("exec", "-n", namespace, "reader", "--", "cat", "/aws/ssm") == f"ssm-{tag}"
        kubectl("delete", "pod", "-n", namespace, "reader", "--wait=true", "--timeout=60s")
    finally:
        kubectl("delete", "clusterrolebinding", binding)
        bao.call("DELETE", f"sys/auth/{mount}")
