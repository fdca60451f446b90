"""The operator on the host against the devcluster: lock, CRD, namespace, processes, waits, cleanup."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import yaml
from operator_env import (
    DRIVER_CHART,
    HELM,
    KUBECONFIG,
    OPERATOR_CHART,
    ROOT,
    helm_template,
    kubectl,
    kubectl_json,
)

LOCK = "/tmp/ssc-cluster-driver.lock"
CCD = "secrets-store.csi.k8s.io"
OWNER = "app.kubernetes.io/managed-by=secrets-store-csi-driver-operator"
T = TypeVar("T")


def wait_for(what: str, probe: Callable[[], T | None], timeout: float = 120, interval: float = 0.5) -> T:
    """Poll until `probe` returns something truthy; a failing kubectl counts as "not yet"."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            result = probe()
        except subprocess.CalledProcessError as error:
            last = error.stderr
        else:
            if result:
                return result
            last = result
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


@contextlib.contextmanager
def driver_lock() -> Iterator[None]:
    """The team's lock for cluster-wide driver installs (same flock(2) as `flock /tmp/ssc-...lock`)."""
    with open(LOCK, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


@contextlib.contextmanager
def driver_lock_on_a_clean_cluster(timeout: float = 900) -> Iterator[None]:
    """The driver lock, taken when no operator-owned object is installed (another area's run may still be
    uninstalling what it installed: let go of the lock and come back)."""
    deadline = time.monotonic() + timeout
    while True:
        with driver_lock():
            found = leftovers()
            if not found:
                yield
                return
        if time.monotonic() > deadline:
            raise AssertionError(f"operator-owned objects stayed installed for {timeout}s: {found}")
        time.sleep(15)


def apply(obj: dict[str, Any] | list[dict[str, Any]]) -> None:
    docs = obj if isinstance(obj, list) else [obj]
    kubectl(
        "apply",
        "--server-side",
        "--force-conflicts",
        "--field-manager=operator-tests",
        "-f",
        "-",
        input=yaml.safe_dump_all(docs),
    )


def ccd_crd_installed_by_us() -> bool:
    """Install the ClusterCSIDriver CRD from the operator chart unless the cluster has one."""
    if kubectl("get", "crd", "clustercsidrivers.operator.openshift.io", check=False).returncode == 0:
        return False
    [crd] = [o for o in helm_template(OPERATOR_CHART) if o["kind"] == "CustomResourceDefinition"]
    apply(crd)
    kubectl(
        "wait",
        "--for=condition=Established",
        "crd/clustercsidrivers.operator.openshift.io",
        "--timeout=60s",
    )
    return True


class OperatorProcess:
    """`secrets-store-csi operator` on the host, logging to a file the tests can read."""

    def __init__(self, namespace: str, *extra: str) -> None:
        self.namespace = namespace
        self.extra = extra
        self.log = Path(tempfile.mkstemp(prefix="ssc-operator-", suffix=".log")[1])
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> OperatorProcess:
        env = {**os.environ, "KUBECONFIG": KUBECONFIG}
        with open(self.log, "ab") as out:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "secrets_store_csi.cli",
                    "operator",
                    "--namespace",
                    self.namespace,
                    "--chart",
                    str(DRIVER_CHART),
                    "--helm",
                    HELM,
                    "--resync",
                    "5",
                    *self.extra,
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=ROOT,
            )
        return self

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def text(self) -> str:
        return self.log.read_text(errors="replace")


def new_namespace(prefix: str) -> str:
    name = f"{prefix}-{uuid.uuid4().hex[:6]}"
    kubectl("create", "namespace", name)
    return name


def ccd() -> dict[str, Any] | None:
    result = kubectl("get", "clustercsidriver", CCD, "-o", "json", check=False)
    return json.loads(result.stdout) if result.returncode == 0 else None


def condition(obj: dict[str, Any] | None, kind: str) -> dict[str, Any]:
    for c in ((obj or {}).get("status") or {}).get("conditions") or []:
        if c["type"] == kind:
            return dict(c)
    return {}


def owned(kind: str, namespace: str | None = None) -> list[dict[str, Any]]:
    where = ["-n", namespace] if namespace else []
    items: list[dict[str, Any]] = kubectl_json("get", kind, *where, "-l", OWNER)["items"]
    return items


def daemonset(namespace: str) -> dict[str, Any] | None:
    items = owned("daemonsets", namespace)
    return items[0] if items else None


def daemonset_ready(namespace: str) -> dict[str, Any] | None:
    ds = daemonset(namespace)
    if ds is None:
        return None
    status = ds.get("status") or {}
    desired = status.get("desiredNumberScheduled", 0)
    rolled = (
        status.get("observedGeneration") == ds["metadata"]["generation"]
        and desired > 0
        and status.get("numberReady") == desired
        and status.get("updatedNumberScheduled") == desired
        and status.get("numberAvailable") == desired
    )
    if not rolled:
        return None
    # The status counts can read "all available" for a moment while an old pod is already being deleted
    # (an edit rolled out and then reverted to the same template): look at the pods themselves.
    selector = ",".join(f"{k}={v}" for k, v in ds["spec"]["selector"]["matchLabels"].items())
    pods = kubectl_json("get", "pods", "-n", namespace, "-l", selector)["items"]
    settled = len(pods) == desired and all(
        pod_ready(pod) and not pod["metadata"].get("deletionTimestamp") for pod in pods
    )
    return ds if settled else None


def pod_ready(pod: dict[str, Any]) -> bool:
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def driver_args(ds: dict[str, Any]) -> list[str]:
    for container in ds["spec"]["template"]["spec"]["containers"]:
        if container["name"] not in ("node-driver-registrar", "liveness-probe"):
            return list(container.get("args") or [])
    raise AssertionError("no driver container")


def delete_ccd_and_wait(timeout: float = 180) -> None:
    kubectl("delete", "clustercsidriver", CCD, "--ignore-not-found", "--wait=false")
    wait_for("the ClusterCSIDriver to be gone", lambda: ccd() is None, timeout)


def leftovers() -> list[str]:
    found = []
    for kind in (
        "daemonsets",
        "csidrivers",
        "clusterroles",
        "clusterrolebindings",
        "serviceaccounts",
        "services",
    ):
        for item in kubectl_json("get", kind, "-A", "-l", OWNER)["items"]:
            found.append(f"{kind}/{item['metadata'].get('namespace', '')}/{item['metadata']['name']}")
    return found


def remove_owned_crds() -> None:
    """The SecretProviderClass CRDs the operator installed: kept by design, removed by the test's cleanup."""
    for item in kubectl_json("get", "crd", "-l", OWNER)["items"]:
        kubectl("delete", "crd", item["metadata"]["name"], "--ignore-not-found")


def events_for_ccd(namespace: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = kubectl_json(
        "get",
        "events",
        "-n",
        namespace,
        "--field-selector",
        f"involvedObject.name={CCD}",
    )["items"]
    return items
