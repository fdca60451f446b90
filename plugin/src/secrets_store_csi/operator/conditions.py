"""Status of the ClusterCSIDriver: conditions computed from one observation, and what changed.

Pure functions. `observe` turns what a reconcile pass saw into conditions (type, status, reason,
message); `merge` keeps lastTransitionTime of conditions whose status did not change, so writing the same
status twice is a no-op on the API server; `transitions` lists what changed, one event each.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from secrets_store_csi.operator.api import NODE_SERVICE_PREFIX

GENERIC: Final = ("Available", "Progressing", "Degraded")


@dataclass(frozen=True)
class DaemonSetState:
    """The driver DaemonSet's rollout figures, as its status reports them."""

    namespace: str
    name: str
    generation: int = 0
    observed_generation: int = 0
    desired: int = 0
    available: int = 0
    ready: int = 0
    updated: int = 0

    @classmethod
    def from_object(cls, obj: Mapping[str, Any]) -> DaemonSetState:
        meta = obj.get("metadata", {})
        status = obj.get("status") or {}
        return cls(
            namespace=meta.get("namespace", ""),
            name=meta.get("name", ""),
            generation=int(meta.get("generation", 0)),
            observed_generation=int(status.get("observedGeneration", 0)),
            desired=int(status.get("desiredNumberScheduled", 0)),
            available=int(status.get("numberAvailable", 0)),
            ready=int(status.get("numberReady", 0)),
            updated=int(status.get("updatedNumberScheduled", 0)),
        )

    @property
    def rolled_out(self) -> bool:
        return (
            self.observed_generation >= self.generation
            and self.updated >= self.desired
            and self.available >= self.desired
        )

    @property
    def up(self) -> bool:
        """Some driver pod serves, or (as the controller has seen this DaemonSet) no node needs one."""
        observed = self.observed_generation >= self.generation
        return self.available > 0 or (self.desired == 0 and observed)

    @property
    def counts(self) -> str:
        return f"{self.available}/{self.desired} driver pods available, {self.updated} updated"


@dataclass(frozen=True)
class Observation:
    """What one reconcile pass saw and did. `state` is None when spec.managementState is invalid."""

    state: str | None
    daemonset: DaemonSetState | None = None
    invalid: tuple[str, str] | None = None  # (reason, message)
    render_error: str | None = None
    apply_error: str | None = None
    foreign: Sequence[str] = field(default_factory=tuple)
    remaining: Sequence[str] = field(default_factory=tuple)  # Removed: owned objects still present


@dataclass(frozen=True)
class Condition:
    type: str
    status: str
    reason: str
    message: str

    def as_dict(self, last_transition_time: str) -> dict[str, str]:
        return {
            "type": self.type,
            "status": self.status,
            "lastTransitionTime": last_transition_time,
            "reason": self.reason,
            "message": self.message,
        }


def _bool(value: bool) -> str:
    return "True" if value else "False"


def _degraded(obs: Observation) -> Condition:
    if obs.foreign:
        return Condition(
            "Degraded",
            "True",
            "ForeignDriverInstalled",
            "a secrets-store driver this operator does not own is installed; nothing was changed: "
            + ", ".join(obs.foreign)
            + " (remove it, or label it app.kubernetes.io/managed-by=secrets-store-csi-driver-operator "
            "to hand it over)",
        )
    if obs.invalid is not None:
        reason, message = obs.invalid
        return Condition("Degraded", "True", reason, f"{message}; the running driver is left as it is")
    if obs.render_error is not None:
        return Condition("Degraded", "True", "RenderFailed", obs.render_error)
    if obs.apply_error is not None:
        return Condition("Degraded", "True", "ApplyFailed", obs.apply_error)
    return Condition("Degraded", "False", "AsExpected", "")


