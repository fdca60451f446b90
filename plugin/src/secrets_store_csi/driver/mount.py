"""tmpfs mounts at the target path: mount(2)/umount2(2) through libc, mount table from mountinfo."""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import os
import shutil

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
_libc.statfs.argtypes = [ctypes.c_char_p, ctypes.c_void_p]

MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MNT_DETACH = 2
MOUNTINFO = "/proc/self/mountinfo"
TMPFS_MAGIC = 0x01021994
_STATFS_SIZE = 256  # larger than struct statfs on every Linux ABI; f_type is its first field


def _unescape(field: str) -> str:
    # mountinfo escapes space, tab, newline and backslash as \ooo.
    out, i = [], 0
    while i < len(field):
        if field[i] == "\\" and i + 3 < len(field) + 1 and field[i + 1 : i + 4].isdigit():
            out.append(chr(int(field[i + 1 : i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def mount_points(mountinfo: str = MOUNTINFO) -> dict[str, str]:
    """Mount point -> filesystem type, from mountinfo."""
    result: dict[str, str] = {}
    with open(mountinfo, encoding="utf-8", errors="surrogateescape") as fh:
        for line in fh:
            left, _, right = line.partition(" - ")
            fields = left.split()
            if len(fields) < 5:
                continue
            fstype = right.split(" ", 1)[0] if right else ""
            result[_unescape(fields[4])] = fstype
    return result


def is_mount_point(path: str) -> bool:
    """Whether `path` (not followed when a symlink) is a mount point: its device differs from its
    parent's, as it does for every tmpfs. Two stat calls, instead of reading the whole mount table."""
    return os.path.ismount(path)


def is_tmpfs(path: str) -> bool:
    """Whether `path` is a mount point holding a tmpfs (statfs(2) f_type), as the driver mounts it.
    False for a missing path, a plain directory, or another filesystem mounted there."""
    if not is_mount_point(path):
        return False
    buf = ctypes.create_string_buffer(_STATFS_SIZE)
    if _libc.statfs(os.fsencode(path), buf) != 0:
        return False
    return ctypes.c_long.from_buffer(buf).value == TMPFS_MAGIC


def ensure_tmpfs(target: str, mount_if_missing: bool) -> bool:
    """Return whether `target` was already a mount point; mount a tmpfs there when it was not and
    `mount_if_missing` is set. One call, so the caller pays one thread hop."""
    if is_mount_point(target):
        return True
    if mount_if_missing:
        mount_tmpfs(target)
    return False


def mount_tmpfs(target: str) -> None:
    """Mount a fresh tmpfs at `target` (created when missing). No size option, as upstream."""
    os.makedirs(target, mode=0o750, exist_ok=True)
    rc = _libc.mount(b"tmpfs", os.fsencode(target), b"tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, b"mode=0755")
    if rc != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"mount -t tmpfs tmpfs {target}: {os.strerror(err)}")


def unmount(target: str) -> None:
    """Unmount `target` (lazily when busy). A path that is not mounted is left as is."""
    rc = _libc.umount2(os.fsencode(target), 0)
    if rc != 0:
        err = ctypes.get_errno()
        if err == errno.EBUSY:
            rc = _libc.umount2(os.fsencode(target), MNT_DETACH)
            if rc == 0:
                return
            err = ctypes.get_errno()
        if err in (errno.EINVAL, errno.ENOENT):
            return
        raise OSError(err, f"umount {target}: {os.strerror(err)}")


def clean_target(target: str) -> None:
    """Unmount every tmpfs stacked at `target`, then remove the directory. Succeeds when already gone."""
    for _ in range(16):
        if not os.path.lexists(target) or not is_mount_point(target):
            break
        unmount(target)
    if not os.path.lexists(target):
        return
    if os.path.islink(target) or not os.path.isdir(target):
        os.unlink(target)
        return
    try:
        os.rmdir(target)
    except OSError as exc:
        if exc.errno != errno.ENOTEMPTY:
            raise
        # Not a mount point, yet not empty: remove it only when it holds nothing but the atomic
        # writer's entries (a failed first mount); anything else is not ours to delete.
        entries = os.listdir(target)
        foreign = [e for e in entries if not _is_writer_entry(target, e)]
        if foreign:
            raise OSError(
                errno.ENOTEMPTY,
                f"{target} is not a mount point and holds {len(foreign)} entries the driver did not write; "
                "left in place",
            ) from exc
        shutil.rmtree(target)


def _is_writer_entry(target: str, name: str) -> bool:
    if name.startswith(".."):
        return True
    full = os.path.join(target, name)
    with contextlib.suppress(OSError):
        return os.path.islink(full) and os.readlink(full).startswith("..data/")
    return False
