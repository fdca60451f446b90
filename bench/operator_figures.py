#!/usr/bin/env python3
"""Operator figures on the local cluster: ClusterCSIDriver created -> driver pods Ready, deleted DaemonSet ->
restored and Ready, the operator's RSS (idle, after the passes above) and the cost of one idle pass.

Runs the operator on the host (as the cluster tests do), holding the team's driver lock; leaves nothing
installed. Usage: .venv/bin/python bench/operator_figures.py [--rounds N]
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "operator"))

from operator_cluster import (
    CCD,
    OperatorProcess,
    apply,
    ccd,
    ccd_crd_installed_by_us,
    daemonset,
    daemonset_ready,
    delete_ccd_and_wait,
    driver_lock_on_a_clean_cluster,
    new_namespace,
    remove_owned_crds,
    wait_for,
)
from operator_env import kubectl


def rss_mib(pid: int) -> float:
    text = Path(f"/proc/{pid}/status").read_text()
    match = re.search(r"VmRSS:\s+(\d+) kB", text)
    assert match
    return int(match.group(1)) / 1024


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with driver_lock_on_a_clean_cluster():
        crd_ours = ccd_crd_installed_by_us()
        namespace = new_namespace("operator-bench")
        operator = OperatorProcess(namespace, "--resync", "60").start()
        try:
            assert operator.process is not None
            time.sleep(3)
            rss_start = rss_mib(operator.process.pid)
            to_ready, restore_created, restore_ready = [], [], []
            for _ in range(args.rounds):
                start = time.monotonic()
                apply(
                    {
                        "apiVersion": "operator.openshift.io/v1",
                        "kind": "ClusterCSIDriver",
                        "metadata": {"name": CCD},
                        "spec": {"managementState": "Managed"},
                    }
                )
                wait_for("driver pods Ready", lambda: daemonset_ready(namespace), 300, 0.2)
                to_ready.append(time.monotonic() - start)

                ds = daemonset(namespace)
                assert ds is not None
                start = time.monotonic()
                kubectl(
                    "delete",
                    "daemonset",
                    "-n",
                    namespace,
                    ds["metadata"]["name"],
                    "--wait=false",
                )
                wait_for(
                    "a new DaemonSet",
                    lambda uid=ds["metadata"]["uid"]: (
                        (d := daemonset(namespace)) and d["metadata"]["uid"] != uid
                    ),
                    120,
                    0.1,
                )
                restore_created.append(time.monotonic() - start)
                wait_for("restored pods Ready", lambda: daemonset_ready(namespace), 300, 0.2)
                restore_ready.append(time.monotonic() - start)
                delete_ccd_and_wait()
            rss_end = rss_mib(operator.process.pid)
        finally:
            if ccd() is not None:
                delete_ccd_and_wait()
            operator.stop()
            kubectl("delete", "namespace", namespace, "--wait=false", check=False)
            remove_owned_crds()
            if crd_ours:
                kubectl(
                    "delete",
                    "crd",
                    "clustercsidrivers.operator.openshift.io",
                    "--ignore-not-found",
                )

    def fmt(values: list[float]) -> str:
        median = sorted(values)[len(values) // 2]
        return f"median {median:.2f}s (min {min(values):.2f}s, max {max(values):.2f}s, n={len(values)})"

    print(f"ClusterCSIDriver created -> driver pods Ready:   {fmt(to_ready)}")
    print(f"DaemonSet deleted -> new DaemonSet created:      {fmt(restore_created)}")
    print(f"DaemonSet deleted -> restored driver pods Ready: {fmt(restore_ready)}")
    print(f"operator RSS: {rss_start:.1f} MiB at start, {rss_end:.1f} MiB after {args.rounds} rounds")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