def _from_daemonset(obs: Observation, hold_reason: str, hold_message: str) -> tuple[Condition, Condition]:
    """Available / Progressing when the operator does not act (Unmanaged, invalid spec)."""
    ds = obs.daemonset
    if ds is None:
        available = Condition("Available", "False", hold_reason, f"{hold_message}; no driver DaemonSet")
    else:
        available = Condition(
            "Available",
            _bool(ds.up),
            hold_reason,
            f"{hold_message}; {ds.counts}",
        )
    return available, Condition("Progressing", "False", hold_reason, hold_message)


def observe(obs: Observation) -> list[Condition]:
    """The generic conditions and their OpenShift-style node-service twins for one observation."""
    degraded = _degraded(obs)
    ds = obs.daemonset
    if obs.state is None or obs.invalid is not None:
        available, progressing = _from_daemonset(obs, "InvalidSpec", "the spec is invalid")
    elif obs.state == "Unmanaged":
        available, progressing = _from_daemonset(
            obs, "Unmanaged", "managementState is Unmanaged: the operator changes nothing"
        )
        degraded = Condition("Degraded", "False", "Unmanaged", "")
    elif obs.state == "Removed":
        available = Condition(
            "Available", "False", "Removed", "managementState is Removed: the driver is removed"
        )
        if obs.remaining:
            progressing = Condition("Progressing", "True", "Removing", "removing " + ", ".join(obs.remaining))
        else:
            progressing = Condition("Progressing", "False", "Removed", "the driver is removed")
    elif obs.foreign and ds is None:
        available = Condition(
            "Available", "False", "ForeignDriverInstalled", "the operator installed nothing"
        )
        progressing = Condition(
            "Progressing", "False", "ForeignDriverInstalled", "waiting for the foreign driver to go"
        )
    elif ds is None:
        available = Condition("Available", "False", "Deploying", "the driver DaemonSet does not exist yet")
        progressing = Condition("Progressing", "True", "Deploying", "creating the driver DaemonSet")
    else:
        up = ds.up
        available = Condition(
            "Available", _bool(up), "AsExpected" if up else "NoDriverPodAvailable", ds.counts
        )
        if ds.rolled_out:
            progressing = Condition("Progressing", "False", "AsExpected", ds.counts)
        else:
            progressing = Condition(
                "Progressing", "True", "RollingOut", f"{ds.namespace}/{ds.name}: {ds.counts}"
            )
    generic = [available, progressing, degraded]
    twins = [Condition(NODE_SERVICE_PREFIX + c.type, c.status, c.reason, c.message) for c in generic]
    return generic + twins


def merge(
    previous: Sequence[Mapping[str, Any]], current: Sequence[Condition], now: str
) -> list[dict[str, str]]:
    """Conditions with lastTransitionTime kept where the status is unchanged, set to `now` where it moved.

    Conditions other writers added (types this operator does not compute) are kept as they are.
    """
    old = {str(c.get("type")): c for c in previous}
    ours = {c.type for c in current}
    merged: list[dict[str, str]] = []
    for condition in current:
        before = old.get(condition.type)
        if (
            before is not None
            and before.get("status") == condition.status
            and before.get("lastTransitionTime")
        ):
            merged.append(condition.as_dict(str(before["lastTransitionTime"])))
        else:
            merged.append(condition.as_dict(now))
    merged.extend(dict(c) for t, c in old.items() if t not in ours)
    return merged


@dataclass(frozen=True)
class Transition:
    type: str
    before: str | None
    after: str
    reason: str
    message: str

    @property
    def bad(self) -> bool:
        """Transitions an administrator should look at: becoming Degraded or unavailable."""
        return (self.type == "Degraded" and self.after == "True") or (
            self.type == "Available" and self.after == "False"
        )


def transitions(previous: Sequence[Mapping[str, Any]], current: Sequence[Condition]) -> list[Transition]:
    """Changes of the generic conditions' status (one Kubernetes event each)."""
    old = {str(c.get("type")): str(c.get("status")) for c in previous}
    return [
        Transition(c.type, old.get(c.type), c.status, c.reason, c.message)
        for c in current
        if c.type in GENERIC and old.get(c.type) != c.status
    ]
