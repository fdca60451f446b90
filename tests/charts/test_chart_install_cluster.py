"""Install the driver chart and a provider chart on the local cluster, mount a secret from the provider's
emulator in a pod, uninstall, and check that only the CRDs stay (markers `cluster` and `emulators`):
AWS against moto (IRSA through moto's STS), Vault against OpenBao (Kubernetes auth through the cluster's
TokenReview). Azure is not covered here: Lowkey Vault does not run on this machine's Java.

Holds the team's cluster-wide driver lock (/tmp/ssc-cluster-driver.lock) from install to uninstall."""

from __future__ import annotations

import base64
import json
import time
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from chartcluster import CRDS, IMAGE_TAG, KUBECONFIG, Kube, driver_lock, emulator_env, wait_no_foreign_driver
from chartrender import CHARTS_DIR

pytestmark = [pytest.mark.cluster, pytest.mark.emulators]


@dataclass
class Case:
    provider: str
    provider_values: list[str]
    spc_parameters: dict[str, str]
    file: str
    content: str
    sa_annotations: dict[str, str] = field(default_factory=dict)


def leftovers(kube: Kube, releases: tuple[str, ...], namespace: str) -> list[str]:
    """Objects any of the releases created that still exist (cluster-scoped and in the namespace)."""
    found = []
    kinds = ",".join(
        (
            "clusterroles",
            "clusterrolebindings",
            "csidrivers",
            "validatingadmissionpolicies",
            "validatingadmissionpolicybindings",
        )
    )
    for release in releases:
        selector = f"app.kubernetes.io/instance={release}"
        found += kube.kubectl("get", kinds, "-l", selector, "-o", "name").stdout.split()
        found += kube.kubectl(
            "-n",
            namespace,
            "get",
            "all,serviceaccounts,configmaps,secrets,roles,rolebindings",
            "-l",
            selector,
            "-o",
            "name",
        ).stdout.split()
    return found


