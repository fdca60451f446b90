"""Filters for the secrets_store_csi_uninstall role: which workloads run pods that mount the driver's volumes.

Pure functions over the JSON the Kubernetes API returns (lists of Pods, ReplicaSets, Jobs), so the ordered
uninstall can name what it would stop, and tests can check the logic without a cluster.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, cast

DRIVER = "secrets-store.csi.k8s.io"


def uses_driver(pod: Mapping[str, Any], driver: str = DRIVER) -> bool:
    """True when one of the pod's volumes is an in-line CSI volume of `driver`."""
    for volume in (pod.get("spec") or {}).get("volumes") or []:
        csi = volume.get("csi") or {}
        if csi.get("driver") == driver:
            return True
    return False


def _controller(obj: Mapping[str, Any]) -> Mapping[str, Any] | None:
    for ref in (obj.get("metadata") or {}).get("ownerReferences") or []:
        if ref.get("controller"):
            return cast(Mapping[str, Any], ref)
    return None


def _index(objs: Iterable[Mapping[str, Any]]) -> dict[tuple[str, str], Mapping[str, Any]]:
    return {
        ((o.get("metadata") or {}).get("namespace", ""), (o.get("metadata") or {}).get("name", "")): o
        for o in objs or []
    }


def workloads(
    pods: Iterable[Mapping[str, Any]],
    replicasets: Iterable[Mapping[str, Any]] = (),
    jobs: Iterable[Mapping[str, Any]] = (),
    driver: str = DRIVER,
) -> list[dict[str, Any]]:
    """The top-level workloads whose pods mount `driver` volumes, sorted, each once.

    A pod owned by a ReplicaSet owned by a Deployment is reported as the Deployment; a Job owned by a CronJob
    as the CronJob; a pod without a controller as the Pod itself. Each entry: namespace, kind, name, pods
    (names of the mounting pods) and jobs (for a Job or CronJob: the Jobs that run those pods). Pods already
    terminating are still listed: they still hold mounts.
    """
    rs_index = _index(replicasets)
    job_index = _index(jobs)
    found: dict[tuple[str, str, str], dict[str, Any]] = {}
    for pod in pods or []:
        if not uses_driver(pod, driver):
            continue
        meta = pod.get("metadata") or {}
        namespace = meta.get("namespace", "")
        kind, name = "Pod", meta.get("name", "")
        job = None
        owner = _controller(pod)
        if owner is not None:
            kind, name = owner.get("kind", ""), owner.get("name", "")
            if kind == "Job":
                job = name
            parent_index = rs_index if kind == "ReplicaSet" else job_index if kind == "Job" else None
            parent = parent_index.get((namespace, name)) if parent_index is not None else None
            grand = _controller(parent) if parent is not None else None
            if grand is not None:
                kind, name = grand.get("kind", ""), grand.get("name", "")
        entry = found.setdefault(
            (namespace, kind, name),
            {"namespace": namespace, "kind": kind, "name": name, "pods": [], "jobs": []},
        )
        entry["pods"].append(meta.get("name", ""))
        if job is not None and job not in entry["jobs"]:
            entry["jobs"].append(job)
    for entry in found.values():
        entry["pods"].sort()
        entry["jobs"].sort()
    return [found[key] for key in sorted(found)]


def describe(items: Iterable[Mapping[str, Any]]) -> list[str]:
    """`namespace/Kind/name (pods: a, b)` for each workload."""
    return [f"{w['namespace']}/{w['kind']}/{w['name']} (pods: {', '.join(w['pods'])})" for w in items]


class FilterModule:
    def filters(self) -> dict[str, Callable[..., Any]]:
        return {
            "secrets_store_csi_workloads": workloads,
            "secrets_store_csi_describe_workloads": describe,
        }
