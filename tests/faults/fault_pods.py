"""Workloads for the fault tier: application namespaces whose `app` service account the tier's AWS (IRSA
through moto's STS) and Vault (Kubernetes auth on the private OpenBao) setups accept, pods with several
driver volumes, and the figures each fault test reports."""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import pytest
import yaml
from kubecluster import Cluster
from stack import Stack, secret_pod, secret_provider_class

T = TypeVar("T")
IRSA_ROLE = "arn:aws:iam::123456789012:role/ssc-faults"
# Figures printed at the end of the run (conftest's terminal summary): (fault, what, value).
FIGURES: list[tuple[str, str, str]] = []


def figure(fault: str, what: str, value: str) -> None:
    FIGURES.append((fault, what, value))


def app_service_account(cluster: Cluster, namespace: str) -> None:
    cluster.apply(
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {
                "name": "app",
                "annotations": {"eks.amazonaws.com/role-arn": IRSA_ROLE},
            },
        },
        namespace,
    )


def aws_spc(
    name: str, secrets: list[str], jmes: dict[str, list[dict[str, str]]] | None = None
) -> dict[str, Any]:
    objects: list[dict[str, Any]] = []
    for secret in secrets:
        obj: dict[str, Any] = {"objectName": secret, "objectType": "secretsmanager"}
        if jmes and secret in jmes:
            obj["jmesPath"] = jmes[secret]
        objects.append(obj)
    spc: dict[str, Any] = secret_provider_class(name, "aws", {"region": "us-east-1", "objects": objects})
    return spc


def vault_spc(name: str, path: str, key: str) -> dict[str, Any]:
    spc: dict[str, Any] = secret_provider_class(
        name,
        "vault",
        {
            "roleName": "app",
            "objects": [
                {
                    "objectName": key,
                    "secretPath": f"secret/data/{path}",
                    "secretKey": key,
                }
            ],
        },
    )
    return spc


def pod_with_volumes(
    name: str, spc: str, volumes: int, labels: dict[str, str] | None = None
) -> dict[str, Any]:
    """A pod mounting `spc` through `volumes` separate driver volumes at /mnt/s0, /mnt/s1, ..."""
    pod: dict[str, Any] = secret_pod(name, spc, service_account="app", labels=labels)
    spec = pod["spec"]
    csi = spec["volumes"][0]["csi"]
    spec["volumes"] = [{"name": f"s{i}", "csi": copy.deepcopy(csi)} for i in range(volumes)]
    spec["containers"][0]["volumeMounts"] = [
        {"name": f"s{i}", "mountPath": f"/mnt/s{i}", "readOnly": True} for i in range(volumes)
    ]
    return pod


def app_pod(name: str, spc: str, labels: dict[str, str] | None = None) -> dict[str, Any]:
    pod: dict[str, Any] = secret_pod(name, spc, service_account="app", labels=labels)
    return pod


def pod_uids(cluster: Cluster, namespace: str) -> dict[str, str]:
    items = cluster.kubectl_json("-n", namespace, "get", "pods")["items"]
    return {p["metadata"]["name"]: p["metadata"]["uid"] for p in items}


def parallel(fn: Callable[[str], T], items: list[str], workers: int = 4) -> dict[str, T]:
    with ThreadPoolExecutor(workers) as pool:
        return dict(zip(items, pool.map(fn, items), strict=True))


def wait_until(what: str, probe: Callable[[], T | None], timeout: float, interval: float = 0.5) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not seen within {timeout:.0f}s")
        time.sleep(interval)


def driver_metrics_url(stack: Stack) -> str:
    pod = stack.driver_pod()
    ip = stack.cluster.kubectl(
        "-n", stack.namespace, "get", "pod", pod, "-o", "jsonpath={.status.podIP}"
    ).stdout
    return f"http://{ip.strip()}:8095/metrics"


def pod_events(cluster: Cluster, namespace: str, pod: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = cluster.kubectl_json(
        "-n",
        namespace,
        "get",
        "events",
        "--field-selector",
        f"involvedObject.name={pod}",
    )["items"]
    return items


def dump_yaml(obj: Any) -> str:
    return yaml.safe_dump(obj, sort_keys=False)
