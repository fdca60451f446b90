"""The rules a file path below a target directory must follow, shared by the driver (checking what a
provider returns) and the providers (checking what SecretProviderClass parameters ask for).

Each rule is a predicate; the driver and the providers apply them in their own order and word their own
errors (the driver raises PathError, a provider an InvalidParameter naming the object).
"""

from __future__ import annotations

import posixpath

PARENT = ".."
RESERVED_PREFIX = ".."  # the atomic writer's `..data` and `..<timestamp>` entries


def has_nul(path: str) -> bool:
    return "\x00" in path


def has_control_character(path: str) -> bool:
    """NUL and the other C0 control characters, and DEL."""
    return any(ord(ch) < 32 or ord(ch) == 127 for ch in path)


def has_backslash(path: str) -> bool:
    return "\\" in path


def is_absolute(path: str) -> bool:
    return path.startswith("/")


def segments(path: str) -> list[str]:
    return path.split("/")


def has_parent_segment(path: str) -> bool:
    """A `..` component: the path would climb out of its directory."""
    return PARENT in segments(path)


def normalise(path: str) -> str:
    """The path with `a//b` and `./a` collapsed (POSIX rules, never touching the file system)."""
    return posixpath.normpath(path)


def first_segment(path: str) -> str:
    return path.split("/", 1)[0]
