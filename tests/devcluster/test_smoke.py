"""The devcluster works for what the project needs: local images, service-account tokens reaching
the apiserver through the `kubernetes` Service, Services between pods, Bidirectional mounts in a
privileged pod, and Helm charts with a kubeVersion constraint."""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from kubecluster import Cluster

pytestmark = pytest.mark.cluster

BASE_IMAGE = "localhost/ssc-base:bookworm"
K8S_VERSION = next(
    line.split("=", 1)[1].strip()
    for line in (Path(__file__).resolve().parents[2] / "hack/devcluster/versions.env")
    .read_text()
    .splitlines()
    if line.startswith("K8S_VERSION=")
)


def python_pod(name: str, script: str, **spec: Any) -> dict[str, Any]:
    container: dict[str, Any] = {
        "name": "main",
        "image": BASE_IMAGE,
        "imagePullPolicy": "Never",
        "command": ["python3", "-c", script],
    }
    container.update(spec.pop("container", {}))
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {
            "restartPolicy": "Never",
            "terminationGracePeriodSeconds": 1,
            "containers": [container],
            **spec,
        },
    }


def run_to_completion(cluster: Cluster, namespace: str, pod: dict[str, Any]) -> str:
    """Runs a pod that exits; returns its log; fails with the log when it did not succeed."""
    cluster.apply(pod, namespace)
    name = pod["metadata"]["name"]
    phase = cluster.wait_pod_phase(namespace, name, {"Succeeded", "Failed"})
    logs: str = cluster.kubectl("-n", namespace, "logs", name).stdout
    assert phase == "Succeeded", f"pod {name} failed:\n{logs}"
    return logs


def test_server_reports_the_pinned_kubernetes_version(cluster: Cluster) -> None:
    version = json.loads(cluster.kubectl("version", "-o", "json").stdout)
    assert version["serverVersion"]["gitVersion"] == K8S_VERSION
    assert version["clientVersion"]["gitVersion"] == K8S_VERSION


def test_pod_reaches_apiserver_through_kubernetes_service_with_projected_token(
    cluster: Cluster, namespace: str
) -> None:
    cluster_ip = cluster.kubectl(
        "-n",
        "default",
        "get",
        "service",
        "kubernetes",
        "-o",
        "jsonpath={.spec.clusterIP}",
    ).stdout
    script = r"""
import base64, json, os, ssl, urllib.request
sa = "/var/run/secrets/kubernetes.io/serviceaccount"
host, port = os.environ["KUBERNETES_SERVICE_HOST"], os.environ["KUBERNETES_SERVICE_PORT"]
ctx = ssl.create_default_context(cafile=sa + "/ca.crt")
def review(token):
    body = json.dumps({"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}).encode()
    req = urllib.request.Request(
        f"https://{host}:{port}/apis/authentication.k8s.io/v1/selfsubjectreviews", data=body, method="POST",
        headers={"Authorization": "Bearer " + token, "Content-Type": "application/json"})
    return json.load(urllib.request.urlopen(req, context=ctx, timeout=10))["status"]["userInfo"]["username"]
audience_token = open("/var/run/secrets/tokens/ssc").read()
claims = json.loads(base64.urlsafe_b64decode(audience_token.split(".")[1] + "=="))
print(json.dumps({"host": host, "default_user": review(open(sa + "/token").read()), "aud": claims["aud"],
                  "exp_minus_iat": claims["exp"] - claims["iat"]}))
"""
    pod = python_pod(
        "apiclient",
        script,
        container={"volumeMounts": [{"name": "tokens", "mountPath": "/var/run/secrets/tokens"}]},
        volumes=[
            {
                "name": "tokens",
                "projected": {
                    "sources": [
                        {
                            "serviceAccountToken": {
                                "path": "ssc",
                                "audience": "ssc-devcluster-test",
                                "expirationSeconds": 3600,
                            }
                        }
                    ]
                },
            }
        ],
    )
    out = json.loads(run_to_completion(cluster, namespace, pod).strip().splitlines()[-1])
    assert out["host"] == cluster_ip
    assert out["default_user"] == f"system:serviceaccount:{namespace}:default"
    assert out["aud"] == ["ssc-devcluster-test"]
    assert out["exp_minus_iat"] == 3600


def test_pod_reaches_another_pod_through_a_service(cluster: Cluster, namespace: str) -> None:
    marker = uuid.uuid4().hex
    server_script = f"""
import http.server
class Marker(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"{marker}")
http.server.HTTPServer(("", 8080), Marker).serve_forever()
"""
    server = python_pod(
        "server",
        server_script,
        container={
            "ports": [{"containerPort": 8080}],
            "readinessProbe": {"tcpSocket": {"port": 8080}, "periodSeconds": 1},
        },
    )
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "server"},
        "spec": {
            "selector": {"app": "server"},
            "ports": [{"port": 80, "targetPort": 8080}],
        },
    }
    cluster.apply([server, service], namespace)
    cluster.kubectl("-n", namespace, "wait", "--for=condition=Ready", "pod/server", "--timeout=120s")
    service_ip = cluster.kubectl(
        "-n", namespace, "get", "service", "server", "-o", "jsonpath={.spec.clusterIP}"
    ).stdout
    # A Ready pod reaches kube-proxy's rules a moment later (EndpointSlice update, then an iptables
    # sync at most once a second); until then the virtual IP rejects connections. The client retries
    # refusals for 30 s, as any client of a freshly created Service must; a Service that never
    # works still fails the test.
    client_script = """
import os, sys, time, urllib.error, urllib.request
host = os.environ["SERVER_SERVICE_HOST"]
deadline = time.monotonic() + 30
while True:
    try:
        body = urllib.request.urlopen("http://" + host + ":80/", timeout=10).read().decode()
        break
    except urllib.error.URLError as err:
        if not isinstance(err.reason, ConnectionRefusedError) or time.monotonic() > deadline:
            raise
        print("refused, retrying", file=sys.stderr, flush=True)
        time.sleep(0.5)
print(host, body)
"""
    client = python_pod("client", client_script)
    # kubectl logs interleaves the retries written to stderr; the answer is the last line.
    host, body = run_to_completion(cluster, namespace, client).splitlines()[-1].split()
    assert host == service_ip, "the client must go through the Service's virtual IP"
    assert body == marker


