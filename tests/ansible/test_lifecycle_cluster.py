"""The roles on the local cluster, without the operator: the driver role in `helm` mode (install, a second
run that changes nothing), the docs/examples manifests, the ordered uninstall against real workloads that
mount the driver's volumes (refused and listed, then stopped), and the opt-in removal of the CRDs and every
SecretProviderClass.

One scenario in order, holding the team's driver lock from the first install to the last uninstall (the
driver is cluster-wide). Workloads mount a secret from moto through the AWS provider, so stopping them
really unmounts. `make test-ansible-cluster` runs it (it brings up the cluster, images and emulators).
"""

from __future__ import annotations

import base64
import json
import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import yaml
from ansible_helpers import Run, ansible_playbook
from backends import OpenBao, moto_put_parameter, moto_put_secret
from chartcluster import CRDS, Kube, driver_lock, wait_no_foreign_driver
from docs_examples import EXAMPLES, EXAMPLES_DIR
from kubecluster import Cluster

pytestmark = [pytest.mark.ansible, pytest.mark.cluster]

DRIVER = "secrets-store.csi.k8s.io"
RELEASE_NAMESPACE = "secrets-store-csi"
DRIVER_SELECTOR = "app.kubernetes.io/name=secrets-store-csi-driver"
STOPPED_LABEL = "secrets-store.csi.k8s.io/stopped-for-uninstall"
IMAGE = "localhost/ssc-base:bookworm"
PLAYBOOK_TIMEOUT = 600
INSTALL_ARGS = (
    "-e",
    "@playbooks/vars/local-emulators.yml",
    "-e",
    "secrets_store_csi_driver_mode=helm",
    "-e",
    json.dumps({"secrets_store_csi_provider_names": ["aws", "vault"]}),
)
# The workloads the uninstall must find, as the role names them (kind, name); the examples' bare Pods too.
WORKLOADS = [("Deployment", "web"), ("StatefulSet", "db"), ("DaemonSet", "agent"), ("CronJob", "report")]
EXAMPLE_PODS = [("Pod", "app-aws"), ("Pod", "app-vault")]


@dataclass
class Scenario:
    cluster: Cluster
    namespace: str
    secret_value: str
    vault_mount: str
    runs: dict[str, Run] = field(default_factory=dict)

    def playbook(self, name: str, playbook: str, *args: str) -> Run:
        run = ansible_playbook(playbook, *args, env=self.cluster.env, timeout=PLAYBOOK_TIMEOUT)
        self.runs[name] = run
        return run

    def require(self, *names: str) -> None:
        missing = [n for n in names if n not in self.runs or self.runs[n].rc != 0]
        if missing:
            pytest.fail(f"an earlier step of the scenario did not pass: {missing}")

    def get(self, *args: str) -> Any:
        return self.cluster.kubectl_json(*args)

    def pods(self, selector: str = "") -> list[dict[str, Any]]:
        args = ["-n", self.namespace, "get", "pods"] + (["-l", selector] if selector else [])
        items: list[dict[str, Any]] = self.get(*args)["items"]
        return items


