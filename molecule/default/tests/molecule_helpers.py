"""Helpers for the testinfra checks of the molecule scenario: kubectl JSON reads and kubectl-backend hosts."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import testinfra

SCENARIO = Path(__file__).resolve().parent.parent


def kubectl_json(*args: str) -> Any:
    out = subprocess.run(
        ["kubectl", "--kubeconfig", os.environ["KUBECONFIG"], *args, "-o", "json"],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout)


def pod_host(name: str, namespace: str, container: str | None = "app") -> Any:
    spec = f"kubectl://{name}?namespace={namespace}"
    if container:
        spec += f"&container={container}"
    return testinfra.get_host(spec, kubeconfig=os.environ["KUBECONFIG"])
