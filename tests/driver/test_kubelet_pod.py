"""A real pod mounts secrets through the real kubelet of the local cluster.

The driver runs on the host (as root, like the DaemonSet would with hostPID-free privileged access),
registered with the kubelet by the real node-driver-registrar; the CSIDriver object is created for the
test and removed after it, under the team's cluster-driver lock. The provider is the test provider
process (upstream's provider API stubs) in a temporary directory.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.cluster

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "plugin" / "tests" / "driver"))
from cluster_env import cluster_lock, crds_installed, kubectl, require_cluster  # noqa: E402

CACHE = Path(os.environ.get("CACHE", Path.home() / ".cache" / "secrets-store-csi"))
DRIVER = "secrets-store.csi.k8s.io"
REGISTRATION_DIR = Path("/var/lib/kubelet/plugins_registry")
IMAGE = os.environ.get("SSC_TEST_IMAGE", "localhost/ssc-base:bookworm")


def node_name() -> str:
    out: subprocess.CompletedProcess[str] = kubectl(
        "get", "nodes", "-o", "jsonpath={.items[0].metadata.name}"
    )
    return out.stdout.strip()


def wait(cond: Any, what: str, limit: float = 90) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture(scope="module")
def host_driver() -> Iterator[Path]:
    require_cluster()
    for binary in ("ssc-testprovider", "csi-node-driver-registrar"):
        if not (CACHE / "bin" / binary).exists():
            pytest.fail(f"{CACHE}/bin/{binary} missing (make testprovider cluster-build)")
    with cluster_lock(), crds_installed():
        if kubectl("get", "csidriver", DRIVER, check=False).returncode == 0:
            pytest.fail(f"CSIDriver {DRIVER} is installed by someone else; it must be gone under the lock")
        root = Path(tempfile.mkdtemp(prefix="ssc-kubelet-"))
        objects, providers = root / "objects", root / "providers"
        objects.mkdir()
        providers.mkdir()
        (objects / "pw").write_text("from-the-provider")
        socket = root / "csi.sock"
        procs: list[subprocess.Popen[bytes]] = []

        def start(args: list[str], log: str) -> None:
            fh = open(root / log, "ab")  # noqa: SIM115
            procs.append(subprocess.Popen(args, stdout=fh, stderr=fh))

        start(
            [
                str(CACHE / "bin" / "ssc-testprovider"),
                "--endpoint",
                str(providers / "testprovider.sock"),
                "--root-dir",
                str(objects),
            ],
            "provider.log",
        )
        start(
            [
                sys.executable,
                "-m",
                "secrets_store_csi.cli",
                "driver",
                "--endpoint",
                f"unix://{socket}",
                "--nodeid",
                node_name(),
                "--provider-volume",
                str(providers),
                "--additional-provider-volume-paths",
                "",
                "--metrics-addr",
                "",
                "--kubeconfig",
                os.environ.get("SSC_KUBECONFIG", "/var/lib/ssc-devcluster/admin.kubeconfig"),
                "--enable-secret-rotation",
                "--rotation-poll-interval",
                "5s",
            ],
            "driver.log",
        )
        wait(socket.exists, "driver socket", 20)
        start(
            [
                str(CACHE / "bin" / "csi-node-driver-registrar"),
                f"--csi-address={socket}",
                f"--kubelet-registration-path={socket}",
                f"--plugin-registration-path={REGISTRATION_DIR}",
            ],
            "registrar.log",
        )
        kubectl(
            "apply",
            "-f",
            "-",
            stdin=json.dumps(
                {
                    "apiVersion": "storage.k8s.io/v1",
                    "kind": "CSIDriver",
                    "metadata": {"name": DRIVER},
                    "spec": {
                        "attachRequired": False,
                        "podInfoOnMount": True,
                        "volumeLifecycleModes": ["Ephemeral"],
                        "requiresRepublish": True,
                        "tokenRequests": [{"audience": "ssc-test"}],
                    },
                }
            ),
        )
        node = node_name()
        wait(lambda: DRIVER in kubectl("get", "csinode", node, "-o", "json").stdout, "CSINode registration")
        try:
            yield root
        finally:
            kubectl("delete", "csidriver", DRIVER, "--wait=true", check=False)
            for p in reversed(procs):
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(30)
                except subprocess.TimeoutExpired:
                    p.kill()
            (REGISTRATION_DIR / f"{DRIVER}-reg.sock").unlink(missing_ok=True)


def test_a_pod_reads_a_secret_mounted_through_kubelet_and_unmounts_clean(host_driver: Path) -> None:
    ns = f"driver-{uuid.uuid4().hex[:8]}"
    kubectl("create", "namespace", ns)
    try:
        kubectl(
            "apply",
            "-f",
            "-",
            stdin=json.dumps(
                {
                    "apiVersion": "secrets-store.csi.x-k8s.io/v1",
                    "kind": "SecretProviderClass",
                    "metadata": {"name": "app", "namespace": ns},
                    "spec": {
                        "provider": "testprovider",
                        "parameters": {"objects": json.dumps({"password": "pw"}), "echoIdentity": "true"},
                    },
                }
            ),
        )
        kubectl(
            "apply",
            "-f",
            "-",
            stdin=json.dumps(
                {
                    "apiVersion": "v1",
                    "kind": "Pod",
                    "metadata": {"name": "reader", "namespace": ns},
                    "spec": {
                        "terminationGracePeriodSeconds": 1,
                        "containers": [
                            {
                                "name": "app",
                                "image": IMAGE,
                                "imagePullPolicy": "Never",
                                "command": [
                                    "sh",
                                    "-c",
                                    "cat /mnt/secrets/password; echo; cat /mnt/secrets/identity; "
                                    "echo; sleep 3600",
                                ],
                                "volumeMounts": [
                                    {"name": "secrets", "mountPath": "/mnt/secrets", "readOnly": True}
                                ],
                            }
                        ],
                        "volumes": [
                            {
                                "name": "secrets",
                                "csi": {
                                    "driver": DRIVER,
                                    "readOnly": True,
                                    "volumeAttributes": {"secretProviderClass": "app"},
                                },
                            }
                        ],
                    },
                }
            ),
        )
        kubectl("wait", "-n", ns, "--for=condition=Ready", "pod/reader", "--timeout=120s")
        logs = kubectl("logs", "-n", ns, "reader").stdout
        assert "from-the-provider" in logs
        assert f"namespace={ns} serviceAccount=default" in logs
        uid = kubectl("get", "pod", "-n", ns, "reader", "-o", "jsonpath={.metadata.uid}").stdout.strip()
        status = json.loads(
            kubectl("get", "secretproviderclasspodstatus", "-n", ns, f"reader-{ns}-app", "-o", "json").stdout
        )
        target = status["status"]["targetPath"]
        assert uid in target
        mounts = Path("/proc/self/mountinfo").read_text()
        assert f" {target} " in mounts
        kubectl("delete", "pod", "-n", ns, "reader", "--wait=true", "--timeout=60s")
        wait(lambda: f" {target} " not in Path("/proc/self/mountinfo").read_text(), "unmount", 60)
        assert not os.path.exists(target)
    finally:
        kubectl("delete", "namespace", ns, "--wait=false", check=False)