def recap(run: Run) -> dict[str, int]:
    """The localhost line of the PLAY RECAP: ok, changed, failed, ... as numbers."""
    line = next(line for line in run.output.splitlines() if re.match(r"^localhost\s+:", line))
    return {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", line)}


def foreign_mounting_pods(cluster: Cluster, namespace: str) -> list[str]:
    """Pods outside our namespace that mount the driver's volumes: the uninstall would stop them too."""
    pods = cluster.kubectl_json("get", "pods", "-A")["items"]
    return [
        f"{p['metadata']['namespace']}/{p['metadata']['name']}"
        for p in pods
        if p["metadata"]["namespace"] != namespace
        and any((v.get("csi") or {}).get("driver") == DRIVER for v in p["spec"].get("volumes") or [])
    ]


def workloads(namespace: str) -> list[dict[str, Any]]:
    spc_volume = {
        "name": "secrets",
        "csi": {
            "driver": DRIVER,
            "readOnly": True,
            "volumeAttributes": {"secretProviderClass": "app"},
            "nodePublishSecretRef": {"name": "aws-credentials"},
        },
    }

    def pod_spec(restart: str = "Always") -> dict[str, Any]:
        return {
            "terminationGracePeriodSeconds": 1,
            "restartPolicy": restart,
            "containers": [
                {
                    "name": "app",
                    "image": IMAGE,
                    "imagePullPolicy": "Never",
                    "command": ["sleep", "infinity"],
                    "volumeMounts": [{"name": "secrets", "mountPath": "/mnt/secrets", "readOnly": True}],
                }
            ],
            "volumes": [spc_volume],
        }

    def template(app: str, restart: str = "Always") -> dict[str, Any]:
        return {"metadata": {"labels": {"app": app}}, "spec": pod_spec(restart)}

    return [
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "aws-credentials", "labels": {"secrets-store.csi.k8s.io/used": "true"}},
            "type": "Opaque",
            "stringData": {"access_key_id": "test", "secret_access_key": "test"},
        },
        {
            "apiVersion": "secrets-store.csi.x-k8s.io/v1",
            "kind": "SecretProviderClass",
            "metadata": {"name": "app"},
            "spec": {
                "provider": "aws",
                "parameters": {
                    "region": "us-east-1",
                    "objects": f'- objectName: "{namespace}/secret"\n  objectType: secretsmanager\n'
                    "  objectAlias: secret\n",
                },
            },
        },
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web"},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}}, "template": template("web")},
        },
        {
            "apiVersion": "apps/v1",
            "kind": "StatefulSet",
            "metadata": {"name": "db"},
            "spec": {
                "replicas": 1,
                "serviceName": "db",
                "selector": {"matchLabels": {"app": "db"}},
                "template": template("db"),
            },
        },
        {
            "apiVersion": "apps/v1",
            "kind": "DaemonSet",
            "metadata": {"name": "agent"},
            "spec": {"selector": {"matchLabels": {"app": "agent"}}, "template": template("agent")},
        },
        {
            "apiVersion": "batch/v1",
            "kind": "CronJob",
            "metadata": {"name": "report"},
            # Once a year: the test starts its Job itself (kubectl create job --from), as a run in progress.
            "spec": {
                "schedule": "0 0 1 1 *",
                "jobTemplate": {"spec": {"backoffLimit": 0, "template": template("report", restart="Never")}},
            },
        },
    ]


def wait_for(what: str, check: Any, timeout: float = 180) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(2)


@pytest.fixture(scope="module")
def scenario(cluster: Cluster) -> Iterator[Scenario]:
    namespace = f"ansible-lifecycle-{uuid.uuid4().hex[:6]}"
    with driver_lock():
        wait_no_foreign_driver(Kube(cluster.kubeconfig))
        s = Scenario(cluster, namespace, f"s3cr3t-{uuid.uuid4().hex[:8]}", vault_mount=f"k8s-{namespace}")
        try:
            yield s
        finally:
            OpenBao().remove_kubernetes_auth(s.vault_mount)
            cluster.kubectl(
                "delete", "clusterrolebinding", f"{namespace}-tokenreview", "--ignore-not-found", check=False
            )
            # Whatever failed: our namespace and anything the scenario installed go before the lock is freed.
            cluster.kubectl(
                "delete", "namespace", namespace, "--ignore-not-found", "--wait", timeout=300, check=False
            )
            if s.runs.get("crds-removed", Run(1, "", 0)).rc != 0:
                ansible_playbook(
                    "playbooks/uninstall.yml",
                    "-e",
                    "secrets_store_csi_uninstall_force=true",
                    env=cluster.env,
                    timeout=PLAYBOOK_TIMEOUT,
                )


