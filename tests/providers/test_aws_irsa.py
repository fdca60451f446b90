"""AWS provider with IRSA: the role comes from the service account's annotation (read from the local
cluster's API), the web identity token is the pod's token for `sts.amazonaws.com`, and moto's STS
AssumeRoleWithWebIdentity issues the credentials. (moto does not verify the token's signature.)"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import boto3
import grpc
import pytest
import yaml
from provider_cluster import kubectl
from provider_support import emulator_env, files_of, start_provider, stop_provider

pytestmark = [pytest.mark.cluster, pytest.mark.emulators]

ROLE = "arn:aws:iam::123456789012:role/ssc-provider-test"


def test_irsa_role_from_the_service_account_annotation(
    cluster: dict[str, str], namespace: str, tmp_path: Path
) -> None:
    env = emulator_env()
    name = f"irsa-{uuid.uuid4().hex[:8]}"
    boto3.client(
        "secretsmanager",
        endpoint_url=env["AWS_ENDPOINT_URL"],
        region_name="us-east-1",
        aws_access_key_id="a",
        aws_secret_access_key="b",
    ).create_secret(Name=name, SecretString="via-irsa")
    kubectl("create", "serviceaccount", "app", "-n", namespace)
    kubectl(
        "annotate",
        "serviceaccount",
        "app",
        "-n",
        namespace,
        f"eks.amazonaws.com/role-arn={ROLE}",
    )
    kubectl("create", "serviceaccount", "plain", "-n", namespace)
    token = kubectl("create", "token", "app", "-n", namespace, "--audience=sts.amazonaws.com").strip()

    p = start_provider(
        "aws",
        tmp_path,
        {
            "AWS_ENDPOINT_URL": env["AWS_ENDPOINT_URL"],
            "AWS_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "",
            "AWS_SECRET_ACCESS_KEY": "",
        },
        extra_args=["--kubeconfig", cluster["kubeconfig"]],
    )
    try:

        def attrs(sa: str) -> dict[str, str]:
            return {
                "objects": yaml.safe_dump([{"objectName": name, "objectType": "secretsmanager"}]),
                "csi.storage.k8s.io/pod.namespace": namespace,
                "csi.storage.k8s.io/serviceAccount.name": sa,
                "csi.storage.k8s.io/pod.uid": str(uuid.uuid4()),
                "csi.storage.k8s.io/serviceAccount.tokens": json.dumps(
                    {"sts.amazonaws.com": {"token": token, "expirationTimestamp": ""}}
                ),
            }

        assert files_of(p.mount(attrs("app"))) == {name: b"via-irsa"}
        calls = p.backend_calls()
        assert calls.get("sts.AssumeRoleWithWebIdentity") == 1
        with pytest.raises(grpc.RpcError) as info:
            p.mount(attrs("plain"))
        assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert "IAM role" in (info.value.details() or "")
        assert token not in p.log()
    finally:
        stop_provider(p)
