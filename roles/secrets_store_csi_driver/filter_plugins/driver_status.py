"""Filters for the secrets_store_csi_driver role: which driver DaemonSets are not Ready yet, and why."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any


def not_ready(daemonsets: Iterable[Mapping[str, Any]]) -> list[str]:
    """`<namespace>/<name>: <ready>/<desired> ready, <updated> updated` per DaemonSet not rolled out.

    A DaemonSet that schedules no pod at all counts as not ready: a driver that runs nowhere mounts nothing.
    """
    out = []
    for ds in daemonsets:
        meta = ds.get("metadata") or {}
        status = ds.get("status") or {}
        desired = int(status.get("desiredNumberScheduled") or 0)
        ready = int(status.get("numberReady") or 0)
        updated = int(status.get("updatedNumberScheduled") or 0)
        stale = int(status.get("observedGeneration") or 0) < int(meta.get("generation") or 0)
        if desired == 0 or ready != desired or updated != desired or stale:
            where = f"{meta.get('namespace', '')}/{meta.get('name', '')}"
            why = f"{ready}/{desired} ready, {updated} updated"
            out.append(f"{where}: {why}" + (", spec change not yet observed" if stale else ""))
    return out


class FilterModule:
    def filters(self) -> dict[str, Callable[..., Any]]:
        return {"secrets_store_csi_driver_not_ready": not_ready}