def test_helm_mode_installs_the_driver_chart_without_the_operator(scenario: Scenario) -> None:
    run = scenario.playbook("install", "playbooks/install.yml", *INSTALL_ARGS)
    assert run.rc == 0, run.output[-6000:]
    releases = json.loads(scenario.cluster.helm("list", "-A", "-o", "json").stdout)
    names = {(r["name"], r["namespace"], r["status"]) for r in releases}
    assert ("secrets-store-csi-driver", RELEASE_NAMESPACE, "deployed") in names, names
    assert ("secrets-store-csi-provider-aws", RELEASE_NAMESPACE, "deployed") in names, names
    assert ("secrets-store-csi-provider-vault", RELEASE_NAMESPACE, "deployed") in names, names
    assert not any("operator" in r["name"] for r in releases), f"helm mode installed an operator: {names}"
    csidriver = scenario.get("get", "csidriver", DRIVER)
    assert csidriver["spec"]["podInfoOnMount"] is True
    (ds,) = scenario.get("-n", RELEASE_NAMESPACE, "get", "daemonset", "-l", DRIVER_SELECTOR)["items"]
    assert ds["status"]["numberReady"] == ds["status"]["desiredNumberScheduled"] >= 1


def test_a_second_helm_mode_install_changes_nothing(scenario: Scenario) -> None:
    scenario.require("install")
    run = scenario.playbook("install-again", "playbooks/install.yml", *INSTALL_ARGS)
    assert run.rc == 0, run.output[-6000:]
    assert recap(run)["changed"] == 0, run.output[-6000:]


def test_workloads_of_every_kind_mount_a_secret_through_the_driver(scenario: Scenario) -> None:
    scenario.require("install")
    cluster, ns = scenario.cluster, scenario.namespace
    foreign = foreign_mounting_pods(cluster, ns)
    assert not foreign, (
        f"pods of someone else mount {DRIVER} volumes; the uninstall would stop them: {foreign}"
    )
    moto_put_secret(f"{ns}/secret", scenario.secret_value, "us-east-1")
    cluster.kubectl("create", "namespace", ns)
    wait_for(
        "the default service account",
        lambda: cluster.kubectl("-n", ns, "get", "sa", "default", check=False).returncode == 0,
        60,
    )
    cluster.apply(workloads(ns), ns)
    cluster.kubectl("-n", ns, "create", "job", "report-now", "--from=cronjob/report")

    def running() -> list[dict[str, Any]] | None:
        pods = scenario.pods()
        apps = {
            p["metadata"].get("labels", {}).get("app") for p in pods if p["status"].get("phase") == "Running"
        }
        return pods if apps >= {"web", "db", "agent", "report"} else None

    pods = wait_for("a Running pod of each workload", running, 240)
    for pod in pods:
        content = cluster.kubectl(
            "-n", ns, "exec", pod["metadata"]["name"], "--", "cat", "/mnt/secrets/secret"
        ).stdout
        assert content == scenario.secret_value, pod["metadata"]["name"]
    job = scenario.get("-n", ns, "get", "job", "report-now")
    owners = [
        (o["kind"], o["name"]) for o in job["metadata"].get("ownerReferences", []) if o.get("controller")
    ]
    assert owners == [("CronJob", "report")], owners
    scenario.runs["workloads"] = Run(0, "", 0.0)


def apply_example(scenario: Scenario, name: str, *extra: str) -> list[dict[str, Any]]:
    docs = [d for d in yaml.safe_load_all((EXAMPLES_DIR / name).read_text()) if d]
    for doc in docs:
        # The one environment-specific setting: this test's own OpenBao Kubernetes auth mount.
        if doc["kind"] == "SecretProviderClass" and doc["spec"]["provider"] == "vault":
            doc["spec"]["parameters"]["vaultAuthMountPath"] = scenario.vault_mount
    doc_list = json.dumps({"apiVersion": "v1", "kind": "List", "items": docs})
    done = scenario.cluster.kubectl(
        "-n", scenario.namespace, "apply", *extra, "-f", "-", input=doc_list, check=False
    )
    assert done.returncode == 0, f"kubectl apply {' '.join(extra)} of docs/examples/{name}: {done.stderr}"
    return docs


