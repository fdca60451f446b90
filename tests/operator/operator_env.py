"""Shared by the operator's chart and cluster tests: paths, helm and kubectl runners."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
CACHE = Path(os.environ.get("CACHE", Path.home() / ".cache" / "secrets-store-csi"))
HELM = os.environ.get("HELM", str(CACHE / "bin" / "helm"))
DRIVER_CHART = ROOT / "charts" / "secrets-store-csi-driver"
OPERATOR_CHART = ROOT / "charts" / "secrets-store-csi-driver-operator"
KUBECONFIG = os.environ.get("SSC_KUBECONFIG", "/var/lib/ssc-devcluster/admin.kubeconfig")
KUBE_VERSION = "v1.34.4"
KUBECTL = str(CACHE / "bin" / "kubectl") if (CACHE / "bin" / "kubectl").exists() else "kubectl"


def helm_template(
    chart: Path, values: dict[str, Any] | None = None, namespace: str = "ssc"
) -> list[dict[str, Any]]:
    out = subprocess.run(
        [
            HELM,
            "template",
            "r",
            str(chart),
            "--namespace",
            namespace,
            "--include-crds",
            "--kube-version",
            KUBE_VERSION,
            "--values",
            "-",
        ],
        input=json.dumps(values or {}),
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [d for d in yaml.safe_load_all(out) if isinstance(d, dict) and d.get("kind")]


def kubectl(*args: str, input: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [KUBECTL, "--kubeconfig", KUBECONFIG, *args],
        input=input,
        capture_output=True,
        text=True,
        check=check,
    )


def kubectl_json(*args: str) -> Any:
    return json.loads(kubectl(*args, "-o", "json").stdout)
