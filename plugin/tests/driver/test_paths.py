import os

import pytest

from secrets_store_csi.driver.errors import PathError
from secrets_store_csi.driver.paths import (
    check_mode,
    check_payload_paths,
    check_relative_path,
    check_tree_inside,
)


@pytest.mark.parametrize("path", ["a", "dir/b", "a.b/c-d_e", "./x", "x//y"])
def test_plain_relative_paths_are_accepted(path: str) -> None:
    assert not check_relative_path(path).startswith("/")


@pytest.mark.parametrize(
    ("path", "why"),
    [
        ("../etc/passwd", "'..'"),
        ("a/../../b", "'..'"),
        ("a/..", "'..'"),
        ("/etc/passwd", "absolute"),
        ("", "empty"),
        ("..data", "reserves"),
        ("..2026_01_01/x", "reserves"),
        ("a\\b", "backslash"),
        ("a\x00b", "NUL"),
        (".", "does not name a file"),
    ],
)
def test_unsafe_paths_are_refused_with_the_reason(path: str, why: str) -> None:
    with pytest.raises(PathError, match=why):
        check_relative_path(path)


def test_duplicate_paths_are_refused() -> None:
    with pytest.raises(PathError, match="twice"):
        check_payload_paths(["a", "./a"])


def test_a_path_that_is_both_file_and_directory_is_refused() -> None:
    with pytest.raises(PathError, match="both a file and the directory"):
        check_payload_paths(["a", "a/b"])


@pytest.mark.parametrize("mode", [-1, 0o1000, 0o4755])
def test_invalid_file_modes_are_refused(mode: int) -> None:
    with pytest.raises(PathError, match="invalid mode"):
        check_mode(mode, "x")


def test_valid_modes_pass() -> None:
    assert check_mode(0o644, "x") == 0o644
    assert check_mode(0, "x") == 0


def test_symlink_escaping_the_target_is_refused(tmp_path: os.PathLike[str]) -> None:
    target = os.path.join(tmp_path, "target")
    os.makedirs(os.path.join(target, "sub"))
    os.symlink("/etc", os.path.join(target, "sub", "evil"))
    with pytest.raises(PathError, match="escapes"):
        check_tree_inside(target)


def test_symlink_inside_the_target_is_accepted(tmp_path: os.PathLike[str]) -> None:
    target = os.path.join(tmp_path, "target")
    os.makedirs(target)
    with open(os.path.join(target, "real"), "w") as fh:
        fh.write("x")
    os.symlink("real", os.path.join(target, "alias"))
    check_tree_inside(target)
