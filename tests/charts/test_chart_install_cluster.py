"""Install the driver chart and the AWS provider chart on the local cluster, mount a secret from moto in a
pod, uninstall, and check that only the CRDs stay (markers `cluster` and `emulators`).

Holds the team's cluster-wide driver lock (/tmp/ssc-cluster-driver.lock) from install to uninstall. Uses the
project image `make images` builds (localhost/secrets-store-csi:0.1.0; SSC_IMAGE_TAG picks another tag)."""

from __future__ import annotations

import json
import time
import uuid

import pytest
import yaml
from chartcluster import CRDS, IMAGE_TAG, Kube, driver_lock, emulator_env
from chartrender import CHARTS_DIR

pytestmark = [pytest.mark.cluster, pytest.mark.emulators]

ROLE = "arn:aws:iam::123456789012:role/charts-install-test"


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
        out = kube.kubectl("get", kinds, "-l", selector, "-o", "name").stdout.split()
        out += kube.kubectl(
            "-n",
            namespace,
            "get",
            "all,serviceaccounts,configmaps,secrets,roles,rolebindings",
            "-l",
            selector,
            "-o",
            "name",
        ).stdout.split()
        found += out
    return found


def test_driver_and_aws_provider_charts_mount_a_moto_secret_and_leave_only_the_crds(kube: Kube):
    import boto3

    env = emulator_env()
    host_ip = env["EMULATOR_HOST_IP"]
    secret_name = f"charts-{uuid.uuid4().hex[:8]}"
    boto3.client(
        "secretsmanager",
        endpoint_url=env["MOTO_URL"],
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    ).create_secret(Name=secret_name, SecretString="from-moto-through-the-charts")
    suffix = uuid.uuid4().hex[:6]
    system_ns, app_ns = f"charts-system-{suffix}", f"charts-app-{suffix}"
    driver_release, aws_release = f"ssc-{suffix}", f"ssc-aws-{suffix}"

    with driver_lock():
        existing = kube.kubectl("get", "csidriver", "secrets-store.csi.k8s.io", check=False)
        assert existing.returncode != 0, (
            "a Secrets Store CSI driver is already installed: someone left it behind"
        )
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
                "--wait",
                "--timeout",
                "5m",
            )
            driver_ready = time.monotonic() - started
            kube.helm(
                "install",
                aws_release,
                str(CHARTS_DIR / "secrets-store-csi-provider-aws"),
                "-n",
                system_ns,
                "--set",
                f"image.tag={IMAGE_TAG}",
                "--set",
                "aws.region=us-east-1",
                "--set",
                f"aws.endpointUrl=http://{host_ip}:15000",
                "--wait",
                "--timeout",
                "5m",
            )
            all_ready = time.monotonic() - started
            print(
                f"\nhelm install -> driver pods Ready: {driver_ready:.1f}s; driver + AWS provider Ready: "
                f"{all_ready:.1f}s"
            )

            kube.kubectl("create", "namespace", app_ns)
            manifests = [
                {
                    "apiVersion": "v1",
                    "kind": "ServiceAccount",
                    "metadata": {
                        "name": "app",
                        "namespace": app_ns,
                        "annotations": {"eks.amazonaws.com/role-arn": ROLE},
                    },
                },
                {
                    "apiVersion": "secrets-store.csi.x-k8s.io/v1",
                    "kind": "SecretProviderClass",
                    "metadata": {"name": "moto", "namespace": app_ns},
                    "spec": {
                        "provider": "aws",
                        "parameters": {
                            "objects": yaml.safe_dump(
                                [{"objectName": secret_name, "objectType": "secretsmanager"}]
                            )
                        },
                    },
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
                                    "volumeAttributes": {"secretProviderClass": "moto"},
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
                    f"app.kubernetes.io/instance in ({driver_release},{aws_release})",
                    check=False,
                ).stdout
                pytest.fail(f"the pod never became Ready:\n{events}\n{logs}")
            content = kube.kubectl(
                "-n", app_ns, "exec", "app", "--", "cat", f"/mnt/secrets/{secret_name}"
            ).stdout
            assert content == "from-moto-through-the-charts"
            statuses = json.loads(
                kube.kubectl("-n", app_ns, "get", "secretproviderclasspodstatuses", "-o", "json").stdout
            )["items"]
            assert [s["status"]["mounted"] for s in statuses] == [True]

            kube.kubectl("delete", "namespace", app_ns, "--timeout=180s", timeout=200)
            kube.helm("uninstall", aws_release, "-n", system_ns, "--wait", "--timeout", "3m")
            kube.helm("uninstall", driver_release, "-n", system_ns, "--wait", "--timeout", "3m")
            # Pods of the deleted DaemonSets go shortly after their owner: give them a minute.
            deadline = time.monotonic() + 60
            while (
                left := leftovers(kube, (driver_release, aws_release), system_ns)
            ) and time.monotonic() < deadline:
                time.sleep(2)
            assert left == []
            assert kube.kubectl("get", "csidriver", "secrets-store.csi.k8s.io", check=False).returncode != 0
            for crd in CRDS:  # kept on purpose (README: what uninstall leaves behind)
                assert kube.kubectl("get", "crd", crd, check=False).returncode == 0, crd
        finally:
            kube.kubectl(
                "delete",
                "namespace",
                app_ns,
                "--ignore-not-found",
                "--timeout=120s",
                check=False,
                timeout=150,
            )
            for release in (aws_release, driver_release):
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
