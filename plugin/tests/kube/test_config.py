"""The shared Kubernetes client's configuration: kubeconfig files, in-cluster, kopf's login; the provider's
reads on top of it."""

from __future__ import annotations

import base64
import datetime
import ssl
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from secrets_store_csi.kube.config import in_cluster_config, load_kubeconfig
from secrets_store_csi.providers.errors import ErrorCode, ProviderError
from secrets_store_csi.providers.kubereads import KubeReads


@dataclass
class Chain:
    root: x509.Certificate
    leaf: x509.Certificate
    leaf_key: ec.EllipticCurvePrivateKey


def _cert(
    cn: str, key: ec.EllipticCurvePrivateKey, issuer_key: ec.EllipticCurvePrivateKey, issuer: str
) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=cn == issuer, path_length=None), critical=True)
        .sign(issuer_key, hashes.SHA256())
    )


def make_chain() -> Chain:
    root_key, leaf_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    return Chain(
        _cert("root", root_key, root_key, "root"), _cert("leaf", leaf_key, root_key, "root"), leaf_key
    )


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
    assert cfg.headers() == {"Authorization": "Bearer first"}
    token_file.write_text("rotated\n")
    assert cfg.headers() == {"Authorization": "Bearer rotated"}


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
    assert cfg.headers() == {}
    assert isinstance(cfg.ssl_context, ssl.SSLContext)
    assert not list(tmp_path.glob("ssc-kube-*"))


def test_outside_a_cluster_without_kubeconfig_there_is_no_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    assert in_cluster_config() is None


async def test_a_read_without_config_is_a_clear_error() -> None:
    with pytest.raises(ProviderError) as info:
        await KubeReads(None).service_account_annotations("ns", "sa")
    assert info.value.code == ErrorCode.INTERNAL
    assert "no Kubernetes API configuration" in str(info.value)


def test_in_cluster_config_uses_the_service_host_and_token_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from secrets_store_csi.kube import config

    (tmp_path / "token").write_text("sa-token\n")
    monkeypatch.setattr(config, "SA_DIR", str(tmp_path))
    monkeypatch.setattr(ssl, "create_default_context", lambda **_: False)
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "fd00::1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "6443")
    cfg = in_cluster_config()
    assert cfg is not None and cfg.server == "https://[fd00::1]:6443"
    assert cfg.headers() == {"Authorization": "Bearer sa-token"}


def test_basic_auth_when_there_is_no_token() -> None:
    from secrets_store_csi.kube.config import KubeConfig

    assert KubeConfig("https://x", username="u", password="p").headers() == {"Authorization": "Basic dTpw"}