def configure_openbao(scenario: Scenario) -> None:
    """OpenBao's Kubernetes auth as vault.yaml asks for, at a mount of this test's own, reviewing tokens
    with a reviewer account's token through the cluster's TokenReview API."""
    cluster, ns = scenario.cluster, scenario.namespace
    cluster.kubectl("-n", ns, "create", "serviceaccount", "reviewer")
    cluster.kubectl(
        "create",
        "clusterrolebinding",
        f"{ns}-tokenreview",
        "--clusterrole=system:auth-delegator",
        f"--serviceaccount={ns}:reviewer",
    )
    reviewer = cluster.kubectl("-n", ns, "create", "token", "reviewer", "--duration=1h").stdout.strip()
    kubeconfig = cluster.kubectl_json("config", "view", "--raw")
    server = kubeconfig["clusters"][0]["cluster"]
    ca_pem = base64.b64decode(server["certificate-authority-data"]).decode()
    OpenBao().kubernetes_auth(
        scenario.vault_mount, server["server"], ca_pem, reviewer, ns, "secret/data/example/*"
    )


def test_the_docs_examples_mount_their_secrets(scenario: Scenario) -> None:
    scenario.require("install", "workloads")
    cluster, ns = scenario.cluster, scenario.namespace
    values = {"db": f"db-{uuid.uuid4().hex[:8]}", "flags": f"flags-{uuid.uuid4().hex[:8]}"}
    region = "us-east-1"
    moto_put_secret("example/db-password", values["db"], region)
    moto_put_parameter("/example/feature-flags", values["flags"], region)
    configure_openbao(scenario)
    OpenBao().call("POST", "secret/data/example/db", {"data": {"password": values["db"]}})

    assert set(EXAMPLES.values()) <= {"mount", "dry-run"}, EXAMPLES
    # The mounted ones first: a dry-run pod's service account must exist (vault.yaml creates `app`).
    for name in sorted(n for n, how in EXAMPLES.items() if how == "mount"):
        apply_example(scenario, name)
    for name in sorted(n for n, how in EXAMPLES.items() if how == "dry-run"):
        apply_example(scenario, name, "--dry-run=server")
    for pod in ("app-aws", "app-vault"):
        cluster.wait_pod_phase(ns, pod, {"Running"}, timeout=120)
        read = cluster.kubectl("-n", ns, "exec", pod, "--", "cat", "/mnt/secrets/db-password").stdout
        assert read == values["db"], pod
    flags = cluster.kubectl(
        "-n", ns, "exec", "app-aws", "--", "stat", "-L", "-c", "%a", "/mnt/secrets/feature-flags"
    ).stdout.strip()
    assert flags == "440"
    assert (
        cluster.kubectl("-n", ns, "exec", "app-aws", "--", "cat", "/mnt/secrets/feature-flags").stdout
        == (values["flags"])
    )
    assert cluster.kubectl("-n", ns, "get", "pod", "app-azure", check=False).returncode != 0, (
        "dry run created it"
    )
    scenario.runs["examples"] = Run(0, "", 0.0)


