"""Fault 2: the provider is down when a pod mounts a secret.

The AWS provider's DaemonSet is scheduled away (a nodeSelector no node has), so its pod and socket go. A
new pod stays ContainerCreating with a FailedMount event that names the provider and the socket the
driver looked for; once the provider is back the kubelet's retries mount the volume without anyone
touching the pod."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import pytest
from fault_pods import app_pod, aws_spc, figure, pod_events, wait_until
from kubecluster import Cluster
from stack import Stack

pytestmark = [pytest.mark.cluster, pytest.mark.emulators]


def _provider_pods(cluster: Cluster, stack: Stack) -> list[str]:
    pods: list[str] = stack.pods("aws")
    return pods


def test_pod_waits_with_an_event_naming_provider_and_socket_and_starts_when_the_provider_returns(
    cluster: Cluster, stack: Stack, app_ns: str, moto: object
) -> None:
    secret = f"faults-down-{uuid.uuid4().hex[:8]}"
    value = f"after-provider-return-{uuid.uuid4().hex}"
    moto.create_secret(Name=secret, SecretString=value)  # type: ignore[attr-defined]
    cluster.apply(aws_spc("down", [secret]), app_ns)
    ds = cluster.kubectl_json(
        "-n",
        stack.namespace,
        "get",
        "daemonset",
        "-l",
        f"app.kubernetes.io/instance={stack.releases['aws']}",
    )["items"]
    assert len(ds) == 1, f"one aws provider DaemonSet expected, found {len(ds)}"
    ds_name = ds[0]["metadata"]["name"]
    selector = ds[0]["spec"]["template"]["spec"].get("nodeSelector") or {}

    def patch_selector(node_selector: dict[str, str | None]) -> None:
        patch = {"spec": {"template": {"spec": {"nodeSelector": node_selector}}}}
        cluster.kubectl(
            "-n",
            stack.namespace,
            "patch",
            "daemonset",
            ds_name,
            "--type=strategic",
            "-p",
            json.dumps(patch),
        )

    patch_selector({**selector, "ssc-faults/no-such-node": "true"})
    try:
        wait_until(
            "aws provider pod gone",
            lambda: not _provider_pods(cluster, stack) and "gone",
            timeout=120,
        )
        down_at = time.monotonic()
        cluster.apply(app_pod("waits", "down"), app_ns)

        def failed_mount() -> dict[str, object] | None:
            events: list[dict[str, Any]] = pod_events(cluster, app_ns, "waits")
            for ev in events:
                if ev.get("reason") == "FailedMount":
                    return ev
            return None

        event = wait_until("a FailedMount event on the pod", failed_mount, timeout=120, interval=1)
        message = str(event.get("message", ""))
        assert "'aws'" in message and "aws.sock" in message, (
            f"event does not name provider and socket: {message}"
        )
        pod = cluster.kubectl_json("-n", app_ns, "get", "pod", "waits")
        assert pod["status"]["phase"] == "Pending"
        waiting = pod["status"]["containerStatuses"][0]["state"].get("waiting", {})
        assert waiting.get("reason") == "ContainerCreating", f"pod state: {pod['status']}"
        figure(
            "2 provider down",
            "FailedMount event after pod created",
            f"{time.monotonic() - down_at:.1f}s",
        )
    finally:
        # A strategic merge patch merges maps: the added key goes only when set to null.
        patch_selector({**selector, "ssc-faults/no-such-node": None})
    back = time.monotonic()
    provider_pods = wait_until("an aws provider pod scheduled again", lambda: stack.pods("aws"), timeout=60)
    stack.wait_ready(stack.namespace, provider_pods, timeout=120)
    provider_ready = time.monotonic() - back
    stack.wait_ready(app_ns, ["waits"], timeout=240)
    recovered = time.monotonic() - back
    assert stack.read(app_ns, "waits", f"/mnt/secrets/{secret}") == value
    restarts = cluster.kubectl(
        "-n",
        app_ns,
        "get",
        "pod",
        "waits",
        "-o",
        "jsonpath={.status.containerStatuses[0].restartCount}",
    ).stdout
    assert restarts == "0"
    figure("2 provider down", "provider back -> provider Ready", f"{provider_ready:.1f}s")
    figure(
        "2 provider down",
        "provider back -> waiting pod Ready (recovery)",
        f"{recovered:.1f}s",
    )
    print(f"\nFailedMount event: {message}")
