import os
import threading
import time

import pytest

from secrets_store_csi.driver.errors import PathError
from secrets_store_csi.driver.writer import DATA_DIR, FileContent, read_current, write_atomically


def _files(version: int, names: tuple[str, ...] = ("a", "b", "dir/c")) -> list[FileContent]:
    return [FileContent(n, 0o644, f"{n}-v{version}|".encode() * 100) for n in names]


def _version_of(name: str, content: bytes) -> int:
    """The version a file holds; ValueError when it is partial or torn."""
    parts = content.decode().split("|")
    if len(parts) != 101 or parts[-1] != "" or len(set(parts[:-1])) != 1:
        raise ValueError(f"partial content in {name}")
    return int(parts[0].rsplit("-v", 1)[1])


def test_files_land_in_a_timestamped_dir_behind_data_symlink(tmp_path: os.PathLike[str]) -> None:
    target = str(tmp_path)
    write_atomically(target, _files(1))
    data = os.readlink(os.path.join(target, DATA_DIR))
    assert data.startswith("..") and data != DATA_DIR
    for name in ("a", "b", "dir"):
        assert os.path.islink(os.path.join(target, name))
        assert os.readlink(os.path.join(target, name)) == f"{DATA_DIR}/{name}"
    with open(os.path.join(target, "dir", "c"), "rb") as fh:
        assert _version_of("dir/c", fh.read()) == 1
    assert os.stat(os.path.join(target, "a")).st_mode & 0o777 == 0o644


def test_second_write_replaces_the_set_and_drops_stale_entries(tmp_path: os.PathLike[str]) -> None:
    target = str(tmp_path)
    write_atomically(target, _files(1))
    old = os.readlink(os.path.join(target, DATA_DIR))
    write_atomically(target, _files(2, ("a", "z")))
    assert sorted(e for e in os.listdir(target) if not e.startswith("..")) == ["a", "z"]
    assert not os.path.exists(os.path.join(target, old))
    assert read_current(target) == {"a": b"a-v2|" * 100, "z": b"z-v2|" * 100}


def test_mode_from_the_provider_is_applied(tmp_path: os.PathLike[str]) -> None:
    write_atomically(str(tmp_path), [FileContent("k", 0o600, b"x")])
    assert os.stat(os.path.join(tmp_path, "k")).st_mode & 0o777 == 0o600


def test_unsafe_path_leaves_the_current_content_untouched(tmp_path: os.PathLike[str]) -> None:
    target = str(tmp_path)
    write_atomically(target, _files(1))
    before = read_current(target)
    entries = sorted(os.listdir(target))
    with pytest.raises(PathError):
        write_atomically(target, [FileContent("ok", 0o644, b"x"), FileContent("../escape", 0o644, b"x")])
    assert read_current(target) == before
    assert sorted(os.listdir(target)) == entries
    assert not os.path.exists(os.path.join(os.path.dirname(target), "escape"))


def test_a_concurrent_reader_never_sees_a_mixed_or_partial_set(tmp_path: os.PathLike[str]) -> None:
    target = str(tmp_path)
    names = ("a", "b", "c", "d/e")
    write_atomically(target, _files(0, names))
    stop = threading.Event()
    seen: list[set[int]] = []
    problems: list[str] = []

    def reader() -> None:
        while not stop.is_set():
            try:
                fd = os.open(os.path.join(target, DATA_DIR), os.O_RDONLY | os.O_DIRECTORY)
            except FileNotFoundError:
                continue
            try:
                versions = set()
                for n in names:
                    f = os.open(n, os.O_RDONLY, dir_fd=fd)
                    try:
                        content = os.read(f, 1 << 20)
                    finally:
                        os.close(f)
                    try:
                        versions.add(_version_of(n, content))
                    except ValueError as exc:
                        problems.append(str(exc))
                seen.append(versions)
            except FileNotFoundError:
                pass  # the old set was removed after the swap: the reader retries, it saw nothing mixed
            finally:
                os.close(fd)

    threads = [threading.Thread(target=reader) for _ in range(3)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 1.5
    version = 0
    while time.monotonic() < deadline:
        version += 1
        write_atomically(target, _files(version, names))
    stop.set()
    for t in threads:
        t.join()
    assert version > 20
    assert len(seen) > 50
    assert not problems
    mixed = [v for v in seen if len(v) != 1]
    assert not mixed, f"a reader saw files from several versions: {mixed[:3]}"
