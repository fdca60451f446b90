"""Fault 6: rotation under load. 20 readers (10 processes in each of 2 pods) loop over a mounted set of
five files while the secret behind them rotates 50 times (the driver polls every ROTATION_POLL; the test
writes the next version once the previous one is mounted).

What the driver's atomic writer promises, and what is tested exactly (the same layout as the kubelet's
Secret volumes: files live in a timestamped directory, `..data` is a symlink to it swapped by one rename,
and each visible name is a symlink `name -> ..data/name`):

- every file, however it is opened, holds one complete version: never a half-written or mixed file;
- a reader that resolves `..data` once (opens it as a directory) and reads every file relative to that
  directory gets one consistent set, all files of the same version;
- versions never go backwards for a reader;
- a reader may see ENOENT when the version it resolved is removed under it (the writer deletes the old
  directory right after the swap); it retries, and that is counted, not failed. Reading each visible name
  on its own gives no set guarantee: two names may come from two versions (counted, as the reason to read
  through one `..data` resolution).

The secret is one JSON document in Secrets Manager split into files by jmesPath, so every version is
written to the backend in one call and a mixed set could only come from the driver."""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from typing import Any

import pytest
from fault_node import volume_dir
from fault_pods import app_pod, aws_spc, figure, pod_uids
from fault_readers import PART_SIZE, PARTS, READER, document
from kubecluster import Cluster
from stack import Stack

pytestmark = [pytest.mark.cluster, pytest.mark.emulators]

ROTATIONS = 50
PODS, READERS_PER_POD = 2, 10


def test_20_readers_never_see_a_half_written_file_or_a_mixed_set_over_50_rotations(
    cluster: Cluster, stack: Stack, app_ns: str, moto: Any
) -> None:
    secret = f"faults-load-{uuid.uuid4().hex[:8]}"
    moto.create_secret(Name=secret, SecretString=document(1))
    cluster.apply(
        aws_spc(
            "load",
            [secret],
            jmes={secret: [{"path": p, "objectAlias": p} for p in PARTS]},
        ),
        app_ns,
    )
    names = [f"load-{i}" for i in range(PODS)]
    cluster.apply([app_pod(n, "load") for n in names], app_ns)
    stack.wait_ready(app_ns, names)
    uid = pod_uids(cluster, app_ns)[names[0]]
    probe = volume_dir(uid, "secrets") / "f0"
    final = 1 + ROTATIONS
    limit = 600.0

    readers = [
        subprocess.Popen(
            [
                str(cluster.bin_dir / "kubectl"),
                "--kubeconfig",
                str(cluster.kubeconfig),
                "-n",
                app_ns,
                "exec",
                n,
                "--",
                "python3",
                "-c",
                READER,
                "/mnt/secrets",
                secret,
                str(final),
                str(READERS_PER_POD),
                str(limit),
                json.dumps(PARTS),
                str(PART_SIZE),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in names
    ]
    time.sleep(2)  # readers running
    started = time.monotonic()
    per_rotation = []
    try:
        for n in range(2, final + 1):
            t0 = time.monotonic()
            moto.put_secret_value(SecretId=secret, SecretString=document(n))
            while int(probe.read_text()[:6]) < n:
                assert time.monotonic() - t0 < 60, f"version {n} not mounted within 60s"
                time.sleep(0.05)
            per_rotation.append(time.monotonic() - t0)
    finally:
        outputs = [r.communicate(timeout=limit + 60) for r in readers]
    rotating = time.monotonic() - started

    summaries: list[dict[str, Any]] = []
    for (out, err), r in zip(outputs, readers, strict=True):
        assert r.returncode == 0, f"reader exec failed: {err[-2000:]}"
        summaries += [json.loads(line) for line in out.splitlines() if line.strip()]
    assert len(summaries) == PODS * READERS_PER_POD, summaries
    crashes = [s["crash"] for s in summaries if "crash" in s]
    assert not crashes, crashes
    violations = [v for s in summaries for v in s["violations"]]
    assert not violations, violations
    assert all(s["saw_final"] for s in summaries), "a reader never saw the last version"
    distinct = {v for s in summaries for v in s["versions"]}
    # The readers really read during the rotations: most versions were seen as whole sets.
    assert len(distinct) >= ROTATIONS // 2, f"readers saw only {len(distinct)} versions"
    snapshots = sum(s["snapshots"] for s in summaries)
    figure(
        "6 rotation under load",
        f"{ROTATIONS} rotations with {PODS * READERS_PER_POD} readers",
        f"{rotating:.1f}s",
    )
    figure(
        "6 rotation under load",
        "backend write -> version mounted (median/max)",
        f"{sorted(per_rotation)[len(per_rotation) // 2]:.2f}s/{max(per_rotation):.2f}s",
    )
    figure(
        "6 rotation under load",
        "consistent snapshot reads (5 files each)",
        str(snapshots),
    )
    figure(
        "6 rotation under load",
        "versions seen whole by readers",
        f"{len(distinct)}/{final}",
    )
    figure(
        "6 rotation under load",
        "snapshot retries on ENOENT (old dir removed)",
        str(sum(s["stale"] for s in summaries)),
    )
    figure(
        "6 rotation under load",
        "per-name reads mixing versions (allowed)",
        str(sum(s["single_mixed"] for s in summaries)),
    )
