"""Parameter parsers of every provider, fuzzed: any input gives a result or a clear InvalidParameter, never
a crash, and every file name they accept stays inside the mount."""

from __future__ import annotations

import json
from typing import Any

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from secrets_store_csi.providers import aws_params, azure, vault
from secrets_store_csi.providers.errors import ErrorCode, ProviderError
from secrets_store_csi.providers.mountspec import parse_mount_request
from secrets_store_csi.providers.paths import check_relative_path

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 5000),
    st.text(max_size=30),
    st.sampled_from(
        [
            "../x",
            "/abs",
            "a/b",
            "0644",
            "0600",
            "secretsmanager",
            "ssmparameter",
            "arn:aws:secretsmanager:us-east-1:1:secret:x",
            "arn:aws:ssm:us-east-1:1:parameter/a/b",
            "secret",
            "key",
            "cert",
            "pfx",
            "base64",
            "hex",
            "GET",
            "POST",
        ]
    ),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=12,
)
aws_keys = st.sampled_from([*sorted(aws_params.OBJECT_KEYS), "path", "objectAlias", "bogus"])
aws_object = st.dictionaries(aws_keys, values, max_size=6)
text_or_yaml = st.one_of(
    st.text(max_size=200),
    st.lists(aws_object, max_size=4).map(yaml.safe_dump),
    st.lists(aws_object, max_size=4).map(json.dumps),
)


def accepted_paths_are_safe(paths: list[str]) -> None:
    for p in paths:
        check_relative_path(p)


@settings(max_examples=300, deadline=None)
@given(
    text_or_yaml,
    st.dictionaries(
        st.sampled_from(
            ["region", "failoverRegion", "pathTranslation", "usePodIdentity", "preferredAddressType"]
        ),
        st.text(max_size=15),
        max_size=3,
    ),
)
def test_aws_parser_never_crashes(objects: str, extra: dict[str, str]) -> None:
    try:
        params = aws_params.parse_params({"objects": objects, **extra}, 0o644)
    except ProviderError as err:
        assert err.code == ErrorCode.INVALID_PARAMETER
        return
    accepted_paths_are_safe(
        [o.file_name for o in params.objects] + [j.alias for o in params.objects for j in o.jmes]
    )


vault_object = st.dictionaries(st.sampled_from([*sorted(vault.OBJECT_KEYS), "bogus"]), values, max_size=6)


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(st.text(max_size=200), st.lists(vault_object, max_size=4).map(yaml.safe_dump)),
    st.dictionaries(
        st.sampled_from(
            [
                "vaultAddress",
                "roleName",
                "vaultAuthMountPath",
                "vaultSkipTLSVerify",
                "vaultTLSClientCertPath",
                "audience",
            ]
        ),
        st.text(max_size=15),
        max_size=4,
    ),
)
def test_vault_parser_never_crashes(objects: str, extra: dict[str, str]) -> None:
    attrs = {"vaultAddress": "http://v:8200", "roleName": "r", "objects": objects, **extra}
    try:
        params = vault.parse_params(attrs, 0o644, "", "kubernetes")
    except ProviderError as err:
        assert err.code == ErrorCode.INVALID_PARAMETER
        return
    accepted_paths_are_safe([o.name for o in params.objects])


azure_object = st.dictionaries(st.sampled_from([*sorted(azure.OBJECT_KEYS), "bogus"]), values, max_size=6)


def azure_objects(items: list[dict[str, Any]], as_strings: bool) -> str:
    return yaml.safe_dump({"array": [yaml.safe_dump(i) if as_strings else i for i in items]})


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.text(max_size=200), st.builds(azure_objects, st.lists(azure_object, max_size=4), st.booleans())
    ),
    st.dictionaries(
        st.sampled_from(
            ["keyvaultName", "tenantId", "cloudName", "useVMManagedIdentity", "usePodIdentity", "clientID"]
        ),
        st.text(max_size=30),
        max_size=4,
    ),
)
def test_azure_parser_never_crashes(objects: str, extra: dict[str, str]) -> None:
    attrs = {"keyvaultName": "kv-test", "tenantId": "t", "objects": objects, **extra}
    try:
        params = azure.parse_params(attrs, 0o644)
    except ProviderError as err:
        assert err.code == ErrorCode.INVALID_PARAMETER
        return
    accepted_paths_are_safe([o.file_name for o in params.objects])


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=100), st.text(max_size=60), st.text(max_size=10))
def test_mount_request_parser_never_crashes(attributes: str, secrets: str, permission: str) -> None:
    try:
        parse_mount_request(attributes, secrets, "/t", permission, [])
    except ProviderError as err:
        assert err.code == ErrorCode.INVALID_PARAMETER
