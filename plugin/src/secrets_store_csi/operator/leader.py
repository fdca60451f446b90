"""Leader election on a coordination.k8s.io Lease, so two operator replicas never act at once.

kopf's peering pauses every operator when peers share a priority, which suits "one of these may run", not
"exactly one of these replicas runs": replicas of one Deployment want a leader. This is the client-go
scheme: the holder renews the Lease every `retry` seconds; a candidate takes it over once it has seen the
same record unchanged for `duration` seconds (its own clock only: no clock-skew trap). A leader that cannot
renew within `deadline` seconds stops leading: the caller exits and the pod restarts as a candidate.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import time
from dataclasses import dataclass
from typing import Any

from secrets_store_csi.kube.errors import KubeError
from secrets_store_csi.kube.objects import ObjectClient

log = logging.getLogger(__name__)


def _micro_now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class LeaderElection:
    client: ObjectClient
    namespace: str
    name: str
    identity: str
    duration: int = 15
    deadline: float = 10.0
    retry: float = 2.0

    @property
    def _path(self) -> str:
        return f"/apis/coordination.k8s.io/v1/namespaces/{self.namespace}/leases"

    def _spec(self, transitions: int, acquired: str | None) -> dict[str, Any]:
        now = _micro_now()
        return {
            "holderIdentity": self.identity,
            "leaseDurationSeconds": self.duration,
            "acquireTime": acquired or now,
            "renewTime": now,
            "leaseTransitions": transitions,
        }

    async def _try(self, seen: dict[str, Any]) -> bool:
        """One attempt to acquire or renew; `seen` remembers the last record and when it changed."""
        try:
            lease = await self.client.request("GET", f"{self._path}/{self.name}")
        except KubeError as error:
            if error.status != 404:
                raise
            body = {
                "apiVersion": "coordination.k8s.io/v1",
                "kind": "Lease",
                "metadata": {"name": self.name, "namespace": self.namespace},
                "spec": self._spec(0, None),
            }
            try:
                await self.client.request("POST", self._path, body=body)
            except KubeError as conflict:
                if conflict.status == 409:
                    return False
                raise
            return True
        spec = lease.get("spec") or {}
        holder = spec.get("holderIdentity")
        record = (holder, spec.get("renewTime"))
        if record != seen.get("record"):
            seen["record"], seen["since"] = record, time.monotonic()
        if (
            holder
            and holder != self.identity
            and time.monotonic() - seen["since"] < spec.get("leaseDurationSeconds", self.duration)
        ):
            return False
        transitions = int(spec.get("leaseTransitions") or 0) + (0 if holder == self.identity else 1)
        lease["spec"] = self._spec(transitions, spec.get("acquireTime") if holder == self.identity else None)
        try:  # resourceVersion in the body makes this a compare-and-swap
            await self.client.request("PUT", f"{self._path}/{self.name}", body=lease)
        except KubeError as conflict:
            if conflict.status == 409:
                return False
            raise
        return True

    async def acquire(self) -> None:
        seen: dict[str, Any] = {}
        log.info("waiting to lead (Lease %s/%s) as %s", self.namespace, self.name, self.identity)
        while True:
            try:
                if await self._try(seen):
                    log.info("leading as %s", self.identity)
                    return
            except (KubeError, OSError) as error:
                log.warning("leader election: %s", error)
            await asyncio.sleep(self.retry)

    async def hold(self) -> None:
        """Renew until renewing fails for longer than the deadline; then return (leadership lost)."""
        seen: dict[str, Any] = {}
        last = time.monotonic()
        while time.monotonic() - last < self.deadline:
            await asyncio.sleep(self.retry)
            try:
                if await self._try(seen):
                    last = time.monotonic()
                else:
                    log.error("another replica took the Lease %s/%s", self.namespace, self.name)
                    return
            except (KubeError, OSError) as error:
                log.warning("leader election: renewing failed: %s", error)
        log.error("could not renew the Lease %s/%s for %ss", self.namespace, self.name, self.deadline)

    async def release(self) -> None:
        """Give the Lease up on a clean exit, so the next replica need not wait it out."""
        try:
            lease = await self.client.request("GET", f"{self._path}/{self.name}")
            if (lease.get("spec") or {}).get("holderIdentity") == self.identity:
                lease["spec"]["holderIdentity"] = None
                lease["spec"]["leaseDurationSeconds"] = 1
                await self.client.request("PUT", f"{self._path}/{self.name}", body=lease)
        except (KubeError, OSError) as error:
            log.warning("could not release the Lease: %s", error)
