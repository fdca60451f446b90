"""The readers of the rotation-under-load fault (test_rotation_under_load.py) and the content they check.

`READER` runs with python3 inside a pod (or on the host): it forks N reader processes that loop over a
mounted file set and print one JSON summary line each (violations, versions seen, retries). Every file of
version n is `part(n, name)`: the version at both ends around a body derived from (n, name), so a reader can
tell a whole file from a torn or mixed one by comparing every byte.
"""

from __future__ import annotations

import hashlib
import json

PARTS = ["f0", "f1", "f2", "f3"]
PART_SIZE = 4096


def part(n: int, name: str) -> str:
    """The content of file `name` at version n: version number at both ends, a body that depends on both."""
    unit = hashlib.sha256(f"{n}:{name}".encode()).hexdigest()
    body = (unit * (PART_SIZE // len(unit) + 1))[:PART_SIZE]
    return f"{n:06d}:{name}:{body}:{n:06d}\n"


def document(n: int) -> str:
    return json.dumps({"n": n, **{p: part(n, p) for p in PARTS}})


# Runs inside the pod (python3 of the app image): forks READERS processes, each prints one JSON summary line.
READER = r"""
import hashlib, json, os, sys, time
root, raw_name = sys.argv[1], sys.argv[2]
final, readers, limit = int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
parts, size = json.loads(sys.argv[6]), int(sys.argv[7])

def expected(n, name):
    unit = hashlib.sha256(f"{n}:{name}".encode()).hexdigest()
    body = (unit * (size // len(unit) + 1))[:size]
    return f"{n:06d}:{name}:{body}:{n:06d}\n".encode()

def version_of(name, data):
    if name == raw_name:
        doc = json.loads(data)
        for p in parts:
            if doc[p].encode() != expected(doc["n"], p):
                raise ValueError(f"{name}: document part {p} is not version {doc['n']}")
        return doc["n"]
    n = int(data[:6])
    if data != expected(n, name):
        raise ValueError(f"{name}: {len(data)} bytes, not exactly version {n} (half-written or mixed)")
    return n

def reader():
    s = {"snapshots": 0, "stale": 0, "single_reads": 0, "single_stale": 0, "single_mixed": 0,
         "versions": [], "violations": []}
    names = [raw_name] + parts
    last_set, last_file = 0, {}
    seen_final = None
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if seen_final and time.monotonic() - seen_final > 1.0:
            break
        # 1. one resolution of ..data, every file read relative to it
        try:
            d = os.open(os.path.join(root, "..data"), os.O_RDONLY | os.O_DIRECTORY)
            try:
                got = {}
                for name in names:
                    fd = os.open(name, os.O_RDONLY, dir_fd=d)
                    with os.fdopen(fd, "rb") as f:
                        got[name] = f.read()
            finally:
                os.close(d)
        except FileNotFoundError:
            s["stale"] += 1
            continue
        try:
            vs = {name: version_of(name, data) for name, data in got.items()}
        except Exception as exc:
            s["violations"].append(f"snapshot: {exc}")
            continue
        s["snapshots"] += 1
        if len(set(vs.values())) != 1:
            s["violations"].append(f"snapshot mixes versions {vs}")
            continue
        n = next(iter(vs.values()))
        if n < last_set:
            s["violations"].append(f"snapshot went back from {last_set} to {n}")
        last_set = n
        if not s["versions"] or s["versions"][-1] != n:
            s["versions"].append(n)
        if n >= final and seen_final is None:
            seen_final = time.monotonic()
        # 2. each visible name opened on its own
        seen = set()
        for name in names:
            try:
                with open(os.path.join(root, name), "rb") as f:
                    data = f.read()
            except FileNotFoundError:
                s["single_stale"] += 1
                continue
            s["single_reads"] += 1
            try:
                v = version_of(name, data)
            except Exception as exc:
                s["violations"].append(f"single: {exc}")
                continue
            if v < last_file.get(name, 0):
                s["violations"].append(f"{name} went back from {last_file[name]} to {v}")
            last_file[name] = v
            seen.add(v)
        if len(seen) > 1:
            s["single_mixed"] += 1
    s["saw_final"] = seen_final is not None
    s["violations"] = s["violations"][:10]
    return s

pipes = []
for i in range(readers):
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            out = json.dumps(reader())
        except Exception as exc:
            out = json.dumps({"crash": repr(exc)})
        os.write(w, out.encode())
        os._exit(0)
    os.close(w)
    pipes.append((pid, r))
for pid, r in pipes:
    chunks = []
    while True:
        b = os.read(r, 65536)
        if not b:
            break
        chunks.append(b)
    os.waitpid(pid, 0)
    print(b"".join(chunks).decode(), flush=True)
"""
