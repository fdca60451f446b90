"""Fixtures for the molecule scenario's testinfra checks: the workload pods, via the kubectl backend."""

from __future__ import annotations

import os
from typing import Any

import pytest
import yaml
from molecule_helpers import SCENARIO, kubectl_json


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
