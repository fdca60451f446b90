"""Canary scan: secret bytes touch only the pods' tmpfs and the Kubernetes Secrets the user asked for.

Unique canary values go into AWS Secrets Manager and SSM Parameter Store (moto) and Vault KV (OpenBao), are
mounted into pods through the installed charts (driver at log verbosity 10, providers at debug, metrics on),
some synced to Kubernetes Secrets (secretObjects), one used as the secret access key of a
nodePublishSecretRef, then rotated in the backends until the pods read the new values. The pods are
deleted, every component's log, the events, the metrics endpoints and the SecretProviderClassPodStatus
objects collected, the stack uninstalled, and then the node's filesystem searched. Each canary and each
rotated value is searched raw, base64 (every alignment, both alphabets) and hex (both cases).

Expected: a canary appears only in the Secrets the user asked to sync or wrote themselves (and so in etcd's
files under /var/lib/ssc-devcluster/etcd, where the apiserver keeps every Secret, in plain bytes: the local
cluster has no encryption at rest). Service-account tokens (JWTs) appear in no component's log.

Positive controls, so the test can fail: the same file scan must find every mounted canary in the live tmpfs
volume on the host while the pods run, the same text search must find the synced canaries (base64) in the
Secrets the API returns, and the file scan must find the synced canaries in etcd's files.

What the file scan walks, and what it skips:
- walked twice, before the uninstall (the components' containers and their logs still exist) and after it:
  /var (kubelet root, /var/log with the kubelet's and containerd's logs under
  /var/log/ssc-devcluster and the containers' logs under /var/log/pods, containerd's content store, image
  snapshots and the containers' writable layers, etcd), /tmp, /run (containerd's state, provider sockets),
  /etc, and $HOME (the cache folder $HOME/.cache/secrets-store-csi included);
- skipped: files whose inode did not change since the canaries were created (ctime, which user space cannot
  set back: such a file cannot hold a canary, so nothing that could hold a leak is skipped, and the image
  layers and binaries unpacked before the run cost only a stat); live tmpfs mounts (the pods' secret volumes
  while they exist: the one place secrets belong, and memory, not disk); /proc, /sys, /dev (no file
  content); the emulators' own logs in $CACHE/emulators (the backend's files, not the product's); the file
  this test process writes its own output to. The worktrees under /work hold source only (no component
  writes there) and are not walked.

Azure is not covered: its emulator (Lowkey Vault, a jar from Maven Central) is not served to this machine,
so no Azure canary can be mounted; the Azure provider shares the driver, writer and logging code measured
here, but its own code paths are not proven by this test.
"""

from __future__ import annotations

import base64
import json
import os
import re
import time
import uuid

import boto3
import pytest
import yaml
from kubecluster import CACHE, Cluster
from security_support import (
    Bao,
    Canaries,
    SessionStack,
    cluster_api,
    configure_vault_kubernetes_auth,
    emulator_clients_kwargs,
    own_output_files,
    scan_node,
    vault_reviewer,
    wait_for,
)
from stack import csi_mounts, emulators, secret_pod, secret_provider_class

pytestmark = [pytest.mark.cluster, pytest.mark.emulators]

ROLE = "arn:aws:iam::123456789012:role/ssc-security-canary"
JWT = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]+")
ETCD_DIR = "/var/lib/ssc-devcluster/etcd"
METRICS_PORTS = {"driver": 8095, "aws": 8098, "vault": 8097}


def scan_roots() -> list[str]:
    return ["/var", "/tmp", "/run", "/etc", os.path.expanduser("~")]


def scan_excludes() -> list[str]:
    emu = CACHE / "emulators"
    return [str(emu / "moto.log"), str(emu / "openbao.log"), *own_output_files()]


def metrics_text(cluster: Cluster, namespace: str, pod: str, port: int) -> str:
    text: str = cluster.kubectl(
        "get", "--raw", f"/api/v1/namespaces/{namespace}/pods/{pod}:{port}/proxy/metrics"
    ).stdout
    return text