def test_privileged_pod_mount_propagates_to_the_host_through_bidirectional_hostpath(
    cluster: Cluster, namespace: str
) -> None:
    host_dir = Path(f"/var/lib/kubelet/ssc-devcluster-test/{namespace}")
    marker = uuid.uuid4().hex
    script = (
        "import pathlib, subprocess, time; "
        "sub = pathlib.Path('/mnt/host/sub'); sub.mkdir(exist_ok=True); "
        "subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=1m', 'ssc-test', str(sub)], check=True); "
        f"(sub / 'marker').write_text('{marker}'); print('mounted', flush=True); time.sleep(3600)"
    )
    pod = python_pod(
        "mounter",
        script,
        container={
            "securityContext": {"privileged": True},
            "volumeMounts": [
                {
                    "name": "host",
                    "mountPath": "/mnt/host",
                    "mountPropagation": "Bidirectional",
                }
            ],
        },
        volumes=[
            {
                "name": "host",
                "hostPath": {"path": str(host_dir), "type": "DirectoryOrCreate"},
            }
        ],
    )
    try:
        cluster.apply(pod, namespace)
        cluster.wait_pod_phase(namespace, "mounter", {"Running"})
        logs = ""
        for _ in range(60):
            logs = cluster.kubectl("-n", namespace, "logs", "mounter", check=False).stdout
            if "mounted" in logs:
                break
            time.sleep(1)
        assert "mounted" in logs, logs
        fstype = subprocess.run(
            ["findmnt", "-n", "-o", "FSTYPE", str(host_dir / "sub")],
            check=False,
            capture_output=True,
            text=True,
        ).stdout.strip()
        assert fstype == "tmpfs", "the pod's mount did not propagate to the host"
        assert (host_dir / "sub" / "marker").read_text() == marker
    finally:
        cluster.kubectl(
            "-n",
            namespace,
            "delete",
            "pod",
            "mounter",
            "--wait=true",
            "--timeout=60s",
            check=False,
        )
        subprocess.run(["umount", str(host_dir / "sub")], check=False, capture_output=True)
        subprocess.run(["rm", "-rf", "--one-file-system", str(host_dir)], check=False)


def write_chart(root: Path, name: str, kube_version: str) -> Path:
    chart = root / name
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text(
        f'apiVersion: v2\nname: {name}\nversion: 0.1.0\nkubeVersion: "{kube_version}"\n'
    )
    (chart / "templates" / "configmap.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\n"
        "data:\n  kubeVersion: {{ .Capabilities.KubeVersion.Version | quote }}\n"
    )
    return chart


def test_helm_installs_a_chart_whose_kube_version_constraint_matches(
    cluster: Cluster, namespace: str, tmp_path: Path
) -> None:
    minor = K8S_VERSION.split(".")[1]
    chart = write_chart(tmp_path, "fits", f">=1.{minor}.0-0 <1.{int(minor) + 1}.0-0")
    cluster.helm("install", "fits", str(chart), "-n", namespace, "--wait", "--timeout", "2m")
    data = cluster.kubectl_json("-n", namespace, "get", "configmap", "fits")["data"]
    assert data["kubeVersion"] == K8S_VERSION
    cluster.helm("uninstall", "fits", "-n", namespace)


def test_helm_refuses_a_chart_whose_kube_version_constraint_excludes_the_cluster(
    cluster: Cluster, namespace: str, tmp_path: Path
) -> None:
    chart = write_chart(tmp_path, "tooold", "<1.20.0-0")
    res = cluster.helm("install", "tooold", str(chart), "-n", namespace, check=False)
    assert res.returncode != 0
    assert "kubeVersion" in res.stderr or "incompatible" in res.stderr.lower(), res.stderr


def test_pod_resolves_service_names_through_cluster_dns(cluster: Cluster, namespace: str) -> None:
    kubernetes_ip = cluster.kubectl(
        "-n", "default", "get", "service", "kubernetes", "-o", "jsonpath={.spec.clusterIP}"
    ).stdout
    client = python_pod(
        "resolver",
        "import socket; print(socket.gethostbyname('kubernetes.default.svc.cluster.local'), "
        "socket.gethostbyname('kubernetes.default'))",
    )
    assert run_to_completion(cluster, namespace, client).split() == [kubernetes_ip, kubernetes_ip]
