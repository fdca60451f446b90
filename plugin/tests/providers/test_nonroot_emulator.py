"""Providers run as an unprivileged user (upstream providers run as root)."""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

import pytest
import yaml

from .provider_support import files_of, start_provider, stop_provider
from .provider_vault import Bao, Signer, setup_jwt_auth

pytestmark = pytest.mark.emulators
NOBODY = 65534


def test_aws_provider_serves_mounts_as_nobody(emulators: dict[str, str], tmp_path: Path) -> None:
    import boto3

    name = f"t{uuid.uuid4().hex[:10]}"
    boto3.client(
        "ssm",
        endpoint_url=emulators["AWS_ENDPOINT_URL"],
        region_name="us-east-1",
        aws_access_key_id="a",
        aws_secret_access_key="b",
    ).put_parameter(Name=name, Value="v", Type="String")
    p = start_provider(
        "aws",
        tmp_path,
        {"AWS_ENDPOINT_URL": emulators["AWS_ENDPOINT_URL"], "AWS_REGION": "us-east-1"},
        user=NOBODY,
    )
    try:
        assert os.stat(p.socket).st_uid == NOBODY
        resp = p.mount(
            {"objects": yaml.safe_dump([{"objectName": name, "objectType": "ssmparameter"}])},
            secrets={"access_key_id": "a", "secret_access_key": "b"},
        )
        assert files_of(resp) == {name: b"v"}
    finally:
        stop_provider(p)


def test_vault_provider_serves_mounts_as_nobody(emulators: dict[str, str], tmp_path: Path) -> None:
    bao = Bao(emulators["VAULT_ADDR"])
    signer = Signer()
    bao.call(
        "PUT",
        "sys/policies/acl/ssc-nonroot",
        {"policy": 'path "secret/data/nonroot/*" {capabilities=["read"]}'},
    )
    setup_jwt_auth(bao, signer, "jwt-ssc-nonroot", "app", "ssc-nonroot")
    bao.call("POST", "secret/data/nonroot/x", {"data": {"k": "v"}})
    p = start_provider("vault", tmp_path, {"VAULT_ADDR": emulators["VAULT_ADDR"]}, user=NOBODY)
    try:
        tokens = {"vault": {"token": signer.token("sub", "vault"), "expirationTimestamp": ""}}
        resp = p.mount(
            {
                "roleName": "app",
                "vaultAuthMountPath": "jwt-ssc-nonroot",
                "csi.storage.k8s.io/serviceAccount.tokens": json.dumps(tokens),
                "objects": yaml.safe_dump(
                    [{"objectName": "k", "secretPath": "secret/data/nonroot/x", "secretKey": "k"}]
                ),
            }
        )
        assert files_of(resp) == {"k": b"v"}
    finally:
        stop_provider(p)


def test_unwritable_socket_directory_is_a_clear_startup_error(tmp_path: Path) -> None:
    import subprocess
    import sys

    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p and os.path.isdir(p))}
    out = subprocess.run(
        [
            "/usr/bin/python3",
            "-m",
            "secrets_store_csi.cli",
            "provider",
            "vault",
            "--socket-dir",
            "/var/run/ssc-denied",
        ],
        env=env,
        user=NOBODY,
        cwd="/",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode != 0
    assert "cannot create the provider socket /var/run/ssc-denied/vault.sock as uid 65534" in out.stderr
    assert "Traceback" not in out.stderr
