"""The charts against the local cluster's real API server (marker `cluster`)."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest
import yaml
from chartcluster import Kube
from chartrender import CHARTS, ci_values, find, render

pytestmark = pytest.mark.cluster

SCENARIOS = [(c, f) for c in CHARTS for f in ci_values(c)]
# Kinds whose API only exists with an optional add-on; dry-run them only where it is served.
OPTIONAL_APIS = {"ServiceMonitor": "monitoring.coreos.com/v1"}


@pytest.mark.parametrize(("chart", "values"), SCENARIOS, ids=[f"{c}:{f.name}" for c, f in SCENARIOS])
def test_every_rendered_scenario_passes_a_server_side_dry_run(
    kube: Kube, dry_run_namespace: str, chart: str, values: Path
) -> None:
    docs = render(chart, files=(values,), include_crds=True, namespace=dry_run_namespace)
    kept = [d for d in docs if d["kind"] not in OPTIONAL_APIS or kube.served(OPTIONAL_APIS[d["kind"]])]
    dropped = {d["kind"] for d in docs} - {d["kind"] for d in kept}
    assert dropped <= set(OPTIONAL_APIS), dropped
    proc = kube.kubectl(
        "apply",
        "--server-side",
        "--dry-run=server",
        "--force-conflicts",
        "--field-manager=charts-dry-run",
        "-f",
        "-",
        stdin=yaml.safe_dump_all(kept),
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("(server dry run)") == len(kept), proc.stdout


def _secret(name: str, namespace: str, managed: bool) -> str:
    labels = {"secrets-store.csi.k8s.io/managed": "true"} if managed else {}
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "type": "Opaque",
            "metadata": {"name": name, "namespace": namespace, "labels": labels},
            "stringData": {"k": "v"},
        }
    )


def _put_labels(
    kube: Kube, as_user: tuple[str, ...], ns: str, name: str, labels: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    obj = json.loads(kube.kubectl("-n", ns, "get", "secret", name, "-o", "json").stdout)
    obj["metadata"]["labels"] = labels
    proc: subprocess.CompletedProcess[str] = kube.kubectl(
        *as_user, "-n", ns, "replace", "-f", "-", stdin=json.dumps(obj), check=False
    )
    return proc


def test_synced_secret_writes_are_limited_to_managed_secrets(kube: Kube, charts_namespace: str) -> None:
    """The Secret-writing role plus the admission policy: the driver's service account creates and changes
    labelled Secrets only, and cannot adopt an unlabelled one. Installs only the RBAC and the policy
    (cluster-scoped, matched to this test's service account): no driver, so no lock needed."""
    ns = charts_namespace
    release = ns[:40]
    docs = render(
        "secrets-store-csi-driver", {"syncSecret": {"enabled": True}}, namespace=ns, release=release
    )
    parts = [
        d
        for d in docs
        if d["kind"]
        in (
            "ServiceAccount",
            "ClusterRole",
            "ClusterRoleBinding",
            "ValidatingAdmissionPolicy",
            "ValidatingAdmissionPolicyBinding",
        )
    ]
    sa = find(parts, "ServiceAccount")[0]["metadata"]["name"]
    manifest = yaml.safe_dump_all(parts)
    as_driver = ("--as", f"system:serviceaccount:{ns}:{sa}")
    kube.kubectl("apply", "-f", "-", stdin=manifest)
    try:
        kube.kubectl("-n", ns, "create", "-f", "-", stdin=_secret("unmanaged", ns, managed=False))
        # The policy is loaded asynchronously: wait until it refuses an unlabelled create.
        deadline = time.monotonic() + 60
        while True:
            proc = kube.kubectl(
                *as_driver,
                "-n",
                ns,
                "create",
                "--dry-run=server",
                "-f",
                "-",
                stdin=_secret("probe", ns, managed=False),
                check=False,
            )
            if proc.returncode and "secrets-store.csi.k8s.io/managed=true" in proc.stderr:
                break
            assert time.monotonic() < deadline, f"policy never enforced: {proc.stdout} {proc.stderr}"
            time.sleep(1)

        made = kube.kubectl(
            *as_driver, "-n", ns, "create", "-f", "-", stdin=_secret("managed", ns, managed=True), check=False
        )
        assert made.returncode == 0, made.stderr
        # The driver updates with PUT (it holds no patch verb): do the same.
        relabel = _put_labels(kube, as_driver, ns, "unmanaged", {"secrets-store.csi.k8s.io/managed": "true"})
        assert relabel.returncode and "Secrets it created" in relabel.stderr, relabel.stderr
        unlabel = _put_labels(kube, as_driver, ns, "managed", {})
        assert unlabel.returncode and "secrets-store.csi.k8s.io/managed=true" in unlabel.stderr, (
            unlabel.stderr
        )
        still = _put_labels(
            kube, as_driver, ns, "managed", {"secrets-store.csi.k8s.io/managed": "true", "x": "y"}
        )
        assert still.returncode == 0, still.stderr
        # The driver never deletes Secrets (garbage collection does): RBAC refuses, the policy backs it up.
        steal = kube.kubectl(*as_driver, "-n", ns, "delete", "secret", "unmanaged", check=False)
        assert steal.returncode and "forbidden" in steal.stderr.lower(), steal.stderr
        # Anyone else is untouched by the policy.
        other = kube.kubectl("-n", ns, "delete", "secret", "unmanaged", check=False)
        assert other.returncode == 0, other.stderr
    finally:
        kube.kubectl("delete", "--ignore-not-found", "-f", "-", stdin=manifest, check=False)
