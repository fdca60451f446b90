"""Upgrade from a previous chart version with a CRD change in between, the documented way: apply the new
CRDs server-side, then `helm upgrade` (Helm never upgrades crds/). Markers `cluster`; holds the driver lock.

The previous version is this chart with version 0.0.9 and CRDs without the printer columns (the change)."""

from __future__ import annotations

import json
import shutil
import time
import uuid
from pathlib import Path

import pytest
import yaml
from chartcluster import CRDS, IMAGE_TAG, Kube, driver_lock, wait_no_foreign_driver
from chartrender import CHARTS_DIR, DRIVER

pytestmark = pytest.mark.cluster


def previous_chart(tmp_path: Path) -> Path:
    old: Path = tmp_path / DRIVER
    shutil.copytree(CHARTS_DIR / DRIVER, old)
    meta = yaml.safe_load((old / "Chart.yaml").read_text())
    meta["version"] = "0.0.9"
    (old / "Chart.yaml").write_text(yaml.safe_dump(meta))
    for crd_file in (old / "crds").glob("*.yaml"):
        crd = yaml.safe_load(crd_file.read_text())
        for version in crd["spec"]["versions"]:
            version.pop("additionalPrinterColumns", None)
        crd_file.write_text(yaml.safe_dump(crd))
    return old


def printer_columns(kube: Kube, crd: str) -> list[str]:
    obj = json.loads(kube.kubectl("get", "crd", crd, "-o", "json").stdout)
    v1 = next(v for v in obj["spec"]["versions"] if v["name"] == "v1")
    return [c["name"] for c in v1.get("additionalPrinterColumns", [])]


def test_upgrade_applies_new_crds_then_the_chart_and_keeps_existing_objects(
    kube: Kube, tmp_path: Path
) -> None:
    old = previous_chart(tmp_path)
    ns = f"charts-upgrade-{uuid.uuid4().hex[:6]}"
    release = f"ssc-up-{uuid.uuid4().hex[:6]}"
    image = ("--set", f"linux.image.tag={IMAGE_TAG}")
    with driver_lock():
        wait_no_foreign_driver(kube)
        crds_before = {c for c in CRDS if kube.kubectl("get", "crd", c, check=False).returncode == 0}
        kube.kubectl("create", "namespace", ns)
        try:
            # The cluster as the previous version left it: its CRDs (Helm skips CRDs that exist, so put them
            # there the way a previous install or GitOps sync would have).
            kube.kubectl(
                "apply",
                "--server-side",
                "--force-conflicts",
                "--field-manager=charts-previous",
                "-f",
                str(old / "crds"),
            )
            for crd in CRDS:
                kube.kubectl("wait", "--for=condition=Established", f"crd/{crd}", "--timeout=60s")
                assert printer_columns(kube, crd) == []
            kube.helm("install", release, str(old), "-n", ns, *image, "--wait", "--timeout", "5m")
            spc = {
                "apiVersion": "secrets-store.csi.x-k8s.io/v1alpha1",
                "kind": "SecretProviderClass",
                "metadata": {"name": "before-upgrade", "namespace": ns},
                "spec": {"provider": "aws", "parameters": {"objects": "- objectName: x\n"}},
            }
            made = kube.kubectl("apply", "-f", "-", stdin=json.dumps(spc))
            assert "deprecated" in made.stderr, "v1alpha1 is served with a deprecation warning"

            # The documented upgrade: new CRDs first, then the chart.
            kube.kubectl(
                "apply", "--server-side", "--force-conflicts", "-f", str(CHARTS_DIR / DRIVER / "crds")
            )
            assert printer_columns(kube, CRDS[0]) == ["Provider", "Age"]
            assert printer_columns(kube, CRDS[1]) == ["Pod", "Class", "Mounted", "Age"]
            kube.helm(
                "upgrade", release, str(CHARTS_DIR / DRIVER), "-n", ns, *image, "--wait", "--timeout", "5m"
            )

            history = json.loads(kube.helm("history", release, "-n", ns, "-o", "json").stdout)
            assert [(h["chart"], h["status"]) for h in history] == [
                (f"{DRIVER}-0.0.9", "superseded"),
                (f"{DRIVER}-0.1.0", "deployed"),
            ]
            kept = json.loads(
                kube.kubectl(
                    "-n",
                    ns,
                    "get",
                    "secretproviderclasses.v1.secrets-store.csi.x-k8s.io",
                    "before-upgrade",
                    "-o",
                    "json",
                ).stdout
            )
            assert kept["spec"] == spc["spec"]
            assert (
                kube.kubectl(
                    "-n", ns, "rollout", "status", f"daemonset/{release}-{DRIVER}", "--timeout=120s"
                ).returncode
                == 0
            )
        finally:
            kube.kubectl("-n", ns, "delete", "secretproviderclasses", "--all", check=False)
            kube.helm("uninstall", release, "-n", ns, "--ignore-not-found", "--wait", check=False)
            kube.kubectl(
                "delete", "namespace", ns, "--ignore-not-found", "--timeout=120s", check=False, timeout=150
            )
            deadline = time.monotonic() + 60
            while kube.kubectl("get", "csidriver", "secrets-store.csi.k8s.io", check=False).returncode == 0:
                assert time.monotonic() < deadline, "the CSIDriver outlived helm uninstall"
                time.sleep(2)
            for crd in set(CRDS) - crds_before:
                kube.kubectl("delete", "crd", crd, "--ignore-not-found", check=False)
