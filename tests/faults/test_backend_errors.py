"""Fault 3: the backend fails while rotation is on (the driver polls every ROTATION_POLL).

- AWS: the tier's proxy in front of moto answers every call with HTTP 500 (InternalFailure), as an AWS
  endpoint does when it fails; meanwhile the secret gets a new value in moto.
- Vault: the tier's private OpenBao is sealed with its real `sys/seal` API (503 "Vault is sealed").
- Azure: not run; Lowkey Vault (the Key Vault emulator) does not run on this machine's Java.

In each case the mounted file stays at the last good value (never emptied or half-written), the failure
is counted in the driver's `rotation_reconcile_error_total` and reported as a SecretRotationFailed event
on the pod (once: repeats of the same failure within the driver's event window are not recorded again),
and once the backend is back the next poll brings the new value without any intervention."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from fault_backends import FaultProxy, PrivateBao
from fault_node import metric_sum, scrape
from fault_pods import (
    app_pod,
    aws_spc,
    driver_metrics_url,
    figure,
    pod_events,
    vault_spc,
    wait_until,
)
from kubecluster import Cluster
from stack import Stack

pytestmark = [pytest.mark.cluster, pytest.mark.emulators]


@dataclass
class Backend:
    provider: str
    spc: dict[str, Any]
    file: str
    write: Callable[[str], None]  # new value into the backend (called while it is healthy for vault)
    broken: Callable[[], AbstractContextManager[None]]
    writes_while_broken: bool  # can the new value be written while the provider cannot read it?


def _aws(moto: Any, proxy: FaultProxy) -> Backend:
    name = f"faults-rot-{uuid.uuid4().hex[:8]}"
    moto.create_secret(Name=name, SecretString="v1")
    return Backend(
        provider="aws",
        spc=aws_spc("rot", [name]),
        file=name,
        write=lambda v: moto.put_secret_value(SecretId=name, SecretString=v),
        broken=proxy.failing,
        writes_while_broken=True,
    )


def _vault(bao: PrivateBao) -> Backend:
    path = f"faults/rot-{uuid.uuid4().hex[:8]}"
    bao.put(path, {"value": "v1"})

    @contextmanager
    def sealed() -> Iterator[None]:
        bao.seal()
        try:
            yield
        finally:
            bao.unseal()

    return Backend(
        provider="vault",
        spc=vault_spc("rot", path, "value"),
        file="value",
        write=lambda v: bao.put(path, {"value": v}),
        broken=sealed,
        writes_while_broken=False,
    )


@pytest.mark.parametrize("kind", ["aws-5xx", "vault-sealed"])
def test_backend_failure_during_rotation_keeps_the_last_good_content_counts_reports_and_resumes(
    kind: str,
    cluster: Cluster,
    stack: Stack,
    app_ns: str,
    moto: Any,
    fault_proxy: FaultProxy,
    private_bao: PrivateBao,
) -> None:
    backend = _aws(moto, fault_proxy) if kind == "aws-5xx" else _vault(private_bao)
    cluster.apply(backend.spc, app_ns)
    cluster.apply(app_pod("rot", "rot"), app_ns)
    stack.wait_ready(app_ns, ["rot"])
    path = f"/mnt/secrets/{backend.file}"
    assert stack.read(app_ns, "rot", path) == "v1"
    url = driver_metrics_url(stack)
    errors_before = metric_sum(scrape(url), "rotation_reconcile_error_total", provider=backend.provider)

    with backend.broken():
        broke = time.monotonic()
        if backend.writes_while_broken:
            backend.write("v2")
        counted = wait_until(
            "rotation_reconcile_error_total rising",
            lambda: (
                metric_sum(
                    scrape(url),
                    "rotation_reconcile_error_total",
                    provider=backend.provider,
                )
                > errors_before
            ),
            timeout=120,
            interval=1,
        )
        assert counted
        detected = time.monotonic() - broke

        def failure_event() -> dict[str, Any] | None:
            events: list[dict[str, Any]] = pod_events(cluster, app_ns, "rot")
            for ev in events:
                if ev.get("reason") == "SecretRotationFailed":
                    return ev
            return None

        event = wait_until(
            "a SecretRotationFailed event on the pod",
            failure_event,
            timeout=60,
            interval=1,
        )
        message = str(event.get("message", ""))
        assert f"'{backend.provider}'" in message and "rot" in message, f"event message: {message}"
        # Several more polls fail; the mounted file keeps the last good value all along.
        errors_during = errors_before
        while errors_during < errors_before + 3:
            assert stack.read(app_ns, "rot", path) == "v1", "content changed while the backend was failing"
            assert time.monotonic() - broke < 120, "fewer than 3 failed rotation polls in 120s"
            time.sleep(1)
            errors_during = metric_sum(
                scrape(url), "rotation_reconcile_error_total", provider=backend.provider
            )
        # Reported, not flooded: the same failure is one Event per window, not one per poll.
        failed_events = [
            ev for ev in pod_events(cluster, app_ns, "rot") if ev.get("reason") == "SecretRotationFailed"
        ]
        assert len(failed_events) == 1, [ev.get("message") for ev in failed_events]
    restored = time.monotonic()
    if not backend.writes_while_broken:
        backend.write("v2")
    wait_until(
        "the new value mounted after the backend came back",
        lambda: stack.read(app_ns, "rot", path) == "v2",
        timeout=120,
        interval=0.5,
    )
    recovered = time.monotonic() - restored
    restarts = cluster.kubectl(
        "-n",
        app_ns,
        "get",
        "pod",
        "rot",
        "-o",
        "jsonpath={.status.containerStatuses[0].restartCount}",
    ).stdout
    assert restarts == "0"
    figure(
        f"3 backend errors ({kind})",
        "failure counted in metrics after",
        f"{detected:.1f}s",
    )
    figure(
        f"3 backend errors ({kind})",
        "rotation errors counted while broken",
        f"{errors_during - errors_before:.0f}",
    )
    figure(
        f"3 backend errors ({kind})",
        "backend back -> new value mounted (recovery)",
        f"{recovered:.1f}s",
    )
    print(f"\nSecretRotationFailed event: {message}")
