"""The rotation-under-load readers can fail: on the host, without a cluster, they catch a writer that
rewrites files in place, and pass the driver's own atomic writer. A check of the fault 6 test itself, so
that its "no violation" means something."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fault_readers import PART_SIZE, PARTS, READER, document, part
from secrets_store_csi.driver.writer import FileContent, write_atomically

VERSIONS = 150
RAW = "doc"


def _contents(n: int) -> dict[str, bytes]:
    return {RAW: document(n).encode(), **{p: part(n, p).encode() for p in PARTS}}


def _atomic(root: Path, n: int) -> None:
    write_atomically(
        str(root),
        [FileContent(name, 0o644, data) for name, data in _contents(n).items()],
    )


def _in_place(root: Path, n: int) -> None:
    """What the driver must never do: rewrite each file where it is, in two steps."""
    data_dir = root / "..data"
    data_dir.mkdir(exist_ok=True)
    for name, data in _contents(n).items():
        fd = os.open(data_dir / name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            os.write(fd, data[: len(data) // 2])
            time.sleep(0.0002)
            os.write(fd, data[len(data) // 2 :])
        finally:
            os.close(fd)
        if not (root / name).is_symlink():
            (root / name).symlink_to(f"..data/{name}")


def _run(root: Path, write: Callable[[Path, int], None]) -> list[dict[str, Any]]:
    write(root, 1)
    readers = subprocess.Popen(
        [
            sys.executable,
            "-c",
            READER,
            str(root),
            RAW,
            str(VERSIONS),
            "4",
            "30",
            json.dumps(PARTS),
            str(PART_SIZE),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )

    def writer() -> None:
        time.sleep(0.3)
        for n in range(2, VERSIONS + 1):
            write(root, n)
            time.sleep(0.005)

    t = threading.Thread(target=writer)
    t.start()
    out, _ = readers.communicate(timeout=60)
    t.join()
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def test_the_readers_catch_files_rewritten_in_place(tmp_path: Path) -> None:
    summaries = _run(tmp_path, _in_place)
    violations = [v for s in summaries for v in s["violations"]]
    assert violations, "the readers saw no torn or mixed file although every file was rewritten in place"


def test_the_readers_find_no_fault_with_the_drivers_atomic_writer(
    tmp_path: Path,
) -> None:
    summaries = _run(tmp_path, _atomic)
    assert len(summaries) == 4
    assert [v for s in summaries for v in s["violations"]] == []
    assert all(s["saw_final"] for s in summaries)
    assert all(len(s["versions"]) > 10 for s in summaries), [len(s["versions"]) for s in summaries]
