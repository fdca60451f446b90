"""The whole product installed from its charts on the local cluster, for the tiers that judge it as a whole
(tests/security, tests/faults): the driver chart and the AWS and Vault provider charts pointed at the
emulators, plus helpers to run pods that mount secrets and to read what the components say.

`installed_stack()` holds the team's cluster-wide driver lock (/tmp/ssc-cluster-driver.lock) from install to
uninstall, so a tier that uses it as a session fixture owns the cluster's driver for the whole tier.

    from stack import installed_stack, secret_pod
    with installed_stack(cluster, driver_values={"enableSecretRotation": True}) as stack:
        cluster.apply(secret_pod("app", "my-spc"), namespace)
        stack.wait_ready(namespace, ["app"])
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubecluster import CACHE, REPO, Cluster

LOCK = "/tmp/ssc-cluster-driver.lock"
CHARTS = REPO / "charts"
IMAGE_TAG = os.environ.get("SSC_IMAGE_TAG", "0.1.0")
DRIVER_NAME = "secrets-store.csi.k8s.io"
APP_IMAGE = "localhost/ssc-base:bookworm"
# What the moto and OpenBao providers need to reach the emulators from a pod (through the node's address).
MOTO_PORT, OPENBAO_PORT = 15000, 18200


@contextlib.contextmanager
def cluster_driver_lock(timeout: float = 1800) -> Iterator[None]:
    """flock(2) on the team's lock file: one cluster-wide driver install (or disruptive fault) at a time."""
    with open(LOCK, "a") as f:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                assert time.monotonic() < deadline, f"{LOCK} held by someone else for {timeout:.0f}s"
                time.sleep(2)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def emulators() -> dict[str, str]:
    """Connection settings `make emulators-up` wrote (MOTO_URL, VAULT_ADDR, EMULATOR_HOST_IP, ...)."""
    path = CACHE / "emulators" / "env"
    if not path.exists():
        pytest.fail(f"{path} does not exist: run `make emulators-up`")
    env = {}
    for line in path.read_text().splitlines():
        if line.startswith("export ") and "=" in line:
            key, _, value = line[len("export ") :].partition("=")
            env[key] = value.strip().strip("'\"")
    return env


