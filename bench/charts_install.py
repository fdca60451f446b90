#!/usr/bin/env python3
"""Chart figures: time from `helm install` of the driver chart (and the AWS provider chart) to every pod
Ready on the local cluster, and the size of the project image.

Holds the team's driver lock while installed, uninstalls after each round and leaves nothing behind (CRDs
it brought are removed). Usage: .venv/bin/python bench/charts_install.py [--rounds N] [--image-tag TAG]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "charts"))

from chartcluster import CRDS, KUBECONFIG, Kube, driver_lock  # noqa: E402


def ready_after(kube: Kube, namespace: str, daemonset: str, started: float, timeout: float = 300) -> float:
    """Seconds from `started` until the DaemonSet has every scheduled pod Ready (polled every 0.2 s)."""
    while True:
        proc = kube.kubectl("-n", namespace, "get", "daemonset", daemonset, "-o", "json", check=False)
        if proc.returncode == 0:
            st = json.loads(proc.stdout).get("status", {})
            want = st.get("desiredNumberScheduled", 0)
            if want and st.get("numberReady", 0) == want and st.get("updatedNumberScheduled", 0) == want:
                return time.monotonic() - started
        if time.monotonic() - started > timeout:
            raise SystemExit(f"{namespace}/{daemonset} not Ready after {timeout}s")
        time.sleep(0.2)


def one_round(kube: Kube, tag: str) -> tuple[float, float]:
    suffix = uuid.uuid4().hex[:6]
    ns, driver, aws = f"charts-bench-{suffix}", f"ssc-{suffix}", f"ssc-aws-{suffix}"
    kube.kubectl("create", "namespace", ns)
    try:
        started = time.monotonic()
        kube.helm(
            "install",
            driver,
            str(ROOT / "charts/secrets-store-csi-driver"),
            "-n",
            ns,
            "--set",
            f"linux.image.tag={tag}",
        )
        driver_s = ready_after(kube, ns, f"{driver}-secrets-store-csi-driver", started)
        started = time.monotonic()
        kube.helm(
            "install",
            aws,
            str(ROOT / "charts/secrets-store-csi-provider-aws"),
            "-n",
            ns,
            "--set",
            f"image.tag={tag}",
            "--set",
            "aws.region=us-east-1",
        )
        aws_s = ready_after(kube, ns, f"{aws}-secrets-store-csi-provider-aws", started)
        return driver_s, aws_s
    finally:
        for release in (aws, driver):
            kube.helm("uninstall", release, "-n", ns, "--wait", check=False)
        kube.kubectl("delete", "namespace", ns, "--timeout=120s", check=False, timeout=150)


def image_size(tag: str) -> str:
    proc = subprocess.run(
        ["buildah", "images", "--format", "{{.Size}}", f"localhost/secrets-store-csi:{tag}"],
        capture_output=True,
        text=True,
        check=False,
    )
    return proc.stdout.strip() or "unknown (not in buildah's storage)"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--image-tag", default="0.1.0")
    args = ap.parse_args()
    kube = Kube(KUBECONFIG)
    print(f"image localhost/secrets-store-csi:{args.image_tag}: {image_size(args.image_tag)}")
    driver_times, aws_times = [], []
    with driver_lock():
        if kube.kubectl("get", "csidriver", "secrets-store.csi.k8s.io", check=False).returncode == 0:
            raise SystemExit("a Secrets Store CSI driver is already installed: not benchmarking over it")
        crds_before = {c for c in CRDS if kube.kubectl("get", "crd", c, check=False).returncode == 0}
        try:
            for i in range(args.rounds):
                d, a = one_round(kube, args.image_tag)
                driver_times.append(d)
                aws_times.append(a)
                print(
                    f"round {i + 1}: helm install -> driver pods Ready {d:.2f}s, AWS provider Ready {a:.2f}s"
                )
        finally:
            for crd in set(CRDS) - crds_before:
                kube.kubectl("delete", "crd", crd, "--ignore-not-found", check=False)
    print(
        f"median over {args.rounds} rounds (1 node): driver {statistics.median(driver_times):.2f}s, "
        f"AWS provider {statistics.median(aws_times):.2f}s"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
