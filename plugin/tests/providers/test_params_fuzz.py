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
# Paths made of the characters that matter for escapes, so that accepted inputs are common too.
path_text = st.lists(
    st.sampled_from(["a", "b", ".", "..", "/", "\\", "_", "-", "~", "\x00", "\n"]), max_size=8
).map("".join)
name_text = st.one_of(st.text(alphabet="abcXYZ019-", min_size=1, max_size=12), path_text)
perm_text = st.sampled_from(["0644", "0600", "0400", "644", "0800", "rw"])
aws_valid_object = st.fixed_dictionaries(
    {"objectName": name_text, "objectType": st.sampled_from(["secretsmanager", "ssmparameter", "ssm"])},
    optional={
        "objectAlias": path_text,
        "filePermission": perm_text,
        "objectVersion": st.sampled_from(["1", "abc", ""]),
        "objectVersionLabel": st.sampled_from(["AWSPREVIOUS", ""]),
        "jmesPath": st.lists(
            st.fixed_dictionaries({"path": st.sampled_from(["a", "a.b", "[0]"]), "objectAlias": path_text}),
            max_size=2,
        ),
    },
)
vault_valid_object = st.fixed_dictionaries(
    {"objectName": path_text, "secretPath": st.sampled_from(["secret/data/a", "kv/x", "/v1/a/b", "a/../b"])},
    optional={
        "secretKey": st.text(max_size=5),
        "method": st.sampled_from(["GET", "POST", "get", "DELETE"]),
        "encoding": st.sampled_from(["utf-8", "base64", "hex", "x"]),
        "filePermission": perm_text,
    },
)
azure_valid_object = st.fixed_dictionaries(
    {
        "objectName": st.text(alphabet="abc-1", min_size=1, max_size=8),
        "objectType": st.sampled_from(["secret", "key", "cert", "bogus"]),
    },
    optional={
        "objectAlias": path_text,
        "objectFormat": st.sampled_from(["pem", "pfx", "x"]),
        "objectEncoding": st.sampled_from(["utf-8", "hex", "base64", "x"]),
        "objectVersionHistory": st.integers(-1, 5),
        "filePermission": perm_text,
    },
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