def secret_pod(
    name: str,
    spc: str,
    *,
    service_account: str = "default",
    mount_path: str = "/mnt/secrets",
    node_publish_secret: str | None = None,
    command: Sequence[str] = ("sleep", "3600"),
    labels: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A pod that mounts SecretProviderClass `spc` read-only at `mount_path` through the driver."""
    csi: dict[str, Any] = {
        "driver": DRIVER_NAME,
        "readOnly": True,
        "volumeAttributes": {"secretProviderClass": spc},
    }
    if node_publish_secret:
        csi["nodePublishSecretRef"] = {"name": node_publish_secret}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": labels or {"app": name}},
        "spec": {
            "serviceAccountName": service_account,
            "terminationGracePeriodSeconds": 1,
            "containers": [
                {
                    "name": "app",
                    "image": APP_IMAGE,
                    "imagePullPolicy": "Never",
                    "command": list(command),
                    "volumeMounts": [{"name": "secrets", "mountPath": mount_path, "readOnly": True}],
                }
            ],
            "volumes": [{"name": "secrets", "csi": csi}],
        },
    }


def secret_provider_class(
    name: str, provider: str, parameters: dict[str, Any], secret_objects: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """A SecretProviderClass; list-valued parameters (objects) become the YAML string providers read."""
    params = {k: v if isinstance(v, str) else yaml.safe_dump(v) for k, v in parameters.items()}
    spec: dict[str, Any] = {"provider": provider, "parameters": params}
    if secret_objects:
        spec["secretObjects"] = secret_objects
    return {
        "apiVersion": "secrets-store.csi.x-k8s.io/v1",
        "kind": "SecretProviderClass",
        "metadata": {"name": name},
        "spec": spec,
    }


@dataclass
class Stack:
    """The installed driver and providers: where they run and how to ask them things."""

    cluster: Cluster
    namespace: str
    releases: dict[str, str]  # "driver" / provider name -> helm release
    emulators: dict[str, str] = field(default_factory=dict)

    def pods(self, component: str) -> list[str]:
        """Names of the running pods of one release (`driver`, `aws`, `vault`)."""
        out: str = self.cluster.kubectl(
            "-n",
            self.namespace,
            "get",
            "pods",
            "-l",
            f"app.kubernetes.io/instance={self.releases[component]}",
            "-o",
            "jsonpath={.items[*].metadata.name}",
        ).stdout
        return out.split()

    def driver_pod(self) -> str:
        pods = self.pods("driver")
        assert len(pods) == 1, f"one driver pod on the one node, found {pods}"
        return pods[0]

    def logs(self, component: str, *, previous: bool = False) -> str:
        """Every container's log of a release's pods (the driver's registrar and probe included)."""
        chunks = []
        for pod in self.pods(component):
            args = ["-n", self.namespace, "logs", pod, "--all-containers", "--prefix"]
            if previous:
                args.append("--previous")
            chunks.append(self.cluster.kubectl(*args, check=False).stdout)
        return "\n".join(chunks)

    def wait_ready(self, namespace: str, pods: Sequence[str], timeout: float = 180) -> None:
        """Waits until every pod is Ready; fails with their events and the driver's last log lines."""
        deadline = time.monotonic() + timeout
        pending = list(pods)
        while pending and time.monotonic() < deadline:
            out = self.cluster.kubectl(
                "-n",
                namespace,
                "get",
                "pods",
                "-o",
                "jsonpath={range .items[*]}{.metadata.name}="
                "{.status.conditions[?(@.type=='Ready')].status}{'\\n'}{end}",
                check=False,
            ).stdout
            ready = {line.partition("=")[0] for line in out.splitlines() if line.endswith("=True")}
            pending = [p for p in pending if p not in ready]
            if pending:
                time.sleep(1)
        if pending:
            events = self.cluster.kubectl("-n", namespace, "get", "events", "-o", "wide", check=False).stdout
            pytest.fail(
                f"pods {pending} in {namespace} not Ready after {timeout:.0f}s\nevents:\n{events}\n"
                f"driver log tail:\n{self.logs('driver')[-4000:]}"
            )

    def read(self, namespace: str, pod: str, path: str) -> str:
        out: str = self.cluster.kubectl("-n", namespace, "exec", pod, "-c", "app", "--", "cat", path).stdout
        return out

    def events(self, namespace: str, involved: str | None = None) -> list[dict[str, Any]]:
        selector = ["--field-selector", f"involvedObject.name={involved}"] if involved else []
        items: list[dict[str, Any]] = self.cluster.kubectl_json("-n", namespace, "get", "events", *selector)[
            "items"
        ]
        return items


def _helm_install(
    cluster: Cluster, release: str, chart: Path, namespace: str, values: dict[str, Any]
) -> None:
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", prefix=f"{release}-") as f:
        yaml.safe_dump(values, f)
        f.flush()
        proc = cluster.helm(
            "upgrade",
            "--install",
            release,
            str(chart),
            "-n",
            namespace,
            "-f",
            f.name,
            "--wait",
            "--timeout",
            "5m",
            check=False,
            timeout=360,
        )
    if proc.returncode:
        pods = cluster.kubectl("-n", namespace, "get", "pods", "-o", "wide", check=False).stdout
        pytest.fail(f"helm install {release} failed: {proc.stderr.strip()}\n{pods}")


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _wait_no_foreign_driver(cluster: Cluster, timeout: float = 300) -> None:
    """Inside the lock, an existing CSIDriver means a driver was left behind: wait, then fail naming it."""
    deadline = time.monotonic() + timeout
    while cluster.kubectl("get", "csidriver", DRIVER_NAME, check=False).returncode == 0:
        if time.monotonic() > deadline:
            labels = cluster.kubectl(
                "get", "csidriver", DRIVER_NAME, "-o", "jsonpath={.metadata.labels}", check=False
            ).stdout
            pytest.fail(
                f"a Secrets Store CSI driver is already installed ({labels}) and stayed {timeout:.0f}s"
            )
        time.sleep(5)


@contextlib.contextmanager
def installed_stack(
    cluster: Cluster,
    *,
    providers: Sequence[str] = ("aws", "vault"),
    driver_values: dict[str, Any] | None = None,
    provider_values: dict[str, dict[str, Any]] | None = None,
    prefix: str = "stack",
) -> Iterator[Stack]:
    """Installs the driver chart (sync and token requests for both providers on) and the provider charts into
    a fresh namespace, holding the driver lock; uninstalls everything it installed on the way out."""
    env = emulators()
    host = env["EMULATOR_HOST_IP"]
    suffix = uuid.uuid4().hex[:6]
    namespace = f"{prefix}-system-{suffix}"
    releases = {"driver": f"{prefix}-driver-{suffix}", **{p: f"{prefix}-{p}-{suffix}" for p in providers}}
    base_driver = {
        "linux": {"image": {"tag": IMAGE_TAG}},
        "syncSecret": {"enabled": True},
        "tokenRequests": [{"audience": "sts.amazonaws.com"}, {"audience": "vault"}],
    }
    base_providers: dict[str, dict[str, Any]] = {
        "aws": {"aws": {"region": "us-east-1", "endpointUrl": f"http://{host}:{MOTO_PORT}"}},
        "vault": {"vault": {"address": f"http://{host}:{OPENBAO_PORT}"}},
        "azure": {},
    }
    with cluster_driver_lock():
        _wait_no_foreign_driver(cluster)
        crds_before = set(cluster.kubectl("get", "crd", "-o", "name").stdout.split())
        cluster.kubectl("create", "namespace", namespace)
        stack = Stack(cluster=cluster, namespace=namespace, releases=releases, emulators=env)
        try:
            _helm_install(
                cluster,
                releases["driver"],
                CHARTS / "secrets-store-csi-driver",
                namespace,
                _merge(base_driver, driver_values or {}),
            )
            for provider in providers:
                values = _merge(
                    {"image": {"tag": IMAGE_TAG}, **base_providers.get(provider, {})},
                    (provider_values or {}).get(provider, {}),
                )
                _helm_install(
                    cluster,
                    releases[provider],
                    CHARTS / f"secrets-store-csi-provider-{provider}",
                    namespace,
                    values,
                )
            yield stack
        finally:
            for release in reversed(list(releases.values())):
                cluster.helm("uninstall", release, "-n", namespace, "--wait", "--timeout", "3m", check=False)
            cluster.kubectl(
                "delete", "namespace", namespace, "--ignore-not-found", "--timeout=180s", check=False
            )
            # Leave the shared cluster as found: CRDs the driver chart brought go again.
            crds_now = set(cluster.kubectl("get", "crd", "-o", "name").stdout.split())
            for crd in crds_now - crds_before:
                if "secrets-store.csi.x-k8s.io" in crd:
                    cluster.kubectl("delete", crd, "--ignore-not-found", check=False)


def pod_uids_on_node(cluster: Cluster, namespace: str) -> dict[str, str]:
    """Pod name -> uid, to find a pod's volumes under the kubelet root."""
    items = cluster.kubectl_json("-n", namespace, "get", "pods")["items"]
    return {p["metadata"]["name"]: p["metadata"]["uid"] for p in items}


def csi_mounts(kubelet_root: str = "/var/lib/kubelet") -> list[str]:
    """Mount points of the driver's volumes on this node (the devcluster's node is this machine)."""
    mounts = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            point = line.split()[4]
            if point.startswith(f"{kubelet_root}/pods/") and "/kubernetes.io~csi/" in point:
                mounts.append(point)
    return mounts


def dump(obj: Any) -> str:
    return json.dumps(obj, indent=1, sort_keys=True)
