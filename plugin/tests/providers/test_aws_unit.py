"""AWS provider pieces that the emulator cannot exercise: region failover, ARN handling, credentials."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from secrets_store_csi.providers.aws import (
    AwsProvider,
    Credentials,
    error_from_client,
    ssm_batches,
    static_credentials,
)
from secrets_store_csi.providers.aws_params import AwsObject, parse_arn, parse_params, ssm_name_from_arn
from secrets_store_csi.providers.errors import ErrorCode, ProviderError


def params(**attrs: str) -> Any:
    return parse_params({"objects": '[{"objectName": "x", "objectType": "ssmparameter"}]', **attrs}, 0o644)


async def test_5xx_in_the_region_fails_over_to_the_failover_region() -> None:
    provider = AwsProvider()
    seen: list[tuple[str, bool]] = []

    async def step(region: str, creds: Credentials, objs: list[AwsObject], failover: bool) -> dict[str, str]:
        seen.append((region, failover))
        if region == "us-east-1":
            raise ProviderError(ErrorCode.UNAVAILABLE, "HTTP 503")
        return {"x": "ok"}

    p = params(region="us-east-1", failoverRegion="us-west-2")
    out = await provider._with_failover(p, "us-east-1", Credentials("a", "b"), list(p.objects), step)
    assert out == {"x": "ok"}
    assert seen == [("us-east-1", False), ("us-west-2", True)]
    await provider.close()


@pytest.mark.parametrize("code", [ErrorCode.NOT_FOUND, ErrorCode.ACCESS_DENIED, ErrorCode.INVALID_PARAMETER])
async def test_4xx_fails_the_mount_without_failover(code: ErrorCode) -> None:
    provider = AwsProvider()
    regions: list[str] = []

    async def step(region: str, creds: Credentials, objs: list[AwsObject], failover: bool) -> dict[str, str]:
        regions.append(region)
        raise ProviderError(code, "nope")

    p = params(region="us-east-1", failoverRegion="us-west-2")
    with pytest.raises(ProviderError):
        await provider._with_failover(p, "us-east-1", Credentials("a", "b"), list(p.objects), step)
    assert regions == ["us-east-1"]
    await provider.close()


@pytest.mark.parametrize(
    ("code", "status", "expected"),
    [
        ("AccessDeniedException", 400, ErrorCode.ACCESS_DENIED),
        # An error body the SDK cannot parse (moto answers IAM denials of JSON APIs in XML): the code is the
        # status, and 403 still means the identity was refused.
        ("403", 403, ErrorCode.ACCESS_DENIED),
        ("401", 401, ErrorCode.UNAUTHENTICATED),
        ("InvalidSignatureException", 403, ErrorCode.UNAUTHENTICATED),
        ("ResourceNotFoundException", 400, ErrorCode.NOT_FOUND),
        ("ValidationException", 400, ErrorCode.INVALID_PARAMETER),
        ("400", 400, ErrorCode.INVALID_PARAMETER),
    ],
)
def test_client_errors_map_to_codes_by_name_then_by_http_status(
    code: str, status: int, expected: ErrorCode
) -> None:
    exc = ClientError(
        {"Error": {"Code": code, "Message": "m"}, "ResponseMetadata": {"HTTPStatusCode": status}},
        "GetSecretValue",
    )
    err = error_from_client(exc, "db-password", "Secrets Manager GetSecretValue")
    assert err.code is expected
    assert err.obj == "db-password"


def test_ssm_arns_map_to_parameter_names() -> None:
    flat = parse_arn("arn:aws:ssm:us-east-1:123456789012:parameter/plain")
    deep = parse_arn("arn:aws:ssm:us-east-1:123456789012:parameter/app/db/password")
    assert flat is not None and deep is not None
    assert ssm_name_from_arn(flat) == "plain"
    assert ssm_name_from_arn(deep) == "/app/db/password"


def test_failover_object_needs_an_alias_and_matching_region() -> None:
    base = '[{"objectName": "arn:aws:secretsmanager:us-east-1:1:secret:a", "objectAlias": "a", '
    ok = parse_params(
        {
            "region": "us-east-1",
            "failoverRegion": "us-west-2",
            "objects": base
            + '"failoverObject": {"objectName": "arn:aws:secretsmanager:us-west-2:1:secret:b"}}]',
        },
        0o644,
    )
    assert ok.objects[0].failover_name.endswith(":b")
    with pytest.raises(ProviderError, match="failoverRegion"):
        parse_params(
            {
                "region": "us-east-1",
                "failoverRegion": "us-west-2",
                "objects": base
                + '"failoverObject": {"objectName": "arn:aws:secretsmanager:eu-west-1:1:secret:b"}}]',
            },
            0o644,
        )


def test_same_parameter_in_two_versions_goes_to_separate_calls() -> None:
    objects = [
        {"objectName": "p", "objectType": "ssmparameter", "objectAlias": f"v{i}", "objectVersion": str(i)}
        for i in range(1, 3)
    ] + [{"objectName": f"q{i}", "objectType": "ssmparameter"} for i in range(12)]
    p = parse_params({"objects": json.dumps(objects)}, 0o644)
    batches = ssm_batches(list(p.objects))
    assert sorted(len(b) for b in batches) == [4, 10]
    for b in batches:
        assert len({o.api_name for o in b}) == len(b)


@pytest.mark.parametrize(
    "secrets",
    [
        {"access_key_id": "AK", "secret_access_key": "SK"},
        {"awsAccessKeyId": "AK", "awsSecretAccessKey": "SK"},
        {"AWS_ACCESS_KEY_ID": "AK", "AWS_SECRET_ACCESS_KEY": "SK"},
    ],
)
def test_static_keys_accept_the_usual_spellings(secrets: dict[str, str]) -> None:
    creds = static_credentials(secrets)
    assert creds is not None and creds.access_key == "AK"
    assert "SK" not in repr(creds)


def test_no_static_keys_means_another_auth_mode() -> None:
    assert static_credentials({}) is None


def test_unknown_object_keys_are_ignored_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    p = parse_params(
        {"objects": '[{"objectName": "x", "objectType": "ssmparameter", "objectAlais": "typo"}]'}, 0o644
    )
    assert p.objects[0].file_name == "x"
    assert "objectAlais" in caplog.text


async def test_pod_identity_sends_the_pod_token_to_the_agent(monkeypatch: pytest.MonkeyPatch) -> None:
    # A local stand-in for the EKS Pod Identity agent: checks the request shape this provider sends.
    from aiohttp import web

    from secrets_store_csi.providers.mountspec import parse_mount_request

    seen: list[str] = []

    async def credentials(request: web.Request) -> web.Response:
        seen.append(request.headers.get("Authorization", ""))
        return web.json_response(
            {
                "AccessKeyId": "ASIA",
                "SecretAccessKey": "sk",
                "Token": "st",
                "Expiration": "2099-01-01T00:00:00Z",
            }
        )

    app = web.Application()
    app.router.add_get("/v1/credentials", credentials)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    monkeypatch.setenv("AWS_POD_IDENTITY_ENDPOINT", f"http://127.0.0.1:{port}/v1/credentials")
    attrs = {
        "usePodIdentity": "true",
        "objects": '[{"objectName": "x", "objectType": "ssmparameter"}]',
        "csi.storage.k8s.io/serviceAccount.tokens": '{"pods.eks.amazonaws.com": {"token": "pod-jwt"}}',
    }
    spec = parse_mount_request(json.dumps(attrs), "{}", "/t", "420", [])
    provider = AwsProvider()
    try:
        creds = await provider.credentials(spec, parse_params(spec.attributes, 0o644), "us-east-1")
    finally:
        await provider.close()
        await runner.cleanup()
    assert seen == ["pod-jwt"]
    assert (creds.access_key, creds.token) == ("ASIA", "st")
