"""Which objects are the operator's: ownership by label, foreign drivers, and the prune set.

Pure functions over plain Kubernetes objects (dicts). The cluster is the only record of what the operator
applied: every object it applies carries OWNER_LABELS, and the prune set is what carries them but is no
longer rendered. CustomResourceDefinitions are applied but never pruned or deleted, so users'
SecretProviderClasses survive the driver's removal.
"""

from __future__ import annotations

import copy
import posixpath
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from secrets_store_csi.operator.api import DRIVER_NAME, MANAGED_BY_LABEL, OPERATOR_NAME, OWNER_LABELS

CRD_KIND = "CustomResourceDefinition"


@dataclass(frozen=True, order=True)
class ObjectRef:
    api_version: str
    kind: str
    namespace: str  # "" for cluster-scoped objects
    name: str

    @classmethod
    def of(cls, obj: Mapping[str, Any]) -> ObjectRef:
        meta = obj.get("metadata") or {}
        return cls(
            str(obj.get("apiVersion", "")),
            str(obj.get("kind", "")),
            meta.get("namespace") or "",
            str(meta.get("name", "")),
        )

    def __str__(self) -> str:
        where = f"{self.namespace}/{self.name}" if self.namespace else self.name
        return f"{self.kind} {where}"


def is_owned(obj: Mapping[str, Any]) -> bool:
    labels = (obj.get("metadata") or {}).get("labels") or {}
    return bool(labels.get(MANAGED_BY_LABEL) == OPERATOR_NAME)


def is_crd(obj: Mapping[str, Any] | ObjectRef) -> bool:
    kind = obj.kind if isinstance(obj, ObjectRef) else obj.get("kind")
    return kind == CRD_KIND


def label_owned(objects: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Copies of the rendered objects labelled as the operator's (replacing Helm's managed-by)."""
    result = []
    for obj in objects:
        labelled = copy.deepcopy(dict(obj))
        meta = labelled.setdefault("metadata", {})
        meta["labels"] = {**(meta.get("labels") or {}), **OWNER_LABELS}
        template = (labelled.get("spec") or {}).get("template")
        if isinstance(template, dict):
            tmeta = template.setdefault("metadata", {})
            if MANAGED_BY_LABEL in (tmeta.get("labels") or {}):
                tmeta["labels"] = {**tmeta["labels"], **OWNER_LABELS}
        result.append(labelled)
    return result


def _host_paths(daemonset: Mapping[str, Any]) -> set[str]:
    volumes = (((daemonset.get("spec") or {}).get("template") or {}).get("spec") or {}).get("volumes") or []
    return {
        posixpath.normpath(v["hostPath"]["path"]) for v in volumes if (v.get("hostPath") or {}).get("path")
    }


def _driver_specific(path: str) -> bool:
    """A kubelet plugin directory of one driver (…/plugins/<driver>), not the shared …/plugins."""
    parts = path.split("/")
    return "plugins" in parts and parts.index("plugins") < len(parts) - 1


def _names_driver(daemonset: Mapping[str, Any]) -> bool:
    pod = ((daemonset.get("spec") or {}).get("template") or {}).get("spec") or {}
    for container in pod.get("containers") or []:
        words = [*(container.get("args") or []), *(container.get("command") or [])]
        if any(DRIVER_NAME in str(word) or "csi-secrets-store" in str(word) for word in words):
            return True
    return False


def foreign_objects(
    rendered: Sequence[Mapping[str, Any]],
    existing: Mapping[ObjectRef, Mapping[str, Any]],
    daemonsets: Iterable[Mapping[str, Any]],
) -> list[str]:
    """Objects of a secrets-store driver the operator does not own, each named for the status message.

    - a rendered object (not a CRD) that exists without the owner label: applying would take it over;
    - any DaemonSet not rendered here (unlabelled, or labelled by an operator serving another namespace)
      that serves the same kubelet plugin directory as the rendered DaemonSet, or names the driver
      (`secrets-store.csi.k8s.io`, `csi-secrets-store`) in its containers' arguments: two node plugins
      would fight over one socket.
    """
    found: list[str] = []
    for obj in rendered:
        ref = ObjectRef.of(obj)
        current = existing.get(ref)
        if current is not None and not is_crd(ref) and not is_owned(current):
            found.append(str(ref))
    ours = set().union(*(_host_paths(o) for o in rendered if o.get("kind") == "DaemonSet"))
    specific = {p for p in ours if _driver_specific(p)}
    rendered_refs = {ObjectRef.of(o) for o in rendered}
    namespaces = {ref.namespace for ref in rendered_refs if ref.kind == "DaemonSet"}
    for ds in daemonsets:
        ref = ObjectRef.of({**ds, "apiVersion": "apps/v1", "kind": "DaemonSet"})
        if ref in rendered_refs or (is_owned(ds) and ref.namespace in namespaces):
            continue  # ours (a stale one in our namespace is pruned); owned elsewhere: another operator's
        if _host_paths(ds) & specific or _names_driver(ds):
            found.append(str(ref))
    return sorted(set(found))


def prune_set(rendered: Iterable[Mapping[str, Any]], owned: Iterable[Mapping[str, Any]]) -> list[ObjectRef]:
    """Owned objects the current render no longer has: delete them (never CRDs)."""
    keep = {_identity(ObjectRef.of(o)) for o in rendered}
    stale = {
        ObjectRef.of(o)
        for o in owned
        if is_owned(o) and not is_crd(o) and _identity(ObjectRef.of(o)) not in keep
    }
    return sorted(stale)


def removal_set(owned: Iterable[Mapping[str, Any]]) -> list[ObjectRef]:
    """Everything owned except CRDs: what Removed and deletion take away."""
    return sorted({ObjectRef.of(o) for o in owned if is_owned(o) and not is_crd(o)})


def _identity(ref: ObjectRef) -> tuple[str, str, str, str]:
    """Group, kind, namespace, name: the same object whatever version it is listed in."""
    group = ref.api_version.rpartition("/")[0]
    return group, ref.kind, ref.namespace, ref.name
