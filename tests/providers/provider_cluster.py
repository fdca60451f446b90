"""Cluster-tier helpers for the provider tests: kubectl against the local cluster."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "plugin" / "tests" / "providers"))

KUBECONFIG = os.environ.get("SSC_KUBECONFIG", "/var/lib/ssc-devcluster/admin.kubeconfig")
CACHE = Path(os.environ.get("CACHE", Path.home() / ".cache" / "secrets-store-csi"))


def kubectl(*args: str, stdin: str | None = None, timeout: float = 60) -> str:
    binary = shutil.which("kubectl", path=f"{CACHE / 'bin'}:{os.environ.get('PATH', '')}") or "kubectl"
    out = subprocess.run(
        [binary, "--kubeconfig", KUBECONFIG, *args],
        input=stdin,
        check=False,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if out.returncode != 0:
        raise RuntimeError(f"kubectl {' '.join(args)}: {out.stderr.strip()}")
    return out.stdout