def test_uninstall_refuses_while_workloads_mount_and_lists_each_of_them(scenario: Scenario) -> None:
    scenario.require("install", "workloads")
    run = scenario.playbook("refused", "playbooks/uninstall.yml")
    assert run.rc != 0, run.output[-6000:]
    assert "mount secrets-store.csi.k8s.io volumes" in run.output, run.output[-6000:]
    expected = WORKLOADS + (EXAMPLE_PODS if "examples" in scenario.runs else [])
    for kind, name in expected:
        assert f"{scenario.namespace}/{kind}/{name} " in run.output, (
            f"{kind}/{name} not listed:\n{run.output[-6000:]}"
        )
    # Nothing was touched: the driver, the provider and every workload still run.
    assert recap(run)["changed"] == 0
    scenario.get("get", "csidriver", DRIVER)
    assert scenario.get("-n", scenario.namespace, "get", "deployment", "web")["spec"]["replicas"] == 1
    apps = {
        p["metadata"].get("labels", {}).get("app")
        for p in scenario.pods()
        if p["status"].get("phase") == "Running"
    }
    assert apps >= {"web", "db", "agent", "report"}, apps
    scenario.runs["refused"] = Run(0, run.output, run.seconds)


def test_uninstall_with_stop_workloads_stops_each_kind_and_removes_the_driver(scenario: Scenario) -> None:
    scenario.require("install", "workloads")
    ns = scenario.namespace
    foreign = foreign_mounting_pods(scenario.cluster, ns)
    assert not foreign, (
        f"someone else's pods mount {DRIVER} volumes; the uninstall would stop them: {foreign}"
    )
    run = scenario.playbook(
        "stopped", "playbooks/uninstall.yml", "-e", "secrets_store_csi_uninstall_stop_workloads=true"
    )
    assert run.rc == 0, run.output[-8000:]
    assert scenario.get("-n", ns, "get", "deployment", "web")["spec"]["replicas"] == 0
    assert scenario.get("-n", ns, "get", "statefulset", "db")["spec"]["replicas"] == 0
    agent = scenario.get("-n", ns, "get", "daemonset", "agent")
    assert agent["spec"]["template"]["spec"].get("nodeSelector") == {STOPPED_LABEL: "true"}
    assert scenario.get("-n", ns, "get", "cronjob", "report")["spec"]["suspend"] is True
    assert scenario.cluster.kubectl("-n", ns, "get", "job", "report-now", check=False).returncode != 0
    left = [
        p["metadata"]["name"] for p in scenario.pods() if p["status"].get("phase") in ("Pending", "Running")
    ]
    assert left == [], f"pods still running after the stop: {left}"
    # Then the rest of the procedure: provider and driver releases, driver pods, CSIDriver object.
    releases = json.loads(scenario.cluster.helm("list", "-A", "-o", "json").stdout)
    assert not [r["name"] for r in releases if r["name"].startswith("secrets-store-csi")], releases
    driver_pods = scenario.get("get", "pods", "-A", "-l", DRIVER_SELECTOR)["items"]
    assert driver_pods == []
    assert scenario.cluster.kubectl("get", "csidriver", DRIVER, check=False).returncode != 0


def test_crds_and_users_secret_provider_classes_stay_by_default(scenario: Scenario) -> None:
    scenario.require("stopped")
    for crd in CRDS:
        scenario.get("get", "crd", crd)
    assert (
        scenario.get("-n", scenario.namespace, "get", "secretproviderclass", "app")["spec"]["provider"]
        == "aws"
    )


def test_remove_crds_deletes_the_crds_and_every_secret_provider_class(scenario: Scenario) -> None:
    scenario.require("stopped")
    run = scenario.playbook(
        "crds-removed", "playbooks/uninstall.yml", "-e", "secrets_store_csi_uninstall_remove_crds=true"
    )
    assert run.rc == 0, run.output[-6000:]
    for crd in CRDS:
        assert scenario.cluster.kubectl("get", "crd", crd, check=False).returncode != 0, (
            f"{crd} is still there"
        )
    gone = scenario.cluster.kubectl(
        "-n", scenario.namespace, "get", "secretproviderclass", "app", check=False
    )
    assert gone.returncode != 0 and (
        "NotFound" in gone.stderr or "the server doesn't have a resource type" in gone.stderr
    ), gone.stdout + gone.stderr
