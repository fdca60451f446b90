"""Atomic writer: a new set of files replaces the old one in a single rename.

Layout inside the target directory (the same one kubelet uses for Secret and ConfigMap volumes):

    ..2026_12_03_16_40_00.<random>/   the files of one version, as the provider returned them
    ..data -> ..2026_12_03_16_40_00.<random>
    <name> -> ..data/<name>           one visible symlink per top-level entry

Swapping `..data` is one rename(2), so a reader that resolves `..data` once sees either the whole old set
or the whole new set, never a mix; files are complete before the swap. Blocking calls: run in a thread.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field

from secrets_store_csi.driver.paths import check_mode, check_payload_paths

DATA_DIR = "..data"
_DATA_TMP = "..data_tmp"


@dataclass(frozen=True)
class FileContent:
    path: str
    mode: int
    contents: bytes = field(repr=False)


def _timestamp_prefix() -> str:
    now = time.time()
    stamp = time.strftime("%Y_%m_%d_%H_%M_%S", time.gmtime(now))
    return f"..{stamp}.{int((now % 1) * 1e9):09d}."


@dataclass(frozen=True)
class StagedWrite:
    """A complete new version written beside the current one, not yet visible (see `commit`)."""

    target: str
    new_dir: str
    paths: tuple[str, ...]


def write_atomically(target: str, files: list[FileContent]) -> None:
    """Replace the content of `target` with `files` in one step. Raises PathError for unsafe paths."""
    commit(stage(target, files))


def stage(target: str, files: list[FileContent]) -> StagedWrite:
    """Write `files` into a new hidden version directory of `target`; readers still see the old set.
    Raises PathError for unsafe paths (nothing is written then) and OSError."""
    normed = check_payload_paths([f.path for f in files])
    for f in files:
        check_mode(f.mode, f.path)
    new_dir = tempfile.mkdtemp(prefix=_timestamp_prefix(), dir=target)
    try:
        for f, rel in zip(files, normed, strict=True):
            full = os.path.join(new_dir, rel)
            parent = os.path.dirname(full)
            if parent != new_dir:
                os.makedirs(parent, mode=0o755, exist_ok=True)
            fd = os.open(full, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
            try:
                view = memoryview(f.contents)
                while view:
                    written = os.write(fd, view)
                    view = view[written:]
                os.fchmod(fd, f.mode)
            finally:
                os.close(fd)
        os.chmod(new_dir, 0o755)  # noqa: S103 - readable by the pod, as kubelet does
    except BaseException:
        shutil.rmtree(new_dir, ignore_errors=True)
        raise
    return StagedWrite(target, new_dir, tuple(normed))


def discard(staged: StagedWrite) -> None:
    """Drop a staged version that will not be committed."""
    shutil.rmtree(staged.new_dir, ignore_errors=True)


def commit(staged: StagedWrite) -> None:
    """Make a staged version the visible one: one rename of `..data`, then the top-level links."""
    target, new_dir, normed = staged.target, staged.new_dir, staged.paths
    data_link = os.path.join(target, DATA_DIR)
    old_dir: str | None = None
    with contextlib.suppress(FileNotFoundError, OSError):
        old_dir = os.readlink(data_link)
    old_names = _top_level_names(os.path.join(target, old_dir)) if old_dir else set()

    tmp_link = os.path.join(target, _DATA_TMP)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(tmp_link)
    os.symlink(os.path.basename(new_dir), tmp_link)
    os.rename(tmp_link, data_link)  # the atomic swap

    new_names = {rel.split("/", 1)[0] for rel in normed}
    for name in sorted(new_names):
        _ensure_visible_link(target, name)
    for name in sorted(old_names - new_names):
        link = os.path.join(target, name)
        if os.path.islink(link):
            os.unlink(link)
    if old_dir and old_dir != os.path.basename(new_dir):
        shutil.rmtree(os.path.join(target, old_dir), ignore_errors=True)


def _top_level_names(directory: str) -> set[str]:
    try:
        return set(os.listdir(directory))
    except OSError:
        return set()


def _ensure_visible_link(target: str, name: str) -> None:
    link = os.path.join(target, name)
    want = os.path.join(DATA_DIR, name)
    try:
        if os.readlink(link) == want:
            return
    except OSError:
        pass
    if os.path.lexists(link) and os.path.isdir(link) and not os.path.islink(link):
        shutil.rmtree(link)
    tmp = os.path.join(target, f"..link_tmp.{name}")
    with contextlib.suppress(FileNotFoundError):
        os.unlink(tmp)
    os.symlink(want, tmp)
    os.rename(tmp, link)


def read_current(target: str) -> dict[str, bytes]:
    """The current content as path -> bytes (through `..data` when present, else the plain tree)."""
    base = os.path.join(target, DATA_DIR)
    root = base if os.path.isdir(base) else target
    out: dict[str, bytes] = {}
    real_root = os.path.realpath(root)
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith("..")]
        for name in filenames:
            if name.startswith(".."):
                continue
            full = os.path.join(dirpath, name)
            resolved = os.path.realpath(full)
            if not resolved.startswith(real_root + os.sep) and not resolved.startswith(
                os.path.realpath(target) + os.sep
            ):
                continue
            with open(full, "rb") as fh:
                out[os.path.relpath(full, root)] = fh.read()
    return out
