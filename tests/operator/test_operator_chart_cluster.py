"""The operator chart installed on the local cluster: two replicas, one leader, the driver comes up.

Needs the project image (localhost/secrets-store-csi:0.1.0, `make images`) built from a tree that has the
operator and the driver chart in it.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator

import pytest
from operator_cluster import (
    CCD,
    apply,
    ccd,
    condition,
    daemonset_ready,
    driver_lock_on_a_clean_cluster,
    new_namespace,
    remove_owned_crds,
    wait_for,
)
from operator_env import HELM, KUBECONFIG, OPERATOR_CHART, kubectl, kubectl_json

pytestmark = pytest.mark.cluster

CRD = "clustercsidrivers.operator.openshift.io"


def helm(*args: str) -> None:
    subprocess.run([HELM, "--kubeconfig", KUBECONFIG, *args], check=True, capture_output=True, text=True)


@pytest.fixture(scope="module")
def release() -> Iterator[str]:
    with driver_lock_on_a_clean_cluster():
        crd_existed = kubectl("get", "crd", CRD, check=False).returncode == 0
        namespace = new_namespace("operator-test-chart")
        try:
            helm(
                "install",
                "op",
                str(OPERATOR_CHART),
                "--namespace",
                namespace,
                "--set",
                "replicaCount=2",
                "--set-json",
                f"installCRD={json.dumps(not crd_existed)}",
                "--set",
                "resyncSeconds=10",
                "--set",
                "image.pullPolicy=Never",
                "--wait",
                "--timeout",
                "180s",
            )
            yield namespace
        finally:
            if ccd() is not None:
                kubectl("delete", "clustercsidriver", CCD, "--wait=false", check=False)
                wait_for("the ClusterCSIDriver gone", lambda: ccd() is None, 180)
            helm("uninstall", "op", "--namespace", namespace, "--wait", "--timeout", "120s")
            kubectl("delete", "namespace", namespace, "--wait=false", check=False)
            remove_owned_crds()
            if not crd_existed:
                kubectl("delete", "crd", CRD, "--ignore-not-found")


def test_one_of_two_operator_replicas_leads(release: str) -> None:
    pods = {p["metadata"]["name"] for p in kubectl_json("get", "pods", "-n", release)["items"]}
    assert len(pods) == 2
    lease = wait_for(
        "a leader",
        lambda: kubectl_json("get", "lease", "-n", release, "secrets-store-csi-driver-operator"),
        60,
    )
    assert lease["spec"]["holderIdentity"] in pods


def test_the_clustercsidriver_brings_the_driver_pods_ready(release: str) -> None:
    apply(
        {
            "apiVersion": "operator.openshift.io/v1",
            "kind": "ClusterCSIDriver",
            "metadata": {"name": CCD},
            "spec": {"managementState": "Managed"},
        }
    )
    wait_for("driver pods Ready", lambda: daemonset_ready(release), 300)
    wait_for("Available", lambda: condition(ccd(), "Available").get("status") == "True", 60)
    events = kubectl_json("get", "events", "-n", release, "--field-selector", f"involvedObject.name={CCD}")[
        "items"
    ]
    assert events, "no events on the ClusterCSIDriver in the operator's namespace"


def test_deleting_the_clustercsidriver_removes_the_driver(release: str) -> None:
    kubectl("delete", "clustercsidriver", CCD, "--wait=false")
    wait_for("the ClusterCSIDriver gone", lambda: ccd() is None, 180)
    assert kubectl_json("get", "daemonsets", "-n", release)["items"] == []
    assert kubectl("get", "csidriver", CCD, check=False).returncode != 0
