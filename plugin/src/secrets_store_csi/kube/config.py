"""Where the API server is and how to authenticate: a kubeconfig file or the pod's service account."""

from __future__ import annotations

import base64
import os
import ssl
import tempfile
from dataclasses import dataclass
from typing import Any

import yaml

SA_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"


@dataclass
class KubeConfig:
    server: str
    ssl_context: ssl.SSLContext | bool = True
    token: str = ""
    # A file holding the token (the kubelet rotates bound service-account tokens): re-read per request.
    token_file: str = ""
    scheme: str = "Bearer"
    username: str = ""
    password: str = ""

    def headers(self) -> dict[str, str]:
        """The Authorization header, if any credentials are token or basic auth."""
        token = self.token
        if self.token_file and os.path.exists(self.token_file):
            with open(self.token_file, encoding="utf-8") as fh:
                token = fh.read().strip()
        if token:
            return {"Authorization": f"{self.scheme or 'Bearer'} {token}"}
        if self.username and self.password:
            basic = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
            return {"Authorization": f"Basic {basic}"}
        return {}


def client_ssl_context(
    ca_pem: bytes | None, cert_pem: bytes | None, key_pem: bytes | None, *, insecure: bool = False
) -> ssl.SSLContext | bool:
    """TLS settings from PEM bytes. `ssl` loads a client key only from a file: it goes to a private
    temporary directory, removed right after loading."""
    if insecure and not (cert_pem and key_pem):
        return False
    context = ssl.create_default_context(cadata=ca_pem.decode() if ca_pem else None)
    if insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if cert_pem and key_pem:
        with tempfile.TemporaryDirectory(prefix="ssc-kube-") as tmp:
            os.chmod(tmp, 0o700)
            pem = os.path.join(tmp, "client.pem")
            fd = os.open(pem, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as out:
                out.write(cert_pem.rstrip(b"\n") + b"\n" + key_pem)
            context.load_cert_chain(pem)
    return context


def _material(entry: dict[str, Any], key: str, base_dir: str) -> bytes | None:
    """`key` (a path, relative to the kubeconfig) or `key-data` (base64), as kubeconfig allows both."""
    if entry.get(f"{key}-data"):
        return base64.b64decode(entry[f"{key}-data"])
    if entry.get(key):
        path = str(entry[key])
        with open(path if os.path.isabs(path) else os.path.join(base_dir, path), "rb") as fh:
            return fh.read()
    return None


def load_kubeconfig(path: str) -> KubeConfig:
    """The current context of a kubeconfig file (the first context when none is current)."""
    with open(path, encoding="utf-8") as fh:
        doc = yaml.safe_load(fh)
    base_dir = os.path.dirname(os.path.abspath(path))
    contexts = {c["name"]: c["context"] for c in doc.get("contexts", [])}
    clusters = {c["name"]: c["cluster"] for c in doc.get("clusters", [])}
    users = {u["name"]: u.get("user") or {} for u in doc.get("users", [])}
    ctx = contexts[doc.get("current-context") or next(iter(contexts))]
    cluster = clusters[ctx["cluster"]]
    user = users.get(ctx.get("user", ""), {})
    return KubeConfig(
        server=str(cluster["server"]).rstrip("/"),
        ssl_context=client_ssl_context(
            _material(cluster, "certificate-authority", base_dir),
            _material(user, "client-certificate", base_dir),
            _material(user, "client-key", base_dir),
            insecure=bool(cluster.get("insecure-skip-tls-verify")),
        ),
        token=str(user.get("token") or ""),
        token_file=str(user.get("tokenFile") or ""),
        username=str(user.get("username") or ""),
        password=str(user.get("password") or ""),
    )


def in_cluster_config() -> KubeConfig | None:
    """The pod's service account, with the API server from KUBERNETES_SERVICE_HOST/PORT (no cluster DNS
    needed); None outside a pod."""
    host = os.environ.get("KUBERNETES_SERVICE_HOST")
    port = os.environ.get("KUBERNETES_SERVICE_PORT", "443")
    if not host or not os.path.exists(os.path.join(SA_DIR, "token")):
        return None
    if ":" in host:
        host = f"[{host}]"
    return KubeConfig(
        server=f"https://{host}:{port}",
        ssl_context=ssl.create_default_context(cafile=os.path.join(SA_DIR, "ca.crt")),
        token_file=os.path.join(SA_DIR, "token"),
    )


def load_config(kubeconfig: str) -> KubeConfig:
    """A kubeconfig file when given, else the pod's service account; RuntimeError when neither exists."""
    if kubeconfig:
        return load_kubeconfig(kubeconfig)
    config = in_cluster_config()
    if config is None:
        raise RuntimeError(
            "not running in a cluster (KUBERNETES_SERVICE_HOST unset) and no --kubeconfig given"
        )
    return config