def install_mount_uninstall(kube: Kube, case: Case, suffix: str, app_ns: str) -> None:
    system_ns = f"charts-system-{suffix}"
    driver_release, provider_release = f"ssc-{suffix}", f"ssc-{case.provider}-{suffix}"
    with driver_lock():
        wait_no_foreign_driver(kube)
        crds_before = {c for c in CRDS if kube.kubectl("get", "crd", c, check=False).returncode == 0}
        kube.kubectl("create", "namespace", system_ns)
        try:
            started = time.monotonic()
            kube.helm(
                "install",
                driver_release,
                str(CHARTS_DIR / "secrets-store-csi-driver"),
                "-n",
                system_ns,
                "--set",
                f"linux.image.tag={IMAGE_TAG}",
                "--set",
                "tokenRequests[0].audience=sts.amazonaws.com",
                "--set",
                "tokenRequests[1].audience=vault",
                "--wait",
                "--timeout",
                "5m",
            )
            driver_ready = time.monotonic() - started
            kube.helm(
                "install",
                provider_release,
                str(CHARTS_DIR / f"secrets-store-csi-provider-{case.provider}"),
                "-n",
                system_ns,
                "--set",
                f"image.tag={IMAGE_TAG}",
                *case.provider_values,
                "--wait",
                "--timeout",
                "5m",
            )
            print(
                f"\nhelm install -> driver Ready: {driver_ready:.1f}s; with the {case.provider} provider "
                f"Ready: {time.monotonic() - started:.1f}s"
            )

            manifests = [
                {
                    "apiVersion": "v1",
                    "kind": "ServiceAccount",
                    "metadata": {"name": "app", "namespace": app_ns, "annotations": case.sa_annotations},
                },
                {
                    "apiVersion": "secrets-store.csi.x-k8s.io/v1",
                    "kind": "SecretProviderClass",
                    "metadata": {"name": "backend", "namespace": app_ns},
                    "spec": {"provider": case.provider, "parameters": case.spc_parameters},
                },
                {
                    "apiVersion": "v1",
                    "kind": "Pod",
                    "metadata": {"name": "app", "namespace": app_ns},
                    "spec": {
                        "serviceAccountName": "app",
                        "terminationGracePeriodSeconds": 1,
                        "containers": [
                            {
                                "name": "app",
                                "image": "localhost/ssc-base:bookworm",
                                "imagePullPolicy": "Never",
                                "command": ["sleep", "3600"],
                                "volumeMounts": [
                                    {"name": "secrets", "mountPath": "/mnt/secrets", "readOnly": True}
                                ],
                            }
                        ],
                        "volumes": [
                            {
                                "name": "secrets",
                                "csi": {
                                    "driver": "secrets-store.csi.k8s.io",
                                    "readOnly": True,
                                    "volumeAttributes": {"secretProviderClass": "backend"},
                                },
                            }
                        ],
                    },
                },
            ]
            kube.kubectl("apply", "-f", "-", stdin=yaml.safe_dump_all(manifests))
            waited = kube.kubectl(
                "-n",
                app_ns,
                "wait",
                "--for=condition=Ready",
                "pod/app",
                "--timeout=180s",
                check=False,
                timeout=200,
            )
            if waited.returncode:
                events = kube.kubectl("-n", app_ns, "get", "events", "-o", "wide", check=False).stdout
                logs = kube.kubectl(
                    "-n",
                    system_ns,
                    "logs",
                    "--all-containers",
                    "--tail=40",
                    "-l",
                    f"app.kubernetes.io/instance in ({driver_release},{provider_release})",
                    check=False,
                ).stdout
                pytest.fail(f"the pod never became Ready:\n{events}\n{logs}")
            content = kube.kubectl(
                "-n", app_ns, "exec", "app", "--", "cat", f"/mnt/secrets/{case.file}"
            ).stdout
            assert content == case.content
            statuses = json.loads(
                kube.kubectl("-n", app_ns, "get", "secretproviderclasspodstatuses", "-o", "json").stdout
            )["items"]
            assert [s["status"]["mounted"] for s in statuses] == [True]

            kube.kubectl("delete", "pod", "app", "-n", app_ns, "--timeout=120s", timeout=150)
            kube.helm("uninstall", provider_release, "-n", system_ns, "--wait", "--timeout", "3m")
            kube.helm("uninstall", driver_release, "-n", system_ns, "--wait", "--timeout", "3m")
            # Pods of the deleted DaemonSets go shortly after their owner: give them a minute.
            deadline = time.monotonic() + 60
            while (left := leftovers(kube, (driver_release, provider_release), system_ns)) and (
                time.monotonic() < deadline
            ):
                time.sleep(2)
            assert left == []
            assert kube.kubectl("get", "csidriver", "secrets-store.csi.k8s.io", check=False).returncode != 0
            for crd in CRDS:  # kept on purpose (README: what uninstall leaves behind)
                assert kube.kubectl("get", "crd", crd, check=False).returncode == 0, crd
        finally:
            kube.kubectl(
                "delete",
                "pod",
                "app",
                "-n",
                app_ns,
                "--ignore-not-found",
                "--timeout=120s",
                check=False,
                timeout=150,
            )
            for release in (provider_release, driver_release):
                kube.helm("uninstall", release, "-n", system_ns, "--ignore-not-found", "--wait", check=False)
            kube.kubectl(
                "delete",
                "namespace",
                system_ns,
                "--ignore-not-found",
                "--timeout=120s",
                check=False,
                timeout=150,
            )
            # Leave the shared cluster as found: CRDs this test brought go again.
            for crd in set(CRDS) - crds_before:
                kube.kubectl("delete", "crd", crd, "--ignore-not-found", check=False)


