"""One level-based pass from the ClusterCSIDriver to the cluster: render, check, apply, prune, report.

Nothing is remembered between passes: what the operator applied is what carries its owner label, the
previous conditions are in the object's status. Every pass is safe to repeat: server-side apply of the same
render changes nothing (so a restart rolls nothing), and a status identical to the stored one is not a write.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from secrets_store_csi.kube.errors import KubeError
from secrets_store_csi.kube.objects import ObjectClient
from secrets_store_csi.operator import conditions as cond
from secrets_store_csi.operator import inventory
from secrets_store_csi.operator.api import DRIVER_NAME, GROUP, KIND, OWNER_LABELS, VERSION
from secrets_store_csi.operator.inventory import ObjectRef
from secrets_store_csi.operator.render import RenderError, render
from secrets_store_csi.operator.values import (
    InvalidSpec,
    OperatorConfig,
    driver_values,
    management_state,
)

log = logging.getLogger(__name__)

CCD_REF: Final = ObjectRef(f"{GROUP}/{VERSION}", KIND, "", DRIVER_NAME)

# Kinds the driver chart may render, listed by owner label to find what to prune or remove even when the
# current render has none of a kind any more. Kinds the cluster does not serve are skipped.
OWNED_KINDS: Final = (
    ("apps/v1", "DaemonSet"),
    ("v1", "ServiceAccount"),
    ("v1", "Service"),
    ("v1", "ConfigMap"),
    ("rbac.authorization.k8s.io/v1", "ClusterRole"),
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"),
    ("rbac.authorization.k8s.io/v1", "Role"),
    ("rbac.authorization.k8s.io/v1", "RoleBinding"),
    ("storage.k8s.io/v1", "CSIDriver"),
    ("admissionregistration.k8s.io/v1", "ValidatingAdmissionPolicy"),
    ("admissionregistration.k8s.io/v1", "ValidatingAdmissionPolicyBinding"),
    ("monitoring.coreos.com/v1", "ServiceMonitor"),
)

# Apply order: what others depend on first (CRDs, identities, permissions), the DaemonSet last.
APPLY_ORDER: Final = {
    "CustomResourceDefinition": 0,
    "ServiceAccount": 1,
    "ClusterRole": 2,
    "Role": 2,
    "ClusterRoleBinding": 3,
    "RoleBinding": 3,
    "ValidatingAdmissionPolicy": 3,
    "ValidatingAdmissionPolicyBinding": 4,
    "CSIDriver": 4,
    "DaemonSet": 9,
}

EmitFn = Callable[[str, str, str], None]  # (Normal|Warning, reason, message)


def _no_events(_type: str, _reason: str, _message: str) -> None:
    return None


@dataclass
class Context:
    """Everything a pass needs; the lock keeps the handlers' passes from overlapping."""

    client: ObjectClient
    config: OperatorConfig
    helm: str
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    set_operator_log_level: Callable[[str], None] = lambda _level: None


@dataclass
class Outcome:
    observation: cond.Observation
    status: dict[str, Any]
    transitions: list[cond.Transition]


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


async def list_owned(ctx: Context, extra_kinds: Sequence[tuple[str, str]] = ()) -> list[dict[str, Any]]:
    """Every object carrying the owner label, over the kinds the chart may render."""
    selector = ",".join(f"{k}={v}" for k, v in OWNER_LABELS.items())
    kinds = list(dict.fromkeys([*OWNED_KINDS, *extra_kinds]))
    found: list[dict[str, Any]] = []
    for api_version, kind in kinds:
        if kind == inventory.CRD_KIND:
            continue
        try:
            resource = await ctx.client.resource(api_version, kind)
        except KubeError as error:
            if error.status == 404:
                continue
            raise
        namespace = ctx.config.namespace if resource.namespaced else ""
        found.extend(await ctx.client.list(api_version, kind, namespace, selector))
    return found


def _daemonset(objects: Sequence[Mapping[str, Any]]) -> cond.DaemonSetState | None:
    for obj in objects:
        if obj.get("kind") == "DaemonSet":
            return cond.DaemonSetState.from_object(obj)
    return None


async def remove(ctx: Context, owned: Sequence[Mapping[str, Any]]) -> list[str]:
    """Delete what the operator owns (never CRDs); returns what is still there (terminating)."""
    remaining = []
    for ref in sorted(inventory.removal_set(owned), key=lambda r: r.kind != "DaemonSet"):
        obj = next(o for o in owned if ObjectRef.of(o) == ref)
        if (obj.get("metadata") or {}).get("deletionTimestamp") is None:
            # Foreground for the DaemonSet: it stays until its pods are gone, so "removed" means pods gone.
            log.info("deleting %s", ref)
            await ctx.client.delete(
                ref, propagation="Foreground" if ref.kind == "DaemonSet" else "Background"
            )
        if await ctx.client.get(ref) is not None:
            remaining.append(str(ref))
    return remaining


async def _apply(
    ctx: Context, objects: list[dict[str, Any]], existing: Mapping[ObjectRef, Mapping[str, Any]]
) -> dict[str, Any] | None:
    """Apply in dependency order; returns the applied DaemonSet as the server answered."""
    applied_ds = None
    for obj in sorted(objects, key=lambda o: APPLY_ORDER.get(str(o.get("kind")), 5)):
        ref = ObjectRef.of(obj)
        current = existing.get(ref)
        if inventory.is_crd(obj) and current is not None and not inventory.is_owned(current):
            log.debug("leaving %s as it is: installed by someone else", ref)
            continue
        result = await ctx.client.apply(obj)
        if current is None or result["metadata"].get("resourceVersion") != current["metadata"].get(
            "resourceVersion"
        ):
            log.info("applied %s", ref)
        if ref.kind == "DaemonSet":
            applied_ds = result
    return applied_ds


