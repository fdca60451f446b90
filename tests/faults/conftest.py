"""Fixtures of the fault tier (tests/faults, markers `cluster` and `emulators`).

One stack for the whole tier: the driver chart (rotation on, polled every ROTATION_POLL) and the AWS and
Vault provider charts, installed by tests/stack.py while it holds /tmp/ssc-cluster-driver.lock, so every
disruptive step of the tier (SIGKILL of the driver, kubelet and kube-apiserver restarts) happens under the
team's lock. The AWS provider reaches moto through the tier's fault proxy and the Vault provider a private
OpenBao (fault_backends.py), so breaking either backend leaves the other helpers' emulators alone.
"""

from __future__ import annotations

import base64
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).parent))

from fault_backends import FaultProxy, PrivateBao
from fault_pods import FIGURES, app_service_account
from kubecluster import Cluster
from stack import Stack, emulators, installed_stack

ROTATION_POLL = "1s"


@pytest.fixture(scope="session")
def emulator_env() -> dict[str, str]:
    env: dict[str, str] = emulators()
    return env


@pytest.fixture(scope="session")
def moto(emulator_env: dict[str, str]) -> Any:
    """boto3 Secrets Manager client straight to moto (not through the fault proxy)."""
    import boto3

    return boto3.client(
        "secretsmanager",
        endpoint_url=emulator_env["MOTO_URL"],
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


@pytest.fixture(scope="session")
def fault_proxy(emulator_env: dict[str, str]) -> Iterator[FaultProxy]:
    proxy = FaultProxy(("127.0.0.1", int(emulator_env["MOTO_URL"].rsplit(":", 1)[1]))).start()
    yield proxy
    proxy.stop()


@pytest.fixture(scope="session")
def private_bao() -> Iterator[PrivateBao]:
    venv_bao = Path(sys.executable).parent / "bao"
    with tempfile.TemporaryDirectory(prefix="ssc-faults-bao-") as work:
        bao = PrivateBao(venv_bao, Path(work)).start()
        try:
            yield bao
        finally:
            bao.stop()


@pytest.fixture(scope="session")
def stack(
    cluster: Cluster,
    emulator_env: dict[str, str],
    fault_proxy: FaultProxy,
    private_bao: PrivateBao,
) -> Iterator[Stack]:
    host = emulator_env["EMULATOR_HOST_IP"]
    with installed_stack(
        cluster,
        prefix="faults",
        driver_values={
            "enableSecretRotation": True,
            "rotationPollInterval": ROTATION_POLL,
        },
        provider_values={
            "aws": {"aws": {"endpointUrl": f"http://{host}:{fault_proxy.port}"}},
            "vault": {"vault": {"address": f"http://{host}:{private_bao.port}"}},
        },
    ) as installed:
        binding = f"{installed.namespace}-bao-reviewer"
        try:
            _configure_bao_kubernetes_auth(cluster, installed.namespace, binding, private_bao)
            yield installed
        finally:
            cluster.kubectl(
                "delete",
                "clusterrolebinding",
                binding,
                "--ignore-not-found",
                check=False,
            )


def _configure_bao_kubernetes_auth(cluster: Cluster, namespace: str, binding: str, bao: PrivateBao) -> None:
    """Kubernetes auth at the default mount: role `app` for service accounts named `app` in any namespace,
    audience `vault`, reading secret/data/faults/*; tokens reviewed through the cluster's TokenReview."""
    cluster.kubectl("-n", namespace, "create", "serviceaccount", "bao-reviewer")
    cluster.kubectl(
        "create",
        "clusterrolebinding",
        binding,
        "--clusterrole=system:auth-delegator",
        f"--serviceaccount={namespace}:bao-reviewer",
    )
    reviewer = cluster.kubectl(
        "-n", namespace, "create", "token", "bao-reviewer", "--duration=2h"
    ).stdout.strip()
    server = yaml.safe_load(Path(cluster.kubeconfig).read_text())["clusters"][0]["cluster"]
    bao.call("POST", "sys/auth/kubernetes", {"type": "kubernetes"})
    bao.call(
        "POST",
        "auth/kubernetes/config",
        {
            "kubernetes_host": server["server"],
            "kubernetes_ca_cert": base64.b64decode(server["certificate-authority-data"]).decode(),
            "token_reviewer_jwt": reviewer,
            "disable_local_ca_jwt": True,
        },
    )
    bao.call(
        "PUT",
        "sys/policies/acl/faults",
        {"policy": 'path "secret/data/faults/*" { capabilities = ["read"] }'},
    )
    bao.call(
        "POST",
        "auth/kubernetes/role/app",
        {
            "bound_service_account_names": ["app"],
            "bound_service_account_namespaces": ["*"],
            "audience": "vault",
            "token_policies": ["faults"],
            "token_ttl": "10m",
        },
    )


@pytest.fixture
def app_ns(cluster: Cluster, namespace: str, stack: Stack) -> Iterator[str]:
    """A fresh namespace with the `app` service account (IRSA annotation; the Vault role's account). Its pods
    are deleted, and waited for, while the driver still runs: their volumes are unmounted before the stack
    goes."""
    app_service_account(cluster, namespace)
    yield namespace
    cluster.kubectl(
        "-n",
        namespace,
        "delete",
        "pods",
        "--all",
        "--wait",
        "--timeout=180s",
        check=False,
        timeout=200,
    )


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not FIGURES:
        return
    terminalreporter.section("fault tier figures")
    for fault, what, value in FIGURES:
        terminalreporter.write_line(f"{fault:<34} {what:<46} {value}")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The operator fault installs its own driver (through the operator) under the team's lock: it runs
    before the tier's stack takes that lock for the rest of the session."""
    items.sort(key=lambda item: 0 if item.path.name == "test_operator_killed.py" else 1)
