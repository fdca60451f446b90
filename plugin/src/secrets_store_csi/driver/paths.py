"""Path checks: every file a provider returns must land inside the target directory (rules shared with
the providers in `secrets_store_csi.pathrules`)."""

from __future__ import annotations

import os
import stat

from secrets_store_csi import pathrules
from secrets_store_csi.driver.errors import PathError

MAX_MODE = 0o777


def check_relative_path(path: str) -> str:
    """Return the normalised relative path, or raise PathError saying why it is refused."""
    if not path:
        raise PathError("empty file path")
    if pathrules.has_nul(path):
        raise PathError(f"file path {path!r} contains a NUL byte")
    if pathrules.is_absolute(path) or os.path.isabs(path):
        raise PathError(f"file path {path!r} is absolute; providers must return paths relative to the target")
    if pathrules.has_backslash(path):
        raise PathError(f"file path {path!r} contains a backslash")
    if pathrules.has_parent_segment(path):
        raise PathError(f"file path {path!r} contains '..' and would escape the target directory")
    norm = pathrules.normalise(path)
    if norm in (".", "") or norm.startswith("../"):
        raise PathError(f"file path {path!r} does not name a file inside the target directory")
    if pathrules.first_segment(norm).startswith(pathrules.RESERVED_PREFIX):
        raise PathError(f"file path {path!r} starts with '..', which the atomic writer reserves")
    return norm


def check_mode(mode: int, path: str) -> int:
    if mode < 0 or mode > MAX_MODE:
        raise PathError(
            f"file {path!r} has invalid mode {mode:#o}; a permission between 0 and 0777 is expected"
        )
    return mode


def check_payload_paths(paths: list[str]) -> list[str]:
    """Check a set of paths: each safe, no duplicates, no file that is also a directory of another."""
    normed = [check_relative_path(p) for p in paths]
    seen: set[str] = set()
    for p in normed:
        if p in seen:
            raise PathError(f"file path {p!r} is returned twice")
        seen.add(p)
    for p in normed:
        prefix = p + "/"
        for q in normed:
            if q.startswith(prefix):
                raise PathError(f"file path {p!r} is both a file and the directory of {q!r}")
    return normed


def check_tree_inside(root: str) -> None:
    """Walk `root` (content a legacy provider wrote itself) and refuse symlinks that lead outside it."""
    real_root = os.path.realpath(root)
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        for name in dirnames + filenames:
            full = os.path.join(dirpath, name)
            st = os.lstat(full)
            if stat.S_ISLNK(st.st_mode):
                resolved = os.path.realpath(full)
                if resolved != real_root and not resolved.startswith(real_root + os.sep):
                    rel = os.path.relpath(full, root)
                    raise PathError(f"{rel!r} is a symlink that escapes the target directory")