def test_canaries_stay_in_tmpfs_and_the_secrets_the_user_synced(
    cluster: Cluster, namespace: str, session_stack: SessionStack
) -> None:
    assert not session_stack.closed
    stack = session_stack.stack
    since = time.time() - 1
    env = emulators()
    c = Canaries()
    ns = namespace

    # --- AWS (moto): Secrets Manager and SSM through IRSA, and static keys from a nodePublishSecretRef ---
    aws = emulator_clients_kwargs(env)
    sm, ssm = boto3.client("secretsmanager", **aws), boto3.client("ssm", **aws)
    tag = uuid.uuid4().hex[:8]
    sm_synced, sm_plain, ssm_plain = f"sec-{tag}-synced", f"sec-{tag}-plain", f"/sec/{tag}/param"
    sm.create_secret(Name=sm_synced, SecretString=c.new("sm-synced", synced=True))
    sm.create_secret(Name=sm_plain, SecretString=c.new("sm-plain"))
    ssm.put_parameter(Name=ssm_plain, Value=c.new("ssm-plain"), Type="SecureString")
    cluster.apply(
        [
            {
                "apiVersion": "v1",
                "kind": "ServiceAccount",
                "metadata": {"name": "app", "annotations": {"eks.amazonaws.com/role-arn": ROLE}},
            },
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": "aws-creds", "labels": {"secrets-store.csi.k8s.io/used": "true"}},
                "stringData": {
                    "access_key_id": "AKIDSECURITYCANARY",
                    # The user wrote this one into a Secret: allowed in etcd, nowhere else.
                    "secret_access_key": c.new("aws-static-key", synced=True),
                },
            },
        ],
        ns,
    )
    aws_objects = [
        {"objectName": sm_synced, "objectType": "secretsmanager", "objectAlias": "sm-synced"},
        {"objectName": sm_plain, "objectType": "secretsmanager", "objectAlias": "sm-plain"},
        {"objectName": ssm_plain, "objectType": "ssmparameter", "objectAlias": "ssm-plain"},
    ]
    # --- Vault (OpenBao): Kubernetes auth through the cluster's TokenReview ---
    bao = Bao(env["VAULT_ADDR"])
    mount = f"sec-{ns}"[:60]
    with vault_reviewer(cluster, ns) as reviewer:
        configure_vault_kubernetes_auth(bao, mount, cluster_api(), reviewer, ns, token_ttl="10m")
        try:
            bao.call(
                "POST", f"secret/data/{ns}/db", {"data": {"password": c.new("vault-synced", synced=True)}}
            )
            bao.call("POST", f"secret/data/{ns}/api", {"data": {"key": c.new("vault-plain")}})
            vault_objects = [
                {"objectName": "db-password", "secretPath": f"secret/data/{ns}/db", "secretKey": "password"},
                {"objectName": "api-key", "secretPath": f"secret/data/{ns}/api", "secretKey": "key"},
            ]
            cluster.apply(
                [
                    secret_provider_class(
                        "aws",
                        "aws",
                        {"objects": aws_objects},
                        [
                            {
                                "secretName": "synced-aws",
                                "type": "Opaque",
                                "data": [{"objectName": "sm-synced", "key": "value"}],
                            }
                        ],
                    ),
                    secret_provider_class(
                        "aws-static", "aws", {"objects": [aws_objects[1]], "region": "us-east-1"}
                    ),
                    secret_provider_class(
                        "vault",
                        "vault",
                        {"roleName": "app", "vaultAuthMountPath": mount, "objects": vault_objects},
                        [
                            {
                                "secretName": "synced-vault",
                                "type": "Opaque",
                                "data": [{"objectName": "db-password", "key": "password"}],
                            }
                        ],
                    ),
                    secret_pod("app-aws", "aws", service_account="app"),
                    secret_pod("app-static", "aws-static", node_publish_secret="aws-creds"),
                    secret_pod("app-vault", "vault", service_account="app"),
                ],
                ns,
            )
            pods = ["app-aws", "app-static", "app-vault"]
            stack.wait_ready(ns, pods)
            mounted = {
                ("app-aws", "sm-synced"): "sm-synced",
                ("app-aws", "sm-plain"): "sm-plain",
                ("app-aws", "ssm-plain"): "ssm-plain",
                ("app-static", "sm-plain"): "sm-plain",
                ("app-vault", "db-password"): "vault-synced",
                ("app-vault", "api-key"): "vault-plain",
            }
            for (pod, file), label in mounted.items():
                assert stack.read(ns, pod, f"/mnt/secrets/{file}") == c.values[label], f"{pod}:{file}"

            # Positive control of the file scan: the live tmpfs volumes on the host hold every mounted canary.
            uids = {
                p["metadata"]["name"]: p["metadata"]["uid"]
                for p in cluster.kubectl_json("-n", ns, "get", "pods")["items"]
            }
            volumes = [
                f"/var/lib/kubelet/pods/{uids[p]}/volumes/kubernetes.io~csi/secrets/mount" for p in pods
            ]
            control = scan_node(volumes, since, c, exclude=[])
            assert {label for _, label, enc in control.hits if enc == "raw"} == set(mounted.values())

            # --- rotation: new values in every backend, until every pod reads them ---
            sm.put_secret_value(SecretId=sm_synced, SecretString=c.new("sm-synced-rotated", synced=True))
            sm.put_secret_value(SecretId=sm_plain, SecretString=c.new("sm-plain-rotated"))
            ssm.put_parameter(
                Name=ssm_plain, Value=c.new("ssm-plain-rotated"), Type="SecureString", Overwrite=True
            )
            bao.call(
                "POST",
                f"secret/data/{ns}/db",
                {"data": {"password": c.new("vault-synced-rotated", synced=True)}},
            )
            bao.call("POST", f"secret/data/{ns}/api", {"data": {"key": c.new("vault-plain-rotated")}})
            for (pod, file), label in mounted.items():
                want = c.values[f"{label}-rotated"]
                wait_for(
                    lambda pod=pod, file=file, want=want: stack.read(ns, pod, f"/mnt/secrets/{file}") == want,
                    f"{pod} to read the rotated {file}",
                    timeout=120,
                    every=2,
                )

            def synced(name: str, key: str) -> str:
                data = cluster.kubectl_json("-n", ns, "get", "secret", name)["data"]
                return base64.b64decode(data[key]).decode()

            wait_for(
                lambda: synced("synced-aws", "value") == c.values["sm-synced-rotated"],
                "synced-aws rotated",
                60,
            )
            wait_for(
                lambda: synced("synced-vault", "password") == c.values["vault-synced-rotated"],
                "synced-vault rotated",
                60,
            )
            # Positive control of the text search (base64) and the rule it enforces: among the namespace's
            # Secrets, canaries are only in the synced ones and the one the user wrote.
            secrets = cluster.kubectl_json("-n", ns, "get", "secrets")["items"]
            in_secrets = c.find_in_text(json.dumps(secrets))
            assert ("sm-synced-rotated", "base64") in in_secrets and (
                "vault-synced-rotated",
                "base64",
            ) in in_secrets
            assert {label for label, _ in in_secrets} <= c.synced, sorted(in_secrets)

            # --- what the components said while the secrets were mounted and rotated ---
            findings: dict[str, set[tuple[str, str]]] = {}
            metrics: dict[str, str] = {}
            for component, port in METRICS_PORTS.items():
                for pod in stack.pods(component):
                    metrics[f"metrics {component} {pod}:{port}"] = metrics_text(
                        cluster, stack.namespace, pod, port
                    )
            assert "node_publish_total" in "".join(metrics.values())
            statuses = cluster.kubectl_json("get", "secretproviderclasspodstatuses", "-A")["items"]
            assert len([s for s in statuses if s["metadata"]["namespace"] == ns]) == len(pods)

            cluster.kubectl("-n", ns, "delete", "pods", "--all", "--wait=true", "--timeout=120s", timeout=150)
            logs = {component: stack.logs(component) for component in ("driver", "aws", "vault")}
            assert "NodeUnpublishVolume" in logs["driver"], "the driver log is not the one that unmounted"
            events = cluster.kubectl_json("get", "events", "-A")["items"]
            assert any(
                e.get("reason") == "SecretRotationComplete"
                for e in events
                if e["metadata"]["namespace"] == ns
            )
            texts: dict[str, str] = {
                **{f"log {k}": v for k, v in logs.items()},
                **metrics,
                "events (all namespaces)": json.dumps(events),
                "SecretProviderClassPodStatuses": json.dumps(statuses),
            }
            for where, text in texts.items():
                if hits := c.find_in_text(text):
                    findings[where] = hits
            tokens_in_logs = {k: len(JWT.findall(v)) for k, v in logs.items() if JWT.search(v)}
        finally:
            bao.call("DELETE", f"sys/auth/{mount}")
            bao.call("DELETE", f"sys/policies/acl/{ns}")

    # --- the node's disk: once while the components still run (their containers' writable layers and
    # their logs under /var/log/pods exist only until the uninstall), once after the full uninstall ---
    before = scan_node(scan_roots(), since, c, scan_excludes())
    session_stack.close()
    assert [m for m in csi_mounts() if any(uids[p] in m for p in pods)] == []
    after = scan_node(scan_roots(), since, c, scan_excludes())
    for when, report in (("before uninstall", before), ("after uninstall", after)):
        print(
            f"\nnode scan {when}: {report.files_walked} files walked, {report.files_changed} changed "
            f"since the canaries ({report.bytes_scanned / 2**20:.1f} MiB) searched for {len(c.values)} "
            f"canaries in {report.seconds:.1f}s; {len(report.skipped_tmpfs)} tmpfs mounts not entered"
        )
        in_etcd = {label for path, label, _ in report.hits if path.startswith(ETCD_DIR + "/")}
        assert in_etcd >= {"sm-synced-rotated", "vault-synced-rotated"}, (
            f"{when}: synced Secrets not found in etcd"
        )
        for path, label, enc in report.hits:
            if not (path.startswith(ETCD_DIR + "/") and label in c.synced):
                findings.setdefault(f"{path} ({when})", set()).add((label, enc))
    assert findings == {}, "canaries found outside tmpfs and the synced Secrets:\n" + yaml.safe_dump(
        {k: sorted(f"{label} ({enc})" for label, enc in v) for k, v in findings.items()}
    )
    assert tokens_in_logs == {}, f"service-account tokens (JWTs) in component logs: {tokens_in_logs}"
