"""Fault 7: the operator is killed (SIGKILL of its container) while it reconciles.

The operator chart is installed (one replica), a ClusterCSIDriver turns the driver on, the AWS provider
chart serves mounts from moto. An owned object (the driver's metrics Service) is deleted, which starts a
reconcile, and the operator is killed at once. The driver keeps serving while the operator is dead (a new
pod mounts its secret); after the kubelet restarts the operator it repairs the drift (the Service is back)
without recreating the healthy driver: same DaemonSet, same generation, same driver pod, no second
DaemonSet.

This test installs its own driver through the operator, so it runs before the tier's stack is installed
(conftest orders it first) and takes the team's lock itself."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fault_node import container_pids
from fault_pods import app_pod, app_service_account, aws_spc, figure, wait_until
from kubecluster import Cluster
from stack import IMAGE_TAG, MOTO_PORT, emulators

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "operator"))

from operator_cluster import (
    CCD,
    OWNER,
    apply,
    ccd,
    condition,
    daemonset_ready,
    driver_lock_on_a_clean_cluster,
    remove_owned_crds,
)
from operator_env import OPERATOR_CHART

pytestmark = [pytest.mark.cluster, pytest.mark.emulators]
CRD = "clustercsidrivers.operator.openshift.io"


def _helm(cluster: Cluster, *args: str) -> None:
    cluster.helm(*args, timeout=400)


@pytest.fixture
def operator_release(cluster: Cluster) -> Iterator[str]:
    suffix = uuid.uuid4().hex[:6]
    namespace = f"faults-operator-{suffix}"
    with driver_lock_on_a_clean_cluster():
        crd_existed = cluster.kubectl("get", "crd", CRD, check=False).returncode == 0
        cluster.kubectl("create", "namespace", namespace)
        try:
            _helm(
                cluster,
                "install",
                "op",
                str(OPERATOR_CHART),
                "-n",
                namespace,
                "--set",
                f"image.tag={IMAGE_TAG}",
                "--set",
                "image.pullPolicy=Never",
                "--set-json",
                f"installCRD={json.dumps(not crd_existed)}",
                "--set",
                "resyncSeconds=10",
                "--set-json",
                'driver.tokenRequests=[{"audience":"sts.amazonaws.com"}]',
                "--set-json",
                f"driver.values={json.dumps({'linux': {'image': {'tag': IMAGE_TAG}}})}",
                "--wait",
                "--timeout",
                "180s",
            )
            yield namespace
        finally:
            if ccd() is not None:
                cluster.kubectl("delete", "clustercsidriver", CCD, "--wait=false", check=False)
                wait_until(
                    "the ClusterCSIDriver gone",
                    lambda: ccd() is None and "gone",
                    timeout=180,
                )
            cluster.helm(
                "uninstall",
                "aws",
                "-n",
                namespace,
                "--wait",
                "--timeout",
                "120s",
                check=False,
            )
            cluster.helm(
                "uninstall",
                "op",
                "-n",
                namespace,
                "--wait",
                "--timeout",
                "120s",
                check=False,
            )
            cluster.kubectl("delete", "namespace", namespace, "--wait=false", check=False)
            remove_owned_crds()
            if not crd_existed:
                cluster.kubectl("delete", "crd", CRD, "--ignore-not-found", check=False)


def test_operator_killed_mid_reconcile_keeps_the_driver_serving_and_repairs_drift_without_recreating_it(
    cluster: Cluster, operator_release: str, namespace: str, moto: Any
) -> None:
    system = operator_release
    env = emulators()
    # The AWS provider, pointed at moto directly (the tier's fault proxy is not needed here).
    cluster.helm(
        "install",
        "aws",
        str(Path(__file__).resolve().parents[2] / "charts" / "secrets-store-csi-provider-aws"),
        "-n",
        system,
        "--set",
        f"image.tag={IMAGE_TAG}",
        "--set",
        "aws.region=us-east-1",
        "--set",
        f"aws.endpointUrl=http://{env['EMULATOR_HOST_IP']}:{MOTO_PORT}",
        "--wait",
        "--timeout",
        "180s",
        timeout=240,
    )
    apply(
        {
            "apiVersion": "operator.openshift.io/v1",
            "kind": "ClusterCSIDriver",
            "metadata": {"name": CCD},
            "spec": {"managementState": "Managed"},
        }
    )
    ds = wait_until(
        "the driver DaemonSet rolled out",
        lambda: daemonset_ready(system),
        timeout=300,
        interval=1,
    )
    ds_uid, generation = ds["metadata"]["uid"], ds["metadata"]["generation"]
    driver_pods = cluster.kubectl_json(
        "-n",
        system,
        "get",
        "pods",
        "-l",
        f"app.kubernetes.io/instance={ds['metadata']['labels'].get('app.kubernetes.io/instance', '')}",
    )["items"]
    driver_pod_uids = sorted(
        p["metadata"]["uid"]
        for p in driver_pods
        if p["metadata"].get("ownerReferences", [{}])[0].get("uid") == ds_uid
    )
    assert len(driver_pod_uids) == 1, driver_pods
    services = cluster.kubectl_json("-n", system, "get", "services", "-l", OWNER)["items"]
    assert len(services) == 1, [s["metadata"]["name"] for s in services]
    service = services[0]["metadata"]["name"]

    app_service_account(cluster, namespace)
    secret = f"faults-operator-{uuid.uuid4().hex[:8]}"
    value = f"served-without-operator-{uuid.uuid4().hex}"
    moto.create_secret(Name=secret, SecretString=value)
    cluster.apply(aws_spc("op", [secret]), namespace)
    try:
        cluster.apply(app_pod("before", "op"), namespace)
        cluster.wait_pod_phase(namespace, "before", {"Running"}, timeout=180)

        [op_pod] = cluster.kubectl_json("-n", system, "get", "pods", "-l", "app.kubernetes.io/instance=op")[
            "items"
        ]
        op_name, op_uid = op_pod["metadata"]["name"], op_pod["metadata"]["uid"]
        restarts = op_pod["status"]["containerStatuses"][0]["restartCount"]
        pids = container_pids(op_uid, " operator")
        assert pids, f"no operator process in the cgroup of {op_name}"
        cluster.kubectl(
            "-n", system, "delete", "service", service, "--wait=false"
        )  # drift: a reconcile starts
        killed = time.monotonic()
        for pid in pids:
            os.kill(pid, signal.SIGKILL)

        # The driver serves while the operator is dead or restarting.
        cluster.apply(app_pod("during", "op"), namespace)
        cluster.wait_pod_phase(namespace, "during", {"Running"}, timeout=180)
        for pod in ("before", "during"):
            out = cluster.kubectl("-n", namespace, "exec", pod, "--", "cat", f"/mnt/secrets/{secret}").stdout
            assert out == value

        def operator_back() -> bool:
            st = cluster.kubectl_json("-n", system, "get", "pod", op_name)["status"]["containerStatuses"][0]
            return bool(st["restartCount"] > restarts and st.get("ready"))

        wait_until("the operator container restarted and Ready", operator_back, timeout=180)
        restarted = time.monotonic() - killed
        wait_until(
            "the deleted Service recreated by the restarted operator",
            lambda: cluster.kubectl("-n", system, "get", "service", service, check=False).returncode == 0,
            timeout=120,
        )
        repaired = time.monotonic() - killed
        daemonsets = cluster.kubectl_json("get", "daemonsets", "-A", "-l", OWNER)["items"]
        assert [d["metadata"]["uid"] for d in daemonsets] == [ds_uid], (
            "the driver DaemonSet was replaced or duplicated"
        )
        assert daemonsets[0]["metadata"]["generation"] == generation, "the driver DaemonSet was changed"
        now_pods = cluster.kubectl_json("-n", system, "get", "pods")["items"]
        now_uids = sorted(
            p["metadata"]["uid"]
            for p in now_pods
            if p["metadata"].get("ownerReferences", [{}])[0].get("uid") == ds_uid
        )
        assert now_uids == driver_pod_uids, "the healthy driver pod was recreated"
        available = wait_until(
            "ClusterCSIDriver Available",
            lambda: condition(ccd(), "Available").get("status") == "True",
            timeout=60,
        )
        assert available
        figure(
            "7 operator killed",
            "SIGKILL -> operator container Ready",
            f"{restarted:.1f}s",
        )
        figure(
            "7 operator killed",
            "SIGKILL -> deleted Service repaired (recovery)",
            f"{repaired:.1f}s",
        )
    finally:
        cluster.kubectl(
            "-n",
            namespace,
            "delete",
            "pods",
            "--all",
            "--wait",
            "--timeout=120s",
            check=False,
            timeout=150,
        )