def test_aws_provider_chart_mounts_a_secret_from_moto_and_uninstall_leaves_only_the_crds(
    kube: Kube, charts_namespace: str
) -> None:
    import boto3

    env = emulator_env()
    name = f"charts-{uuid.uuid4().hex[:8]}"
    boto3.client(
        "secretsmanager",
        endpoint_url=env["MOTO_URL"],
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    ).create_secret(Name=name, SecretString="from-moto-through-the-charts")
    case = Case(
        provider="aws",
        provider_values=[
            "--set",
            "aws.region=us-east-1",
            "--set",
            f"aws.endpointUrl=http://{env['EMULATOR_HOST_IP']}:15000",
        ],
        spc_parameters={"objects": yaml.safe_dump([{"objectName": name, "objectType": "secretsmanager"}])},
        sa_annotations={"eks.amazonaws.com/role-arn": "arn:aws:iam::123456789012:role/charts-install-test"},
        file=name,
        content="from-moto-through-the-charts",
    )
    install_mount_uninstall(kube, case, uuid.uuid4().hex[:6], charts_namespace)


def bao(env: dict[str, str], method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    req = urllib.request.Request(
        f"{env['VAULT_ADDR']}/v1/{path}",
        method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"X-Vault-Token": env.get("VAULT_TOKEN", "root")},
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        raw = resp.read()
    return json.loads(raw) if raw else {}


def test_vault_provider_chart_mounts_a_secret_from_openbao_and_uninstall_leaves_only_the_crds(
    kube: Kube, charts_namespace: str
) -> None:
    env = emulator_env()
    ns = charts_namespace
    mount = f"k8s-{ns}"[:60]
    # OpenBao reviews the pod's token with the cluster's TokenReview API, as a reviewer service account.
    kube.kubectl("-n", ns, "create", "serviceaccount", "vault-reviewer")
    binding = f"{ns}-vault-reviewer"
    kube.kubectl(
        "create",
        "clusterrolebinding",
        binding,
        "--clusterrole=system:auth-delegator",
        f"--serviceaccount={ns}:vault-reviewer",
    )
    try:
        reviewer = kube.kubectl("-n", ns, "create", "token", "vault-reviewer", "--duration=1h").stdout.strip()
        cluster = yaml.safe_load(KUBECONFIG.read_text())["clusters"][0]["cluster"]
        ca = (
            base64.b64decode(cluster["certificate-authority-data"]).decode()
            if "certificate-authority-data" in cluster
            else Path(cluster["certificate-authority"]).read_text()
        )
        bao(env, "POST", f"sys/auth/{mount}", {"type": "kubernetes"})
        bao(
            env,
            "POST",
            f"auth/{mount}/config",
            {
                "kubernetes_host": cluster["server"],
                "kubernetes_ca_cert": ca,
                "token_reviewer_jwt": reviewer,
                "disable_local_ca_jwt": True,
            },
        )
        bao(
            env,
            "PUT",
            f"sys/policies/acl/{ns}",
            {"policy": f'path "secret/data/{ns}/*" {{ capabilities = ["read"] }}'},
        )
        bao(
            env,
            "POST",
            f"auth/{mount}/role/app",
            {
                "bound_service_account_names": ["app"],
                "bound_service_account_namespaces": [ns],
                "audience": "vault",
                "token_policies": [ns],
                "token_ttl": "5m",
            },
        )
        bao(env, "POST", f"secret/data/{ns}/db", {"data": {"password": "from-openbao-through-the-charts"}})
        case = Case(
            provider="vault",
            provider_values=[
                "--set",
                f"vault.address=http://{env['EMULATOR_HOST_IP']}:18200",
                "--set",
                f"vault.authMount={mount}",
            ],
            spc_parameters={
                "roleName": "app",
                "objects": yaml.safe_dump(
                    [
                        {
                            "objectName": "password",
                            "secretPath": f"secret/data/{ns}/db",
                            "secretKey": "password",
                        }
                    ]
                ),
            },
            file="password",
            content="from-openbao-through-the-charts",
        )
        install_mount_uninstall(kube, case, uuid.uuid4().hex[:6], ns)
    finally:
        kube.kubectl("delete", "clusterrolebinding", binding, "--ignore-not-found", check=False)
        try:
            bao(env, "DELETE", f"sys/auth/{mount}")
            bao(env, "DELETE", f"sys/policies/acl/{ns}")
        except OSError:
            pass
