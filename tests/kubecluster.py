"""The local devcluster as tests see it (hack/devcluster): kubeconfig path and kubectl/helm helpers.

Imported by tests/conftest.py (the `cluster` fixture) and by cluster-level tests:
`from kubecluster import Cluster` (tests/ is on sys.path once its conftest is loaded).
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent
CACHE = Path(os.environ.get("CACHE", str(Path.home() / ".cache" / "secrets-store-csi")))
STATE = Path("/var/lib/ssc-devcluster")
KUBECONFIG = STATE / "admin.kubeconfig"


@dataclass(frozen=True)
class Cluster:
    """The running devcluster, as a test sees it."""

    kubeconfig: Path
    bin_dir: Path

    def __fspath__(self) -> str:
        return str(self.kubeconfig)

    @property
    def env(self) -> dict[str, str]:
        """Environment for a subprocess that should talk to this cluster."""
        return {
            **os.environ,
            "KUBECONFIG": str(self.kubeconfig),
            "PATH": f"{self.bin_dir}:{os.environ.get('PATH', '')}",
        }

    def kubectl(
        self,
        *args: str,
        input: str | None = None,
        check: bool = True,
        timeout: float = 120,
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                str(self.bin_dir / "kubectl"),
                "--kubeconfig",
                str(self.kubeconfig),
                *args,
            ],
            input=input,
            capture_output=True,
            text=True,
            check=check,
            timeout=timeout,
        )

    def kubectl_json(self, *args: str) -> Any:
        return json.loads(self.kubectl(*args, "-o", "json").stdout)

    def apply(self, manifest: dict[str, Any] | list[dict[str, Any]], namespace: str) -> None:
        items = manifest if isinstance(manifest, list) else [manifest]
        doc = json.dumps({"apiVersion": "v1", "kind": "List", "items": items})
        self.kubectl("-n", namespace, "apply", "-f", "-", input=doc)

    def helm(self, *args: str, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.bin_dir / "helm"), "--kubeconfig", str(self.kubeconfig), *args],
            capture_output=True,
            text=True,
            check=check,
            timeout=timeout,
            env=self.env,
        )

    def node(self) -> dict[str, Any]:
        nodes = self.kubectl_json("get", "nodes")["items"]
        assert len(nodes) == 1, f"the devcluster has one node, found {len(nodes)}"
        node: dict[str, Any] = nodes[0]
        return node

    def node_ready(self) -> bool:
        try:
            conditions = self.node()["status"]["conditions"]
        except (
            subprocess.SubprocessError,
            AssertionError,
            KeyError,
            json.JSONDecodeError,
        ):
            return False
        return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)

    def wait_pod_phase(self, namespace: str, name: str, phases: set[str], timeout: float = 120) -> str:
        """Waits until the pod reaches one of `phases`; returns the phase or fails with its state."""
        deadline = time.monotonic() + timeout
        phase = ""
        while time.monotonic() < deadline:
            res = self.kubectl(
                "-n",
                namespace,
                "get",
                "pod",
                name,
                "-o",
                "jsonpath={.status.phase}",
                check=False,
            )
            phase = res.stdout.strip()
            if phase in phases:
                return phase
            time.sleep(1)
        described = self.kubectl("-n", namespace, "describe", "pod", name, check=False).stdout
        pytest.fail(
            f"pod {namespace}/{name} is {phase!r}, not one of {phases} after {timeout}s:\n{described}"
        )


def wait_cluster_ready(cluster: Cluster, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cluster.node_ready():
            return True
        time.sleep(2)
    return False
