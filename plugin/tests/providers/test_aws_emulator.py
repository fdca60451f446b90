"""The AWS provider, driven through its gRPC socket like a driver, against moto (Secrets Manager, SSM)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import grpc
import pytest
import yaml

from secrets_store_csi.proto.v1alpha1 import provider_pb2

from .provider_support import (
    ProviderProcess,
    calls_delta,
    files_of,
    start_provider,
    stop_provider,
    versions_of,
)

pytestmark = pytest.mark.emulators

KEYS = {"access_key_id": "AKIDEXAMPLE", "secret_access_key": "example-secret-key"}
REGION = "us-east-1"


@pytest.fixture(scope="module")
def aws(emulators: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProviderProcess]:
    env = {
        "AWS_ENDPOINT_URL": emulators["AWS_ENDPOINT_URL"],
        "AWS_REGION": REGION,
        # the provider must not fall back on credentials of its own
        "AWS_ACCESS_KEY_ID": "",
        "AWS_SECRET_ACCESS_KEY": "",
        "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
    }
    p = start_provider("aws", tmp_path_factory.mktemp("aws"), env)
    yield p
    stop_provider(p)


@pytest.fixture(scope="module")
def sm(emulators: dict[str, str]) -> Any:
    return boto3.client(
        "secretsmanager",
        endpoint_url=emulators["AWS_ENDPOINT_URL"],
        region_name=REGION,
        aws_access_key_id="a",
        aws_secret_access_key="b",
    )


@pytest.fixture(scope="module")
def ssm(emulators: dict[str, str]) -> Any:
    return boto3.client(
        "ssm",
        endpoint_url=emulators["AWS_ENDPOINT_URL"],
        region_name=REGION,
        aws_access_key_id="a",
        aws_secret_access_key="b",
    )


@pytest.fixture
def prefix() -> str:
    return f"t{uuid.uuid4().hex[:10]}"


def attrs(objects: list[dict[str, Any]], **extra: str) -> dict[str, str]:
    return {
        "objects": yaml.safe_dump(objects),
        "csi.storage.k8s.io/pod.uid": extra.pop("uid", "pod-uid-1"),
        "csi.storage.k8s.io/pod.namespace": "default",
        "csi.storage.k8s.io/pod.name": "app",
        **extra,
    }


def mount(
    p: ProviderProcess, objects: list[dict[str, Any]], secrets: dict[str, str] | None = None, **kw: Any
) -> provider_pb2.MountResponse:
    extra = kw.pop("extra", {})
    return p.mount(attrs(objects, **extra), secrets=KEYS if secrets is None else secrets, **kw)


def mount_error(p: ProviderProcess, objects: list[dict[str, Any]], **kw: Any) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as info:
        mount(p, objects, **kw)
    return info.value


def test_version_names_the_provider(aws: ProviderProcess) -> None:
    resp = aws.stub.Version(provider_pb2.VersionRequest(version="v1alpha1"))
    assert resp.runtime_name == "secrets-store-csi-provider-aws"
    assert resp.version == "v1alpha1"


def test_secrets_manager_secret_and_ssm_parameter_become_files(
    aws: ProviderProcess, sm: Any, ssm: Any, prefix: str
) -> None:
    sm.create_secret(Name=f"{prefix}/db", SecretString="sm-value")
    ssm.put_parameter(Name=f"/{prefix}/param", Value="ssm-value", Type="SecureString")
    resp = mount(
        aws,
        [
            {"objectName": f"{prefix}/db", "objectType": "secretsmanager"},
            {"objectName": f"/{prefix}/param", "objectType": "ssmparameter"},
        ],
    )
    files = files_of(resp)
    assert files == {f"{prefix}_db": b"sm-value", f"_{prefix}_param": b"ssm-value"}
    assert {f.mode for f in resp.files} == {0o644}
    versions = versions_of(resp)
    assert versions[f"_{prefix}_param"] == "1"
    assert (
        versions[f"{prefix}_db"]
        == sm.describe_secret(SecretId=f"{prefix}/db")["VersionIdsToStages"].popitem()[0]
    )


def test_binary_secret_is_written_as_bytes(aws: ProviderProcess, sm: Any, prefix: str) -> None:
    blob = bytes(range(256))
    sm.create_secret(Name=f"{prefix}-bin", SecretBinary=blob)
    resp = mount(
        aws, [{"objectName": f"{prefix}-bin", "objectType": "secretsmanager", "objectAlias": "blob"}]
    )
    assert files_of(resp) == {"blob": blob}


def test_path_translation_character_and_off(aws: ProviderProcess, ssm: Any, prefix: str) -> None:
    ssm.put_parameter(Name=f"/{prefix}/a/b", Value="v", Type="String")
    obj = [{"objectName": f"/{prefix}/a/b", "objectType": "ssmparameter"}]
    assert list(files_of(mount(aws, obj, extra={"pathTranslation": "-"}))) == [f"-{prefix}-a-b"]
    assert list(files_of(mount(aws, obj, extra={"pathTranslation": "False"}))) == [f"{prefix}/a/b"]


def test_arn_object_names_need_no_object_type(aws: ProviderProcess, sm: Any, ssm: Any, prefix: str) -> None:
    arn = sm.create_secret(Name=f"{prefix}-arn", SecretString="by-arn")["ARN"]
    ssm.put_parameter(Name=f"{prefix}-p", Value="p-by-arn", Type="String")
    p_arn = ssm.get_parameter(Name=f"{prefix}-p")["Parameter"]["ARN"]
    resp = mount(aws, [{"objectName": arn, "objectAlias": "s"}, {"objectName": p_arn, "objectAlias": "p"}])
    assert files_of(resp) == {"s": b"by-arn", "p": b"p-by-arn"}


def test_object_version_and_label_select_older_values(
    aws: ProviderProcess, sm: Any, ssm: Any, prefix: str
) -> None:
    first = sm.create_secret(Name=f"{prefix}-v", SecretString="one")["VersionId"]
    sm.put_secret_value(SecretId=f"{prefix}-v", SecretString="two")
    ssm.put_parameter(Name=f"{prefix}-pv", Value="p1", Type="String")
    ssm.put_parameter(Name=f"{prefix}-pv", Value="p2", Type="String", Overwrite=True)
    ssm.label_parameter_version(Name=f"{prefix}-pv", ParameterVersion=1, Labels=["stable"])
    resp = mount(
        aws,
        [
            {
                "objectName": f"{prefix}-v",
                "objectType": "secretsmanager",
                "objectAlias": "by-id",
                "objectVersion": first,
            },
            {
                "objectName": f"{prefix}-v",
                "objectType": "secretsmanager",
                "objectAlias": "previous",
                "objectVersionLabel": "AWSPREVIOUS",
            },
            {"objectName": f"{prefix}-v", "objectType": "secretsmanager", "objectAlias": "current"},
            {
                "objectName": f"{prefix}-pv",
                "objectType": "ssmparameter",
                "objectAlias": "p-v1",
                "objectVersion": "1",
            },
            {
                "objectName": f"{prefix}-pv",
                "objectType": "ssmparameter",
                "objectAlias": "p-stable",
                "objectVersionLabel": "stable",
            },
            {"objectName": f"{prefix}-pv", "objectType": "ssmparameter", "objectAlias": "p-latest"},
        ],
    )
    assert files_of(resp) == {
        "by-id": b"one",
        "previous": b"one",
        "current": b"two",
        "p-v1": b"p1",
        "p-stable": b"p1",
        "p-latest": b"p2",
    }
    assert versions_of(resp)["by-id"] == first
    assert versions_of(resp)["p-latest"] == "2"


def test_jmes_path_entries_and_file_permissions(aws: ProviderProcess, sm: Any, prefix: str) -> None:
    sm.create_secret(Name=f"{prefix}-json", SecretString=json.dumps({"user": "alice", "db": {"port": 5432}}))
    resp = mount(
        aws,
        [
            {
                "objectName": f"{prefix}-json",
                "objectType": "secretsmanager",
                "objectAlias": "all",
                "filePermission": "0600",
                "jmesPath": [
                    {"path": "user", "objectAlias": "user", "filePermission": "0640"},
                    {"path": "db.port", "objectAlias": "port"},
                ],
            }
        ],
        permission="292",
    )
    modes = {f.path: f.mode for f in resp.files}
    assert files_of(resp)["user"] == b"alice"
    assert files_of(resp)["port"] == b"5432"
    assert modes == {"all": 0o600, "user": 0o640, "port": 0o600}


def test_request_permission_is_the_default_mode(aws: ProviderProcess, ssm: Any, prefix: str) -> None:
    ssm.put_parameter(Name=f"{prefix}-mode", Value="v", Type="String")
    resp = mount(aws, [{"objectName": f"{prefix}-mode", "objectType": "ssmparameter"}], permission="256")
    assert resp.files[0].mode == 0o400


def test_rotation_next_mount_returns_the_new_version(
    aws: ProviderProcess, sm: Any, ssm: Any, prefix: str
) -> None:
    sm.create_secret(Name=f"{prefix}-rot", SecretString="old")
    ssm.put_parameter(Name=f"{prefix}-prot", Value="old", Type="String")
    objs = [
        {"objectName": f"{prefix}-rot", "objectType": "secretsmanager"},
        {"objectName": f"{prefix}-prot", "objectType": "ssmparameter"},
    ]
    first = mount(aws, objs)
    sm.put_secret_value(SecretId=f"{prefix}-rot", SecretString="new")
    ssm.put_parameter(Name=f"{prefix}-prot", Value="new", Type="String", Overwrite=True)
    second = mount(aws, objs, current=versions_of(first))
    assert files_of(second) == {f"{prefix}-rot": b"new", f"{prefix}-prot": b"new"}
    assert versions_of(second)[f"{prefix}-prot"] == "2"
    assert versions_of(second)[f"{prefix}-rot"] != versions_of(first)[f"{prefix}-rot"]


def test_remount_of_unchanged_objects_skips_their_fetch(
    aws: ProviderProcess, sm: Any, ssm: Any, prefix: str
) -> None:
    vid = sm.create_secret(Name=f"{prefix}-pin", SecretString="pinned")["VersionId"]
    for i in range(3):
        ssm.put_parameter(Name=f"{prefix}-same{i}", Value=f"v{i}", Type="String")
    objs = [{"objectName": f"{prefix}-pin", "objectType": "secretsmanager", "objectVersion": vid}]
    objs += [{"objectName": f"{prefix}-same{i}", "objectType": "ssmparameter"} for i in range(3)]
    first = mount(aws, objs, extra={"uid": f"{prefix}-uid"})
    before = aws.backend_calls()
    second = mount(aws, objs, extra={"uid": f"{prefix}-uid"}, current=versions_of(first))
    assert files_of(second) == files_of(first)
    # one DescribeParameters proves the three parameters unchanged; the pinned secret needs no call at all
    assert calls_delta(before, aws.backend_calls()) == {"ssm.DescribeParameters": 1}


def test_remount_of_another_pod_does_not_reuse_a_cached_value(
    aws: ProviderProcess, ssm: Any, prefix: str
) -> None:
    ssm.put_parameter(Name=f"{prefix}-shared", Value="v", Type="String")
    objs = [{"objectName": f"{prefix}-shared", "objectType": "ssmparameter", "objectVersion": "1"}]
    first = mount(aws, objs, extra={"uid": f"{prefix}-a"})
    before = aws.backend_calls()
    mount(aws, objs, extra={"uid": f"{prefix}-b"}, current=versions_of(first))
    assert calls_delta(before, aws.backend_calls()) == {"ssm.GetParameters": 1}


def test_25_parameters_cost_3_calls_and_25_secrets_cost_2(
    aws: ProviderProcess, sm: Any, ssm: Any, prefix: str
) -> None:
    for i in range(25):
        ssm.put_parameter(Name=f"/{prefix}/p{i}", Value=f"v{i}", Type="SecureString")
        sm.create_secret(Name=f"{prefix}/s{i}", SecretString=f"s{i}")
    before = aws.backend_calls()
    resp = mount(aws, [{"objectName": f"/{prefix}/p{i}", "objectType": "ssmparameter"} for i in range(25)])
    assert len(resp.files) == 25
    assert calls_delta(before, aws.backend_calls()) == {"ssm.GetParameters": 3}
    before = aws.backend_calls()
    resp = mount(aws, [{"objectName": f"{prefix}/s{i}", "objectType": "secretsmanager"} for i in range(25)])
    assert files_of(resp)[f"{prefix}_s24"] == b"s24"
    assert calls_delta(before, aws.backend_calls()) == {"secrets-manager.BatchGetSecretValue": 2}


def test_missing_secret_is_not_found_and_names_the_object(aws: ProviderProcess, prefix: str) -> None:
    err = mount_error(aws, [{"objectName": f"{prefix}-nope", "objectType": "secretsmanager"}])
    assert err.code() == grpc.StatusCode.NOT_FOUND
    assert f"{prefix}-nope" in err.details()
    assert dict(err.trailing_metadata())["error-code"] == "ObjectNotFound"


def test_missing_parameter_among_several_is_not_found(aws: ProviderProcess, ssm: Any, prefix: str) -> None:
    ssm.put_parameter(Name=f"{prefix}-here", Value="secret-value-123", Type="String")
    err = mount_error(
        aws,
        [
            {"objectName": f"{prefix}-here", "objectType": "ssmparameter"},
            {"objectName": f"{prefix}-gone", "objectType": "ssmparameter"},
        ],
    )
    assert err.code() == grpc.StatusCode.NOT_FOUND
    assert f"{prefix}-gone" in err.details()
    assert "secret-value-123" not in err.details()


def test_secret_value_never_reaches_the_log(aws: ProviderProcess, sm: Any, prefix: str) -> None:
    sm.create_secret(Name=f"{prefix}-log", SecretString="do-not-log-4711")
    mount(aws, [{"objectName": f"{prefix}-log", "objectType": "secretsmanager"}])
    assert "do-not-log-4711" not in aws.log()
    assert KEYS["secret_access_key"] not in aws.log()


@pytest.mark.parametrize(
    ("objects", "extra", "needle"),
    [
        ([{"objectName": "x"}], {}, "objectType"),
        ([{"objectName": "x", "objectType": "ssm"}], {}, "objectType"),
        ([{"objectName": "x", "objectType": "secretsmanager", "objectAlias": "../escape"}], {}, "escape"),
        ([{"objectName": "x", "objectType": "secretsmanager", "objectAlias": "/etc/passwd"}], {}, "absolute"),
        (
            [
                {
                    "objectName": "x",
                    "objectType": "secretsmanager",
                    "jmesPath": [{"path": "a", "objectAlias": "../../up"}],
                }
            ],
            {},
            "escape",
        ),
        (
            [
                {"objectName": "x", "objectType": "secretsmanager", "objectAlias": "a"},
                {"objectName": "y", "objectType": "secretsmanager", "objectAlias": "a"},
            ],
            {},
            "more than once",
        ),
        (
            [
                {
                    "objectName": "x",
                    "objectType": "ssmparameter",
                    "objectVersion": "1",
                    "objectVersionLabel": "l",
                }
            ],
            {},
            "not both",
        ),
        ([{"objectName": "x", "objectType": "ssmparameter", "filePermission": "644"}], {}, "filePermission"),
        ([{"objectName": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:x"}], {}, "region"),
        ([{"objectName": "x", "objectType": "ssmparameter"}], {"region": "not a region"}, "region"),
        ([{"objectName": "x", "objectType": "ssmparameter"}], {"pathTranslation": "ab"}, "pathTranslation"),
        (
            [{"objectName": "x", "objectType": "ssmparameter", "failoverObject": {"objectName": "y"}}],
            {},
            "failoverRegion",
        ),
    ],
)
def test_malformed_parameters_are_rejected_before_any_backend_call(
    aws: ProviderProcess, objects: list[dict[str, Any]], extra: dict[str, str], needle: str
) -> None:
    before = aws.backend_calls()
    err = mount_error(aws, objects, extra=extra)
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert needle in err.details()
    assert calls_delta(before, aws.backend_calls()) == {}


def test_no_credentials_is_an_authentication_error(aws: ProviderProcess, prefix: str) -> None:
    err = mount_error(aws, [{"objectName": f"{prefix}", "objectType": "ssmparameter"}], secrets={})
    assert err.code() == grpc.StatusCode.UNAUTHENTICATED
    assert "sts.amazonaws.com" in err.details()


def test_half_static_credentials_are_rejected(aws: ProviderProcess, prefix: str) -> None:
    err = mount_error(
        aws, [{"objectName": prefix, "objectType": "ssmparameter"}], secrets={"access_key_id": "AKID"}
    )
    assert err.code() == grpc.StatusCode.UNAUTHENTICATED


def test_pod_identity_without_its_token_is_an_authentication_error(aws: ProviderProcess, prefix: str) -> None:
    err = mount_error(
        aws,
        [{"objectName": prefix, "objectType": "ssmparameter"}],
        secrets={},
        extra={"usePodIdentity": "true"},
    )
    assert err.code() == grpc.StatusCode.UNAUTHENTICATED
    assert "pods.eks.amazonaws.com" in err.details()


def test_unreachable_endpoint_is_unavailable(emulators: dict[str, str], tmp_path: Path, prefix: str) -> None:
    p = start_provider(
        "aws",
        tmp_path,
        {"AWS_ENDPOINT_URL": "http://127.0.0.1:9", "AWS_REGION": REGION, "AWS_MAX_ATTEMPTS": "1"},
    )
    try:
        err = mount_error(p, [{"objectName": prefix, "objectType": "ssmparameter"}])
        assert err.code() == grpc.StatusCode.UNAVAILABLE
    finally:
        stop_provider(p)


def test_pods_mounting_the_same_objects_together_share_the_fetch(
    aws: ProviderProcess, ssm: Any, prefix: str
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    for i in range(25):
        ssm.put_parameter(Name=f"{prefix}-c{i}", Value=f"v{i}", Type="String")
    objs = [{"objectName": f"{prefix}-c{i}", "objectType": "ssmparameter"} for i in range(25)]
    before = aws.backend_calls()
    with ThreadPoolExecutor(max_workers=8) as pool:
        responses = list(pool.map(lambda n: mount(aws, objs, extra={"uid": f"{prefix}-pod{n}"}), range(8)))
    assert all(files_of(r)[f"{prefix}-c24"] == b"v24" for r in responses)
    calls = calls_delta(before, aws.backend_calls())["ssm.GetParameters"]
    assert calls < 8 * 3  # eight pods, 25 parameters: without sharing 24 calls
