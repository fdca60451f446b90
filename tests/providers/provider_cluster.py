"""Cluster-tier helpers for the provider tests: kubectl against the local cluster."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

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


def configure_vault_kubernetes_auth(
    bao: Any, mount: str, cluster: dict[str, str], reviewer_jwt: str, namespace: str, **role: Any
) -> None:
    """OpenBao's Kubernetes auth at `mount`, reviewing tokens through the local cluster's TokenReview
    API: role `app` for the service account `app` of `namespace` (audience `vault`), reading
    secret/<namespace>/*."""
    bao.ensure_mount(mount, {"type": "kubernetes"}, kind="auth")
    bao.call(
        "POST",
        f"auth/{mount}/config",
        {
            "kubernetes_host": cluster["server"],
            "kubernetes_ca_cert": cluster["ca"],
            "token_reviewer_jwt": reviewer_jwt,
            "disable_local_ca_jwt": True,
        },
    )
    bao.call(
        "PUT",
        f"sys/policies/acl/{namespace}",
        {"policy": f'path "secret/data/{namespace}/*" {{ capabilities = ["read"] }}'},
    )
    bao.call(
        "POST",
        f"auth/{mount}/role/app",
        {
            "bound_service_account_names": ["app"],
            "bound_service_account_namespaces": [namespace],
            "audience": "vault",
            "token_policies": [namespace],
            **role,
        },
    )
