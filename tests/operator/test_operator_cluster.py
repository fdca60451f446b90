"""The operator, run on the host, against the local cluster: the ClusterCSIDriver turns the driver on and off.

The tests run in file order and share one operator process and one driver install, under the team's
cluster-wide driver lock; the module leaves nothing installed.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from operator_cluster import (
    CCD,
    OperatorProcess,
    apply,
    ccd,
    ccd_crd_installed_by_us,
    condition,
    daemonset,
    daemonset_ready,
    delete_ccd_and_wait,
    driver_args,
    driver_lock_on_a_clean_cluster,
    events_for_ccd,
    leftovers,
    new_namespace,
    owned,
    remove_owned_crds,
    wait_for,
)
from operator_env import CACHE, kubectl, kubectl_json

pytestmark = pytest.mark.cluster

READY_TIMEOUT = 240


@pytest.fixture(scope="module")
def driver_namespace() -> Iterator[str]:
    with driver_lock_on_a_clean_cluster():
        crd_ours = ccd_crd_installed_by_us()
        namespace = new_namespace("operator-test")
        try:
            yield namespace
        finally:
            if ccd() is not None:
                operator = OperatorProcess(namespace).start()
                try:
                    delete_ccd_and_wait()
                finally:
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


@pytest.fixture(scope="module")
def operator(driver_namespace: str) -> Iterator[OperatorProcess]:
    process = OperatorProcess(driver_namespace).start()
    yield process
    process.stop()


def spec_patch(**spec: Any) -> None:
    kubectl(
        "patch",
        "clustercsidriver",
        CCD,
        "--type=merge",
        "-p",
        json.dumps({"spec": spec}),
    )


def status_settled(generation: int | None = None) -> dict[str, Any] | None:
    obj = ccd()
    if obj is None:
        return None
    want = generation if generation is not None else obj["metadata"]["generation"]
    return obj if (obj.get("status") or {}).get("observedGeneration") == want else None


def test_created_clustercsidriver_brings_the_driver_pods_ready(
    driver_namespace: str, operator: OperatorProcess
) -> None:
    apply(
        {
            "apiVersion": "operator.openshift.io/v1",
            "kind": "ClusterCSIDriver",
            "metadata": {"name": CCD},
            "spec": {"managementState": "Managed"},
        }
    )
    ds = wait_for("driver pods Ready", lambda: daemonset_ready(driver_namespace), READY_TIMEOUT)
    assert "-v=2" in driver_args(ds)
    csidriver = kubectl_json("get", "csidriver", CCD)
    assert (
        csidriver["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "secrets-store-csi-driver-operator"
    )
    assert csidriver["spec"]["podInfoOnMount"] is True

    def available() -> dict[str, Any] | None:
        obj = ccd()
        return (
            obj
            if condition(obj, "Available").get("status") == "True"
            and condition(obj, "Progressing").get("status") == "False"
            else None
        )

    obj = wait_for("Available and not Progressing", available, 60)
    assert obj["metadata"]["finalizers"] == ["operator.secrets-store.csi.k8s.io/driver"]
    assert obj["status"]["observedGeneration"] == obj["metadata"]["generation"]
    assert condition(obj, "Degraded")["status"] == "False"
    assert condition(obj, "SecretsStoreDriverNodeServiceControllerAvailable")["status"] == "True"
    counts = obj["status"]["daemonSet"]
    assert counts["desiredNumberScheduled"] >= 1
    assert counts["numberAvailable"] == counts["desiredNumberScheduled"]
    reasons = {e["reason"] for e in events_for_ccd("default")}
    assert "AsExpected" in reasons, reasons


PROVIDER_DIR = Path("/var/run/secrets-store-csi-providers")
TESTPROVIDER = CACHE / "bin" / "ssc-testprovider"


def test_a_pod_mounts_a_secret_through_the_operators_driver(driver_namespace: str, tmp_path: Path) -> None:
    """The driver the operator installed serves a pod's in-line volume from a real provider (the driver's
    test provider, on the host, speaking the upstream provider API on the node's provider directory)."""
    assert TESTPROVIDER.exists(), f"{TESTPROVIDER} missing: `make testprovider` builds it"
    (tmp_path / "greeting.txt").write_text("hello from the operator test\n")
    PROVIDER_DIR.mkdir(parents=True, exist_ok=True)
    socket = PROVIDER_DIR / "operator-test.sock"
    provider = subprocess.Popen(
        [str(TESTPROVIDER), "--endpoint", str(socket), "--root-dir", str(tmp_path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for("the provider socket", socket.exists, 10)
        apply(
            [
                {
                    "apiVersion": "secrets-store.csi.x-k8s.io/v1",
                    "kind": "SecretProviderClass",
                    "metadata": {"name": "greeting", "namespace": driver_namespace},
                    "spec": {
                        "provider": "operator-test",
                        "parameters": {"objects": json.dumps({"greeting": "greeting.txt"})},
                    },
                },
                {
                    "apiVersion": "v1",
                    "kind": "Pod",
                    "metadata": {"name": "reader", "namespace": driver_namespace},
                    "spec": {
                        "restartPolicy": "Never",
                        "terminationGracePeriodSeconds": 0,
                        "containers": [
                            {
                                "name": "reader",
                                "image": "localhost/ssc-base:bookworm",
                                "imagePullPolicy": "Never",
                                "command": ["cat", "/mnt/secrets/greeting"],
                                "volumeMounts": [
                                    {"name": "secrets", "mountPath": "/mnt/secrets", "readOnly": True}
                                ],
                            }
                        ],
                        "volumes": [
                            {
                                "name": "secrets",
                                "csi": {
                                    "driver": CCD,
                                    "readOnly": True,
                                    "volumeAttributes": {"secretProviderClass": "greeting"},
                                },
                            }
                        ],
                    },
                },
            ]
        )
        phase = wait_for(
            "the reader pod to finish",
            lambda: (
                kubectl_json("get", "pod", "-n", driver_namespace, "reader")["status"].get("phase")
                in ("Succeeded", "Failed")
                and kubectl_json("get", "pod", "-n", driver_namespace, "reader")["status"]["phase"]
            ),
            120,
        )
        assert phase == "Succeeded"
        assert kubectl("logs", "-n", driver_namespace, "reader").stdout == "hello from the operator test\n"
    finally:
        kubectl(
            "delete",
            "pod",
            "-n",
            driver_namespace,
            "reader",
            "--ignore-not-found",
            "--wait=true",
            "--timeout=60s",
            check=False,
        )
        kubectl(
            "delete",
            "secretproviderclass",
            "-n",
            driver_namespace,
            "greeting",
            "--ignore-not-found",
            check=False,
        )
        provider.terminate()
        provider.wait(timeout=10)
        socket.unlink(missing_ok=True)


def test_crd_validation_refuses_impossible_specs(operator: OperatorProcess) -> None:
    for bad in (
        {"managementState": "Paused"},
        {"logLevel": "Chatty"},
        {"driverConfig": {"driverType": "AWS", "secretsStore": {}}},
        {
            "driverConfig": {
                "driverType": "SecretsStore",
                "secretsStore": {"secretRotation": {"type": "Custom"}},
            }
        },
    ):
        result = kubectl(
            "patch",
            "clustercsidriver",
            CCD,
            "--type=merge",
            "-p",
            json.dumps({"spec": bad}),
            check=False,
        )
        assert result.returncode != 0, bad
        assert "Invalid" in result.stderr or "invalid" in result.stderr, result.stderr


def test_log_level_debug_rolls_the_daemonset_and_back(
    driver_namespace: str, operator: OperatorProcess
) -> None:
    before = daemonset(driver_namespace)
    assert before is not None
    spec_patch(logLevel="Debug")
    ds = wait_for(
        "-v=4",
        lambda: (d := daemonset(driver_namespace)) and "-v=4" in driver_args(d) and d,
        60,
    )
    assert ds["metadata"]["generation"] > before["metadata"]["generation"]
    wait_for("the Debug rollout", lambda: daemonset_ready(driver_namespace), READY_TIMEOUT)
    spec_patch(logLevel="Normal")
    wait_for(
        "-v=2 again",
        lambda: (d := daemonset(driver_namespace)) and "-v=2" in driver_args(d),
        60,
    )
    wait_for("the Normal rollout", lambda: daemonset_ready(driver_namespace), READY_TIMEOUT)


def test_a_restarted_operator_rolls_nothing_and_flaps_nothing(
    driver_namespace: str, operator: OperatorProcess
) -> None:
    wait_for("a settled status", status_settled, 30)
    before_ds = daemonset(driver_namespace)
    before = ccd()
    assert before_ds is not None and before is not None
    operator.stop()
    operator.start()
    time.sleep(15)  # the resumed pass and two periodic ones (resync 5s)
    assert operator.process is not None and operator.process.poll() is None
    after_ds = daemonset(driver_namespace)
    after = ccd()
    assert after_ds is not None and after is not None
    assert after_ds["metadata"]["generation"] == before_ds["metadata"]["generation"]
    assert after_ds["metadata"]["resourceVersion"] == before_ds["metadata"]["resourceVersion"]
    assert after["status"]["conditions"] == before["status"]["conditions"]


def test_a_deleted_daemonset_comes_back_ready(driver_namespace: str, operator: OperatorProcess) -> None:
    ds = daemonset(driver_namespace)
    assert ds is not None
    kubectl(
        "delete",
        "daemonset",
        "-n",
        driver_namespace,
        ds["metadata"]["name"],
        "--wait=false",
    )
    back = wait_for(
        "a new DaemonSet",
        lambda: (d := daemonset(driver_namespace)) and d["metadata"]["uid"] != ds["metadata"]["uid"] and d,
        60,
    )
    assert back["metadata"]["name"] == ds["metadata"]["name"]
    wait_for(
        "the restored driver pods Ready",
        lambda: daemonset_ready(driver_namespace),
        READY_TIMEOUT,
    )


def edit_driver_args(ds: dict[str, Any], args: list[str]) -> None:
    containers = ds["spec"]["template"]["spec"]["containers"]
    index = next(i for i, c in enumerate(containers) if c.get("args") == driver_args(ds))
    patch = [{"op": "replace", "path": f"/spec/template/spec/containers/{index}/args", "value": args}]
    kubectl(
        "patch",
        "daemonset",
        "-n",
        ds["metadata"]["namespace"],
        ds["metadata"]["name"],
        "--type=json",
        "-p",
        json.dumps(patch),
    )


def test_a_hand_edited_daemonset_is_put_back(driver_namespace: str, operator: OperatorProcess) -> None:
    ds = daemonset(driver_namespace)
    assert ds is not None
    args = driver_args(ds)
    edit_driver_args(ds, [a if not a.startswith("-v=") else "-v=9" for a in args])
    wait_for("the edit undone", lambda: (d := daemonset(driver_namespace)) and driver_args(d) == args, 60)
    wait_for("driver pods Ready", lambda: daemonset_ready(driver_namespace), READY_TIMEOUT)


def test_a_spec_only_the_operator_can_judge_is_degraded_and_tears_nothing_down(
    driver_namespace: str, operator: OperatorProcess
) -> None:
    wait_for("driver pods Ready", lambda: daemonset_ready(driver_namespace), READY_TIMEOUT)
    wait_for("Available", lambda: condition(ccd(), "Available").get("status") == "True", 30)
    before = daemonset(driver_namespace)
    assert before is not None
    spec_patch(driverConfig={"driverType": "AWS"})  # valid for the CRD, not a secrets-store configuration
    try:
        obj = wait_for(
            "Degraded",
            lambda: (o := ccd()) and condition(o, "Degraded").get("status") == "True" and o,
            30,
        )
        assert condition(obj, "Degraded")["reason"] == "InvalidDriverConfig"
        assert "driverType 'AWS'" in condition(obj, "Degraded")["message"]
        after = daemonset(driver_namespace)
        assert after is not None and after["metadata"]["generation"] == before["metadata"]["generation"]
        assert condition(obj, "Available")["status"] == "True"
    finally:  # the later tests need a valid spec even when an assertion above failed
        kubectl(
            "patch",
            "clustercsidriver",
            CCD,
            "--type=json",
            "-p",
            json.dumps([{"op": "remove", "path": "/spec/driverConfig"}]),
        )
    wait_for(
        "Degraded cleared",
        lambda: condition(ccd(), "Degraded").get("status") == "False",
        30,
    )


def test_unmanaged_changes_nothing_and_says_so(driver_namespace: str, operator: OperatorProcess) -> None:
    ds = daemonset(driver_namespace)
    assert ds is not None
    args = driver_args(ds)
    spec_patch(managementState="Unmanaged")
    try:
        obj = wait_for(
            "Unmanaged in status",
            lambda: (o := ccd()) and condition(o, "Progressing").get("reason") == "Unmanaged" and o,
            30,
        )
        assert "changes nothing" in condition(obj, "Progressing")["message"]
        edit_driver_args(ds, [a if not a.startswith("-v=") else "-v=9" for a in args])
        kubectl("delete", "csidriver", CCD)
        time.sleep(12)  # two periodic passes
        assert kubectl("get", "csidriver", CCD, check=False).returncode != 0
        edited = daemonset(driver_namespace)
        assert edited is not None and "-v=9" in driver_args(edited)
    finally:  # the later tests need a managed driver even when an assertion above failed
        spec_patch(managementState="Managed")
    wait_for("the CSIDriver back", lambda: kubectl("get", "csidriver", CCD, check=False).returncode == 0, 30)
    wait_for("the edit undone", lambda: (d := daemonset(driver_namespace)) and driver_args(d) == args, 30)
    wait_for("driver pods Ready", lambda: daemonset_ready(driver_namespace), READY_TIMEOUT)


def test_removed_removes_the_driver_and_managed_brings_it_back(
    driver_namespace: str, operator: OperatorProcess
) -> None:
    spec_patch(managementState="Removed")
    try:
        wait_for("the DaemonSet gone", lambda: daemonset(driver_namespace) is None, 120)
        wait_for(
            "driver pods gone",
            lambda: not kubectl_json("get", "pods", "-n", driver_namespace)["items"],
            120,
        )
        assert kubectl("get", "csidriver", CCD, check=False).returncode != 0
        assert owned("clusterroles") == [] and owned("clusterrolebindings") == []
        assert (
            kubectl(
                "get",
                "crd",
                "secretproviderclasses.secrets-store.csi.x-k8s.io",
                check=False,
            ).returncode
            == 0
        )
        obj = wait_for(
            "Removed in status",
            lambda: (o := ccd()) and condition(o, "Progressing").get("reason") == "Removed" and o,
            30,
        )
        assert condition(obj, "Available")["reason"] == "Removed"
    finally:  # the later tests need a managed driver even when an assertion above failed
        spec_patch(managementState="Managed")
    wait_for(
        "driver pods Ready again",
        lambda: daemonset_ready(driver_namespace),
        READY_TIMEOUT,
    )
    assert kubectl("get", "csidriver", CCD, check=False).returncode == 0


def test_other_clustercsidrivers_are_left_to_their_operators(
    operator: OperatorProcess,
) -> None:
    name = "ebs.csi.aws.com"
    apply(
        {
            "apiVersion": "operator.openshift.io/v1",
            "kind": "ClusterCSIDriver",
            "metadata": {"name": name},
            "spec": {"managementState": "Managed"},
        }
    )
    try:
        time.sleep(8)
        other = kubectl_json("get", "clustercsidriver", name)
        assert not other["metadata"].get("finalizers")
        assert not other.get("status")
    finally:
        kubectl("delete", "clustercsidriver", name, "--ignore-not-found")


def test_deleting_the_clustercsidriver_removes_the_driver_and_keeps_crds_and_classes(
    driver_namespace: str, operator: OperatorProcess
) -> None:
    spc = {
        "apiVersion": "secrets-store.csi.x-k8s.io/v1",
        "kind": "SecretProviderClass",
        "metadata": {"name": "kept", "namespace": driver_namespace},
        "spec": {"provider": "vault", "parameters": {"objects": "[]"}},
    }
    apply(spc)
    delete_ccd_and_wait()
    assert daemonset(driver_namespace) is None
    assert kubectl("get", "csidriver", CCD, check=False).returncode != 0
    assert owned("clusterroles") == []
    assert kubectl("get", "secretproviderclass", "-n", driver_namespace, "kept", check=False).returncode == 0
    wait_for(
        "driver pods gone",
        lambda: not kubectl_json("get", "pods", "-n", driver_namespace)["items"],
        120,
    )


def test_a_foreign_secrets_store_driver_is_reported_and_left_alone(
    driver_namespace: str, operator: OperatorProcess
) -> None:
    """The upstream chart's shape: CSIDriver secrets-store.csi.k8s.io and a DaemonSet on its plugin dir."""
    foreign_ns = new_namespace("operator-test-upstream")
    labels = {"app": "secrets-store-csi-driver", "app.kubernetes.io/managed-by": "Helm"}
    csidriver = {
        "apiVersion": "storage.k8s.io/v1",
        "kind": "CSIDriver",
        "metadata": {"name": CCD, "labels": labels},
        "spec": {
            "podInfoOnMount": True,
            "attachRequired": False,
            "volumeLifecycleModes": ["Ephemeral"],
        },
    }
    ds = {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {
            "name": "csi-secrets-store",
            "namespace": foreign_ns,
            "labels": labels,
        },
        "spec": {
            "selector": {"matchLabels": {"app": "secrets-store-csi-driver"}},
            "template": {
                "metadata": {"labels": {"app": "secrets-store-csi-driver"}},
                "spec": {
                    "containers": [
                        {
                            "name": "secrets-store",
                            "image": "localhost/pause:3.10",
                            "imagePullPolicy": "Never",
                        }
                    ],
                    "volumes": [
                        {
                            "name": "plugin-dir",
                            "hostPath": {
                                "path": "/var/lib/kubelet/plugins/csi-secrets-store/",
                                "type": "DirectoryOrCreate",
                            },
                        }
                    ],
                },
            },
        },
    }
    apply([csidriver, ds])
    try:
        before = {
            k: kubectl_json("get", *k.split())
            for k in (
                "csidriver " + CCD,
                f"daemonset -n {foreign_ns} csi-secrets-store",
            )
        }
        apply(
            {
                "apiVersion": "operator.openshift.io/v1",
                "kind": "ClusterCSIDriver",
                "metadata": {"name": CCD},
                "spec": {"managementState": "Managed"},
            }
        )
        obj = wait_for(
            "Degraded",
            lambda: (o := ccd()) and condition(o, "Degraded").get("status") == "True" and o,
            30,
        )
        degraded = condition(obj, "Degraded")
        assert degraded["reason"] == "ForeignDriverInstalled"
        assert f"CSIDriver {CCD}" in degraded["message"]
        assert f"DaemonSet {foreign_ns}/csi-secrets-store" in degraded["message"]
        time.sleep(6)  # a periodic pass more
        for key, obj_before in before.items():
            after = kubectl_json("get", *key.split())
            managers = {f["manager"] for f in after["metadata"].get("managedFields", [])}
            assert "secrets-store-csi-driver-operator" not in managers, key
            assert after["metadata"].get("generation") == obj_before["metadata"].get("generation"), key
            assert after["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "Helm"
        assert daemonset(driver_namespace) is None
        assert [e for e in events_for_ccd("default") if e["reason"] == "ForeignDriverInstalled"]
        delete_ccd_and_wait()
        assert kubectl("get", "csidriver", CCD, check=False).returncode == 0, (
            "the foreign CSIDriver was deleted"
        )
    finally:
        kubectl("delete", "namespace", foreign_ns, "--wait=false", check=False)
        kubectl("delete", "csidriver", CCD, "--ignore-not-found")


def test_nothing_owned_is_left_behind(driver_namespace: str, operator: OperatorProcess) -> None:
    assert ccd() is None
    assert leftovers() == []
