"""Fixtures for the testinfra checks of the molecule scenario: the workload pods, reached with the kubectl backend."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import testinfra
import yaml

SCENARIO = Path(__file__).resolve().parent.parent


def kubectl_json(*args: str) -> Any:
    out = subprocess.run(
        ["kubectl", "--kubeconfig", os.environ["KUBECONFIG"], *args, "-o", "json"],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout)


@pytest.fixture(scope="session")
def scenario_vars() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((SCENARIO / "vars.yml").read_text())
    return data


@pytest.fixture(scope="session")
def namespace() -> str:
    return os.environ.get("MOLECULE_NAMESPACE", "ansible-molecule")


@pytest.fixture(scope="session")
def providers() -> list[str]:
    return [p for p in os.environ.get("MOLECULE_PROVIDERS", "aws,vault").split(",") if p]


@pytest.fixture(scope="session")
def workload_pods(namespace: str, providers: list[str]) -> list[tuple[str, str]]:
    """(provider, pod name) for every running workload pod."""
    pods = kubectl_json("-n", namespace, "get", "pods", "--field-selector=status.phase=Running")["items"]
    found = [
        (p["metadata"]["labels"]["app"].removesuffix("-app"), p["metadata"]["name"])
        for p in pods
        if p["metadata"].get("labels", {}).get("app", "").removesuffix("-app") in providers
    ]
    assert found, f"no running workload pods in {namespace}"
    return found


def pod_host(name: str, namespace: str, container: str | None = "app") -> Any:
    spec = f"kubectl://{name}?namespace={namespace}"
    if container:
        spec += f"&container={container}"
    return testinfra.get_host(spec, kubeconfig=os.environ["KUBECONFIG"])
