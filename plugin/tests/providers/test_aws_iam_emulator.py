"""The AWS provider against a moto that enforces IAM: a key IAM denies fails the mount with AccessDenied
naming the object, and a policy without BatchGetSecretValue still gets every secret one call at a time.

moto enforces IAM for the whole server, so this module starts one of its own on a free port (the shared
moto stays open for the other tests). It enforces after the first BOOTSTRAP_ACTIONS requests, which
create the admin user the test then signs with. moto answers IAM denials of the JSON Secrets Manager API
in XML: the SDK cannot parse that body and reports only HTTP 403, which is what the provider must read.
The IRSA path (assumed-role credentials from STS) is proven on the cluster by
tests/security/test_isolation_aws.py.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import grpc
import pytest
import yaml

from .provider_support import ProviderProcess, calls_delta, files_of, free_port, start_provider, stop_provider

pytestmark = pytest.mark.emulators

REGION = "us-east-1"
BOOTSTRAP_ACTIONS = 3  # CreateUser, PutUserPolicy, CreateAccessKey of the admin user


def statement(effect: str, *actions: str) -> dict[str, Any]:
    return {"Effect": effect, "Action": list(actions), "Resource": "*"}


@pytest.fixture(scope="module")
def moto_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    log = tmp_path_factory.mktemp("moto-iam") / "moto.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "INITIAL_NO_AUTH_ACTION_COUNT": str(BOOTSTRAP_ACTIONS)},
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}/moto-api/", timeout=2):
                    break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, log.read_text()[-2000:]
                time.sleep(0.3)
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(10)


@pytest.fixture(scope="module")
def admin(moto_url: str) -> dict[str, str]:
    """boto3 arguments signed by an IAM user allowed everything; after these three calls moto enforces."""
    iam = boto3.client(
        "iam", endpoint_url=moto_url, region_name=REGION, aws_access_key_id="boot", aws_secret_access_key="x"
    )
    iam.create_user(UserName="admin")
    iam.put_user_policy(
        UserName="admin",
        PolicyName="all",
        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [statement("Allow", "*")]}),
    )
    key = iam.create_access_key(UserName="admin")["AccessKey"]
    with pytest.raises(iam.exceptions.ClientError):  # the bootstrap key is nobody's: refused from now on
        iam.list_users()
    return {
        "endpoint_url": moto_url,
        "region_name": REGION,
        "aws_access_key_id": key["AccessKeyId"],
        "aws_secret_access_key": key["SecretAccessKey"],
    }


def user_keys(admin: dict[str, str], *statements: dict[str, Any]) -> dict[str, str]:
    """A new IAM user with one inline policy; its keys as a nodePublishSecretRef Secret holds them."""
    iam = boto3.client("iam", **admin)
    name = f"u{uuid.uuid4().hex[:10]}"
    iam.create_user(UserName=name)
    iam.put_user_policy(
        UserName=name,
        PolicyName="p",
        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": list(statements)}),
    )
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return {"access_key_id": key["AccessKeyId"], "secret_access_key": key["SecretAccessKey"]}


@pytest.fixture(scope="module")
def aws(moto_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProviderProcess]:
    env = {
        "AWS_ENDPOINT_URL": moto_url,
        "AWS_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "",
        "AWS_SECRET_ACCESS_KEY": "",
        "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
    }
    p = start_provider("aws", tmp_path_factory.mktemp("aws-iam"), env)
    yield p
    stop_provider(p)


def attrs(names: list[str]) -> dict[str, str]:
    return {
        "objects": yaml.safe_dump([{"objectName": n, "objectType": "secretsmanager"} for n in names]),
        "csi.storage.k8s.io/pod.uid": str(uuid.uuid4()),
        "csi.storage.k8s.io/pod.namespace": "default",
        "csi.storage.k8s.io/pod.name": "app",
    }


def test_a_key_iam_denies_fails_the_mount_with_access_denied_naming_the_object(
    aws: ProviderProcess, admin: dict[str, str]
) -> None:
    name, value = f"iam-{uuid.uuid4().hex[:8]}", f"v-{uuid.uuid4().hex}"
    boto3.client("secretsmanager", **admin).create_secret(Name=name, SecretString=value)
    reader = user_keys(admin, statement("Allow", "secretsmanager:GetSecretValue"))
    denied = user_keys(
        admin, statement("Allow", "secretsmanager:*"), statement("Deny", "secretsmanager:GetSecretValue")
    )
    assert files_of(aws.mount(attrs([name]), secrets=reader)) == {name: value.encode()}
    with pytest.raises(grpc.RpcError) as info:
        aws.mount(attrs([name]), secrets=denied)
    err = info.value
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED, err.details()
    assert dict(err.trailing_metadata())["error-code"] == "AccessDenied"
    assert name in err.details() and "GetSecretValue" in err.details()
    assert value not in err.details()
    assert value not in aws.log()


def test_without_batch_permission_every_secret_is_read_one_by_one(
    aws: ProviderProcess, admin: dict[str, str]
) -> None:
    sm = boto3.client("secretsmanager", **admin)
    names = [f"iam-{uuid.uuid4().hex[:8]}" for _ in range(3)]
    for n in names:
        sm.create_secret(Name=n, SecretString=f"value-of-{n}")
    keys = user_keys(admin, statement("Allow", "secretsmanager:GetSecretValue"))
    before = aws.backend_calls()
    assert files_of(aws.mount(attrs(names), secrets=keys)) == {n: f"value-of-{n}".encode() for n in names}
    assert calls_delta(before, aws.backend_calls()) == {
        "secrets-manager.BatchGetSecretValue": 1,
        "secrets-manager.GetSecretValue": 3,
    }
