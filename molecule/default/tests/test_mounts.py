"""Inside the pods, after the rotation of side_effect: what a workload sees of its secrets-store volume."""

from __future__ import annotations

import re
from typing import Any

import pytest
from molecule_helpers import kubectl_json, pod_host

pytestmark = [pytest.mark.ansible, pytest.mark.cluster]

FILES = {
    "aws": [("secret", "aws_secret", "644"), ("param", "aws_param", "440")],
    "vault": [("secret", "vault_secret", "644")],
    "azure": [("secret", "azure_secret", "644")],
}


def test_every_pod_sees_the_rotated_content_with_the_file_modes_asked_for(
    workload_pods: list[tuple[str, str]], namespace: str, scenario_vars: dict[str, Any]
) -> None:
    for provider, pod in workload_pods:
        host = pod_host(pod, namespace)
        for name, key, mode in FILES[provider]:
            path = f"/mnt/secrets-store/{name}"
            assert host.file(path).content_string == scenario_vars["molecule_values"][key]["after"], (
                pod,
                path,
            )
            assert host.check_output("stat -L -c %%a %s", path) == mode, (pod, path)


def test_the_volume_is_a_read_only_tmpfs_in_every_pod(
    workload_pods: list[tuple[str, str]], namespace: str
) -> None:
    for _, pod in workload_pods:
        mounts = pod_host(pod, namespace).file("/proc/mounts").content_string.splitlines()
        line = next((m for m in mounts if m.split()[1] == "/mnt/secrets-store"), None)
        assert line is not None, f"{pod}: /mnt/secrets-store is not a mount point"
        fstype, options = line.split()[2], line.split()[3].split(",")
        assert fstype == "tmpfs", (pod, line)
        assert "ro" in options, (pod, line)


def test_the_synced_secret_reached_the_aws_pods_environment_at_start(
    workload_pods: list[tuple[str, str]], namespace: str, scenario_vars: dict[str, Any]
) -> None:
    aws_pods = [pod for provider, pod in workload_pods if provider == "aws"]
    assert aws_pods
    for pod in aws_pods:
        value = pod_host(pod, namespace).check_output("printenv SYNCED_SECRET")
        assert value == scenario_vars["molecule_values"]["aws_secret"]["before"], pod


def test_driver_metrics_count_a_publish_for_every_workload_pod(workload_pods: list[tuple[str, str]]) -> None:
    drivers = kubectl_json("get", "pods", "-A", "-l", "app.kubernetes.io/name=secrets-store-csi-driver")[
        "items"
    ]
    assert drivers, "no driver pod"
    total = 0.0
    for pod in drivers:
        host = pod_host(pod["metadata"]["name"], pod["metadata"]["namespace"], container=None)
        text = host.check_output(
            "python3 -c \"import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:8095/metrics').read().decode())\""
        )
        for line in text.splitlines():
            match = re.match(r"^node_publish_total(\{[^}]*\})?\s+([0-9.e+]+)$", line)
            if match:
                total += float(match.group(2))
    assert total >= len(workload_pods), f"node_publish_total {total} < {len(workload_pods)} workload pods"
