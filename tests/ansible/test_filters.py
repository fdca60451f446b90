"""The logic behind the roles' decisions: which workloads mount the driver, which DaemonSets are not Ready."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

pytestmark = pytest.mark.ansible

ROLES = Path(__file__).resolve().parents[2] / "roles"


def load(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module
    spec.loader.exec_module(module)
    return module


workloads_mod = load(ROLES / "secrets_store_csi_uninstall" / "filter_plugins" / "csi_workloads.py")
driver_mod = load(ROLES / "secrets_store_csi_driver" / "filter_plugins" / "driver_status.py")


def pod(
    name: str,
    ns: str = "app",
    driver: str | None = "secrets-store.csi.k8s.io",
    owner: tuple[str, str] | None = None,
) -> dict[str, Any]:
    volumes = [{"name": "cfg", "configMap": {"name": "x"}}]
    if driver:
        volumes.append({"name": "secrets", "csi": {"driver": driver, "readOnly": True}})
    meta: dict[str, Any] = {"name": name, "namespace": ns}
    if owner:
        meta["ownerReferences"] = [{"kind": owner[0], "name": owner[1], "controller": True}]
    return {"metadata": meta, "spec": {"volumes": volumes}}


def owned(kind: str, name: str, ns: str, owner: tuple[str, str]) -> dict[str, Any]:
    return {
        "kind": kind,
        "metadata": {
            "name": name,
            "namespace": ns,
            "ownerReferences": [{"kind": owner[0], "name": owner[1], "controller": True}],
        },
    }


def test_pods_of_a_deployment_are_reported_once_as_the_deployment() -> None:
    pods = [pod("web-1", owner=("ReplicaSet", "web-abc")), pod("web-2", owner=("ReplicaSet", "web-abc"))]
    rs = [owned("ReplicaSet", "web-abc", "app", ("Deployment", "web"))]
    assert workloads_mod.workloads(pods, rs, []) == [
        {"namespace": "app", "kind": "Deployment", "name": "web", "pods": ["web-1", "web-2"], "jobs": []}
    ]


def test_pods_without_the_driver_volume_are_ignored() -> None:
    pods = [pod("plain", driver=None), pod("other-csi", driver="hostpath.csi.k8s.io")]
    assert workloads_mod.workloads(pods) == []


def test_cronjob_pods_name_the_cronjob_and_the_job_to_delete() -> None:
    pods = [pod("report-1-x", ns="batch", owner=("Job", "report-1"))]
    jobs = [owned("Job", "report-1", "batch", ("CronJob", "report"))]
    [entry] = workloads_mod.workloads(pods, [], jobs)
    assert (entry["kind"], entry["name"], entry["jobs"]) == ("CronJob", "report", ["report-1"])


def test_bare_pods_statefulsets_and_daemonsets_are_reported_as_themselves() -> None:
    pods = [
        pod("lonely"),
        pod("db-0", owner=("StatefulSet", "db")),
        pod("agent-x", ns="kube-system", owner=("DaemonSet", "agent")),
    ]
    got = [(w["namespace"], w["kind"], w["name"]) for w in workloads_mod.workloads(pods)]
    assert got == [
        ("app", "Pod", "lonely"),
        ("app", "StatefulSet", "db"),
        ("kube-system", "DaemonSet", "agent"),
    ]


def test_a_replicaset_whose_owner_is_unknown_is_reported_as_the_replicaset() -> None:
    pods = [pod("x-1", owner=("ReplicaSet", "x-1a"))]
    assert workloads_mod.workloads(pods, [], [])[0]["kind"] == "ReplicaSet"


def test_same_names_in_two_namespaces_are_two_workloads() -> None:
    pods = [pod("a", ns="one"), pod("a", ns="two")]
    assert workloads_mod.describe(workloads_mod.workloads(pods)) == [
        "one/Pod/a (pods: a)",
        "two/Pod/a (pods: a)",
    ]


def ds(desired: int, ready: int, updated: int, generation: int = 1, observed: int = 1) -> dict[str, Any]:
    return {
        "metadata": {"namespace": "ssc", "name": "driver", "generation": generation},
        "status": {
            "desiredNumberScheduled": desired,
            "numberReady": ready,
            "updatedNumberScheduled": updated,
            "observedGeneration": observed,
        },
    }


def test_a_fully_rolled_out_daemonset_is_ready() -> None:
    assert driver_mod.not_ready([ds(1, 1, 1)]) == []


@pytest.mark.parametrize(
    ("daemonset", "why"),
    [
        (ds(0, 0, 0), "0/0 ready"),
        (ds(2, 1, 2), "1/2 ready"),
        (ds(1, 1, 0), "0 updated"),
        (ds(1, 1, 1, generation=2, observed=1), "spec change not yet observed"),
    ],
)
def test_a_daemonset_not_rolled_out_is_reported_with_why(daemonset: dict[str, Any], why: str) -> None:
    [line] = driver_mod.not_ready([daemonset])
    assert line.startswith("ssc/driver: ") and why in line
