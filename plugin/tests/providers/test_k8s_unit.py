"""The provider's small Kubernetes client: kubeconfig and in-cluster configuration."""

from __future__ import annotations

import base64
import ssl
from pathlib import Path

import pytest
import yaml
from cryptography.hazmat.primitives import serialization

from secrets_store_csi.providers.errors import ErrorCode, ProviderError
from secrets_store_csi.providers.k8s import KubeClient, in_cluster_config, load_kubeconfig

from .provider_certs import make_chain


def write_kubeconfig(tmp: Path, user: dict[str, object]) -> Path:
    ch = make_chain()
    ca = base64.b64encode(ch.root.public_bytes(serialization.Encoding.PEM)).decode()
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": "c",
        "clusters": [
            {"name": "k", "cluster": {"server": "https://api.example:6443", "certificate-authority-data": ca}}
        ],
        "contexts": [{"name": "c", "context": {"cluster": "k", "user": "u"}}],
        "users": [{"name": "u", "user": user}],
    }
    path = tmp / "kubeconfig"
    path.write_text(yaml.safe_dump(doc))
    return path


def test_kubeconfig_with_token_file_rereads_the_token(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("first\n")
    cfg = load_kubeconfig(str(write_kubeconfig(tmp_path, {"tokenFile": str(token_file)})))
    assert cfg.server == "https://api.example:6443"
    assert isinstance(cfg.ssl_context, ssl.SSLContext)
    client = KubeClient(cfg)
    assert client._headers() == {"Authorization": "Bearer first"}
    token_file.write_text("rotated\n")
    assert client._headers() == {"Authorization": "Bearer rotated"}


def test_kubeconfig_with_client_certificate_data(tmp_path: Path) -> None:
    ch = make_chain()
    cert = base64.b64encode(ch.leaf.public_bytes(serialization.Encoding.PEM)).decode()
    key = base64.b64encode(
        ch.leaf_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    ).decode()
    cfg = load_kubeconfig(
        str(write_kubeconfig(tmp_path, {"client-certificate-data": cert, "client-key-data": key}))
    )
    assert KubeClient(cfg)._headers() == {}


def test_outside_a_cluster_without_kubeconfig_there_is_no_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    assert in_cluster_config() is None


async def test_a_read_without_config_is_a_clear_error() -> None:
    with pytest.raises(ProviderError) as info:
        await KubeClient(None).service_account_annotations("ns", "sa")
    assert info.value.code == ErrorCode.INTERNAL
    assert "no Kubernetes API configuration" in str(info.value)
