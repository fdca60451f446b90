"""A values file written for the upstream secrets-store-csi-driver chart installs this chart unchanged."""

from __future__ import annotations

from pathlib import Path

import yaml
from chartrender import CHARTS_DIR, DRIVER, container, find, one, render, run_helm

UPSTREAM_VALUES = Path(__file__).with_name("upstream-driver-values.yaml")


def keys(values: object, prefix: str = "") -> set[str]:
    if isinstance(values, dict):
        out = set()
        for k, v in values.items():
            path = f"{prefix}.{k}" if prefix else k
            out.add(path)
            if k not in (
                "resources",
                "affinity",
                "updateStrategy",
                "nodeSelector",
                "podLabels",
                "podAnnotations",
                "daemonsetAnnotations",
            ):
                out |= keys(v, path)
        return out
    return set()


def test_upstream_values_file_only_uses_keys_this_chart_has() -> None:
    ours = keys(yaml.safe_load((CHARTS_DIR / DRIVER / "values.yaml").read_text()))
    theirs = keys(yaml.safe_load(UPSTREAM_VALUES.read_text()))
    assert theirs <= ours, sorted(theirs - ours)


def test_upstream_values_file_lints_and_renders_unchanged() -> None:
    proc = run_helm("lint", "--strict", str(CHARTS_DIR / DRIVER), "-f", str(UPSTREAM_VALUES))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    docs = render(DRIVER, files=(UPSTREAM_VALUES,))
    ds = one(docs, "DaemonSet")
    driver = container(ds, "secrets-store")
    assert driver["image"] == "localhost/secrets-store-csi:0.1.0"
    assert "--enable-secret-rotation=true" in driver["args"]
    assert "--rotation-poll-interval=1m" in driver["args"]
    assert "--provider-health-check=true" in driver["args"]
    assert "--max-call-recv-msg-size=8388608" in driver["args"]
    assert "-v=2" in driver["args"] and "--log-format-json=true" in driver["args"]
    assert "--metrics-addr=:8095" in driver["args"]
    assert "--enable-secret-sync=true" in driver["args"]
    assert container(ds, "node-driver-registrar")["image"] == "localhost/csi-node-driver-registrar:v2.13.0"
    assert ds["spec"]["template"]["spec"]["tolerations"] == [
        {"key": "CriticalAddonsOnly", "operator": "Exists"}
    ]
    assert ds["spec"]["template"]["spec"]["nodeSelector"] == {"kubernetes.io/os": "linux"}
    assert one(docs, "CSIDriver")["spec"]["tokenRequests"] == [{"audience": "sts.amazonaws.com"}]
    assert find(docs, "ClusterRole", "ssc-secrets-store-csi-driver-syncsecret")
