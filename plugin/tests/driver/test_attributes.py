import json

import grpc
import pytest

from secrets_store_csi.driver.attributes import (
    SA_TOKENS,
    mount_attributes,
    parse_volume_request,
    permission_json,
)
from secrets_store_csi.driver.errors import DriverError

POD = {
    "secretProviderClass": "db-creds",
    "csi.storage.k8s.io/pod.name": "web-0",
    "csi.storage.k8s.io/pod.namespace": "shop",
    "csi.storage.k8s.io/pod.uid": "1234",
    "csi.storage.k8s.io/serviceAccount.name": "web",
    "csi.storage.k8s.io/ephemeral": "true",
}


def test_volume_context_is_parsed_into_pod_spc_and_identity() -> None:
    req = parse_volume_request(POD, {"clientSecret": "x"})
    assert (req.spc_name, req.pod_name, req.pod_namespace, req.pod_uid) == (
        "db-creds",
        "web-0",
        "shop",
        "1234",
    )
    assert req.service_account == "web"
    assert req.ephemeral is True
    assert req.secrets == {"clientSecret": "x"}
    assert req.pod == "shop/web-0"


def test_empty_volume_context_is_invalid_argument_naming_the_fix() -> None:
    with pytest.raises(DriverError) as err:
        parse_volume_request({}, {})
    assert err.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert "secretProviderClass" in err.value.message


def test_missing_secret_provider_class_is_invalid_argument() -> None:
    ctx = {k: v for k, v in POD.items() if k != "secretProviderClass"}
    with pytest.raises(DriverError) as err:
        parse_volume_request(ctx, {})
    assert err.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert "secretProviderClass is missing" in err.value.message


def test_missing_pod_info_asks_for_pod_info_on_mount() -> None:
    ctx = {"secretProviderClass": "x"}
    with pytest.raises(DriverError) as err:
        parse_volume_request(ctx, {})
    assert "podInfoOnMount" in err.value.message


def test_tokens_are_taken_from_the_secrets_field_and_kept_out_of_the_context() -> None:
    tokens = json.dumps({"vault": {"token": "eyJ.a.b", "expirationTimestamp": "x"}})
    req = parse_volume_request(POD, {SA_TOKENS: tokens, "k": "v"})
    assert req.tokens == tokens
    assert SA_TOKENS not in req.secrets
    assert SA_TOKENS not in req.volume_context


def test_tokens_that_are_not_json_are_refused() -> None:
    with pytest.raises(DriverError) as err:
        parse_volume_request({**POD, SA_TOKENS: "not json"}, {})
    assert err.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert "not json" not in err.value.message  # the value is never echoed


def test_mount_attributes_merge_spc_parameters_volume_attributes_and_tokens() -> None:
    req = parse_volume_request({**POD, SA_TOKENS: '{"a": {}}'}, {})
    attrs = json.loads(mount_attributes({"objects": "[]", "secretProviderClass": "spoofed"}, req))
    assert attrs["objects"] == "[]"
    assert attrs["secretProviderClass"] == "db-creds"  # volume attributes win over parameters
    assert attrs["csi.storage.k8s.io/pod.name"] == "web-0"
    assert attrs[SA_TOKENS] == '{"a": {}}'


def test_permission_is_the_json_number_upstream_sends() -> None:
    assert permission_json(0o644) == "420"
