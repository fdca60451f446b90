"""File names and modes: nothing a SecretProviderClass says can place a file outside the target directory."""

from __future__ import annotations

import posixpath

import pytest
from hypothesis import given
from hypothesis import strategies as st

from secrets_store_csi.providers.errors import ErrorCode, ProviderError
from secrets_store_csi.providers.paths import (
    check_relative_path,
    parse_file_permission,
    parse_request_permission,
)


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "..",
        "../x",
        "a/../../x",
        "a/..",
        "/etc/passwd",
        "a//b",
        "./a",
        "a/./b",
        "a\\..\\b",
        "a\x00b",
        "a\nb",
        "x" * 256,
        "a/" * 600,
    ],
)
def test_escaping_or_odd_paths_are_rejected(bad: str) -> None:
    with pytest.raises(ProviderError) as info:
        check_relative_path(bad, "obj")
    assert info.value.code == ErrorCode.INVALID_PARAMETER
    assert "obj" in str(info.value)


@pytest.mark.parametrize("good", ["a", "a.b", "dir/file", "..a", "a..", "_db_password", "x/y/z.pem"])
def test_plain_relative_paths_are_accepted(good: str) -> None:
    assert check_relative_path(good) == good


@given(st.text(max_size=300))
def test_any_accepted_path_stays_below_the_target(path: str) -> None:
    try:
        check_relative_path(path)
    except ProviderError as err:
        assert err.code == ErrorCode.INVALID_PARAMETER
        return
    joined = posixpath.normpath(posixpath.join("/target", path))
    assert joined.startswith("/target/")


@pytest.mark.parametrize(("value", "mode"), [("0644", 0o644), ("0400", 0o400), ("0777", 0o777)])
def test_file_permission_is_four_octal_digits(value: str, mode: int) -> None:
    assert parse_file_permission(value) == mode


@pytest.mark.parametrize("value", ["644", "0800", "rw-r--r--", 420, None, "00644"])
def test_bad_file_permissions_are_rejected(value: object) -> None:
    with pytest.raises(ProviderError):
        parse_file_permission(value)


def test_request_permission_is_a_decimal_json_string() -> None:
    assert parse_request_permission('"420"') == 0o644
    assert parse_request_permission("420") == 0o644
    assert parse_request_permission("") == 0o644
    with pytest.raises(ProviderError):
        parse_request_permission("rw")
    with pytest.raises(ProviderError):
        parse_request_permission("99999")