async def observe_and_act(ctx: Context, ccd: Mapping[str, Any]) -> cond.Observation:
    """Act as spec.managementState says and return what was seen."""
    spec = ccd.get("spec") or {}
    try:
        state = management_state(spec)
    except InvalidSpec as error:
        owned = await list_owned(ctx)
        return cond.Observation(None, _daemonset(owned), invalid=(error.reason, error.message))
    ctx.set_operator_log_level(str(spec.get("operatorLogLevel") or "Normal"))

    if state == "Unmanaged":
        return cond.Observation(state, _daemonset(await list_owned(ctx)))
    if state == "Removed":
        owned = await list_owned(ctx)
        return cond.Observation(state, None, remaining=await remove(ctx, owned))

    # Managed (and Force, which OpenShift reads as Managed for a removable operand).
    owned = await list_owned(ctx)
    try:
        values = driver_values(spec, ctx.config)
    except InvalidSpec as error:
        return cond.Observation(state, _daemonset(owned), invalid=(error.reason, error.message))
    try:
        kube_version = await ctx.client.version()
        objects = inventory.label_owned(
            await render(ctx.helm, ctx.config.chart, ctx.config.namespace, values, kube_version)
        )
    except RenderError as error:
        return cond.Observation(state, _daemonset(owned), render_error=str(error))

    existing: dict[ObjectRef, dict[str, Any]] = {}
    for obj in objects:
        ref = ObjectRef.of(obj)
        current = await ctx.client.get(ref)
        if current is not None:
            existing[ref] = current
    daemonsets = await ctx.client.list("apps/v1", "DaemonSet")
    foreign = inventory.foreign_objects(objects, existing, daemonsets)
    if foreign:
        return cond.Observation(state, _daemonset(owned), foreign=foreign)

    try:
        applied_ds = await _apply(ctx, objects, existing)
        for ref in inventory.prune_set(objects, owned):
            log.info("pruning %s: no longer rendered", ref)
            await ctx.client.delete(ref)
    except KubeError as error:
        return cond.Observation(state, _daemonset(owned), apply_error=str(error))
    return cond.Observation(state, cond.DaemonSetState.from_object(applied_ds) if applied_ds else None)


def build_status(
    ccd: Mapping[str, Any], obs: cond.Observation, now: str
) -> tuple[dict[str, Any], list[cond.Transition]]:
    """The status to write and the condition transitions since the stored one (pure)."""
    previous = (ccd.get("status") or {}).get("conditions") or []
    current = cond.observe(obs)
    ds = obs.daemonset
    status: dict[str, Any] = {
        "observedGeneration": int((ccd.get("metadata") or {}).get("generation", 0)),
        "conditions": cond.merge(previous, current, now),
        "readyReplicas": ds.ready if ds else 0,
        "generations": (
            [
                {
                    "group": "apps",
                    "resource": "daemonsets",
                    "namespace": ds.namespace,
                    "name": ds.name,
                    "lastGeneration": ds.generation,
                    "hash": "",
                }
            ]
            if ds
            else []
        ),
        "daemonSet": (
            {
                "namespace": ds.namespace,
                "name": ds.name,
                "desiredNumberScheduled": ds.desired,
                "numberAvailable": ds.available,
                "numberReady": ds.ready,
                "updatedNumberScheduled": ds.updated,
            }
            if ds
            else None
        ),
    }
    return status, cond.transitions(previous, current)


async def reconcile(
    ctx: Context, emit_for: Callable[[Mapping[str, Any]], EmitFn] | None = None
) -> Outcome | None:
    """One pass for the ClusterCSIDriver: act, write status when it changed, emit transition events.

    The object is read inside the lock, so the stored status a pass compares with is the one the previous
    pass wrote. None when there is nothing to do: no ClusterCSIDriver, or it is being deleted (the deletion
    handler removes the driver).
    """
    async with ctx.lock:
        ccd = await fetch(ctx)
        if ccd is None or (ccd.get("metadata") or {}).get("deletionTimestamp"):
            return None
        obs = await observe_and_act(ctx, ccd)
        status, moved = build_status(ccd, obs, _now())
        if status != _comparable(ccd.get("status") or {}, status):
            await ctx.client.patch_status(CCD_REF, status)
        emit = emit_for(ccd) if emit_for is not None else _no_events
        for t in moved:
            emit(
                "Warning" if t.bad else "Normal", t.reason, f"{t.type} is {t.after}: {t.message}".rstrip(": ")
            )
            log.info("condition %s: %s -> %s (%s) %s", t.type, t.before, t.after, t.reason, t.message)
        return Outcome(obs, status, moved)


def _comparable(stored: Mapping[str, Any], status: Mapping[str, Any]) -> dict[str, Any]:
    """The stored status restricted to the keys the operator writes (a null is an absent key)."""
    return {key: stored.get(key) for key in status}


async def fetch(ctx: Context) -> dict[str, Any] | None:
    return await ctx.client.get(CCD_REF)


async def teardown(ctx: Context) -> list[str]:
    """Remove the driver for a deleted ClusterCSIDriver; returns what is still terminating."""
    async with ctx.lock:
        return await remove(ctx, await list_owned(ctx))
