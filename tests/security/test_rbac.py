"""Least privilege: what every service account the charts create may do, compared with the lists checked
in under expected_rbac/, and the driver's Secret writes confined to the Secrets it manages.

The matrix asks the apiserver itself (`kubectl auth can-i --list --as=system:serviceaccount:<ns>:<sa>`, a
SelfSubjectRulesReview under impersonation) in the release's namespace and in another one. The user alone
is impersonated, not the groups every service account also has (system:serviceaccounts,
system:authenticated): those carry the cluster's defaults (discovery, self reviews), not what the charts
grant, and another team's binding to such a group would otherwise change these lists.

The driver, AWS and Vault provider accounts are those of the installed stack (sync on). The driver without
sync and the operator are judged from their charts' RBAC objects alone, applied under a fresh release name
(the ServiceAccount, ClusterRoles, Roles and their bindings from `helm template`; no workload runs).

Refresh the lists after an intended RBAC change with SSC_UPDATE_EXPECTED_RBAC=1, then review the diff.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubecluster import REPO, Cluster
from stack import Stack

pytestmark = [pytest.mark.cluster, pytest.mark.emulators]

EXPECTED = Path(__file__).resolve().parent / "expected_rbac"
UPDATE = os.environ.get("SSC_UPDATE_EXPECTED_RBAC") == "1"
RBAC_KINDS = {"ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"}
_ROW = re.compile(r"^(\S*)\s+(\[[^\]]*\])\s+(\[[^\]]*\])\s+(\[[^\]]*\])\s*$")


def can_i_list(cluster: Cluster, user: str, namespace: str, names: dict[str, str]) -> list[dict[str, Any]]:
    """The rules `user` holds in `namespace`, as sorted rows; release-specific names replaced by their role
    (`names`: text -> placeholder)."""
    out = cluster.kubectl("auth", "can-i", "--list", f"--as={user}", "-n", namespace).stdout
    rows = []
    for line in out.splitlines()[1:]:
        m = _ROW.match(line)
        assert m, f"unexpected can-i line: {line!r}"
        resource, urls, resource_names, verbs = m.groups()
        for text, placeholder in names.items():
            resource_names = resource_names.replace(text, placeholder)
        rows.append(
            {
                "resource": resource,
                "nonResourceURLs": urls[1:-1].split(),
                "resourceNames": sorted(resource_names[1:-1].split()),
                "verbs": sorted(verbs[1:-1].split()),
            }
        )
    return sorted(rows, key=lambda r: (r["resource"], r["nonResourceURLs"], r["resourceNames"]))


def check_matrix(
    cluster: Cluster, account: str, namespace: str, sa: str, other_namespace: str, names: dict[str, str]
) -> None:
    user = f"system:serviceaccount:{namespace}:{sa}"
    # What any authenticated user holds (discovery, self reviews): the same account name with nothing bound.
    nobody = f"system:serviceaccount:{namespace}:nobody-{uuid.uuid4().hex[:6]}"
    got = {}
    for key, ns in (("own namespace", namespace), ("another namespace", other_namespace)):
        baseline = can_i_list(cluster, nobody, ns, {})
        got[key] = [row for row in can_i_list(cluster, user, ns, names) if row not in baseline]
    path = EXPECTED / f"{account}.yaml"
    if UPDATE:
        EXPECTED.mkdir(exist_ok=True)
        header = (
            f"# kubectl auth can-i --list for the {account} service account (tests/security/test_rbac.py)\n"
        )
        path.write_text(header + yaml.safe_dump(got, sort_keys=False))
    assert path.exists(), f"{path} missing: run with SSC_UPDATE_EXPECTED_RBAC=1 and review it"
    expected = yaml.safe_load(path.read_text())
    assert got == expected, f"{account}: RBAC differs from {path.name}:\n" + yaml.safe_dump(
        got, sort_keys=False
    )


def service_account(cluster: Cluster, stack: Stack, component: str) -> str:
    """The service account a release's DaemonSet runs as."""
    ds = cluster.kubectl_json(
        "-n",
        stack.namespace,
        "get",
        "daemonsets",
        "-l",
        f"app.kubernetes.io/instance={stack.releases[component]}",
    )["items"]
    assert len(ds) == 1, [d["metadata"]["name"] for d in ds]
    return str(ds[0]["spec"]["template"]["spec"]["serviceAccountName"])


@pytest.mark.parametrize("component", ["driver", "aws", "vault"])
def test_installed_service_accounts_hold_exactly_the_expected_rules(
    cluster: Cluster, stack: Stack, namespace: str, component: str
) -> None:
    release = stack.releases[component]
    sa = service_account(cluster, stack, component)
    account = {"driver": "driver-sync", "aws": "provider-aws", "vault": "provider-vault"}[component]
    check_matrix(cluster, account, stack.namespace, sa, namespace, {release: "<release>"})


@pytest.fixture
def rendered(cluster: Cluster, namespace: str) -> Iterator[Any]:
    """Applies a chart's RBAC objects (from helm template) under a fresh release; removes them after."""
    applied: list[tuple[str, str]] = []

    def apply(chart: str, release: str, *values: str) -> list[dict[str, Any]]:
        out = cluster.helm("template", release, str(REPO / "charts" / chart), "-n", namespace, *values).stdout
        docs = [d for d in yaml.safe_load_all(out) if d and d.get("kind") in RBAC_KINDS]
        applied.extend(
            (d["kind"].lower(), d["metadata"]["name"]) for d in docs if d["kind"].startswith("Cluster")
        )
        cluster.apply(docs, namespace)
        return docs

    yield apply
    for kind, name in applied:  # the namespaced objects go with the namespace
        cluster.kubectl("delete", kind, name, "--ignore-not-found", check=False)


def test_driver_without_sync_holds_no_secret_permission(
    cluster: Cluster, namespace: str, rendered: Any, stack: Stack
) -> None:
    release = f"nosync-{uuid.uuid4().hex[:6]}"
    docs = rendered("secrets-store-csi-driver", release, "--set", "syncSecret.enabled=false")
    sa = next(d["metadata"]["name"] for d in docs if d["kind"] == "ServiceAccount")
    user = f"system:serviceaccount:{namespace}:{sa}"
    for verb in ("get", "list", "watch", "create", "update", "patch", "delete"):
        assert (
            cluster.kubectl(
                "auth", "can-i", verb, "secrets", "-A", f"--as={user}", check=False
            ).stdout.strip()
            == "no"
        ), verb
    check_matrix(cluster, "driver-nosync", namespace, sa, stack.namespace, {release: "<release>"})


def test_operator_service_account_holds_exactly_the_expected_rules(
    cluster: Cluster, namespace: str, rendered: Any, stack: Stack
) -> None:
    release = f"op-{uuid.uuid4().hex[:6]}"
    docs = rendered(
        "secrets-store-csi-driver-operator",
        release,
        "--set",
        f"driver.namespace={namespace}",
        "--set",
        "installCRD=false",
    )
    sa = next(d["metadata"]["name"] for d in docs if d["kind"] == "ServiceAccount")
    check_matrix(cluster, "operator", namespace, sa, stack.namespace, {release: "<release>"})


def test_driver_cannot_list_or_watch_secrets_anywhere(cluster: Cluster, stack: Stack) -> None:
    driver = _as_driver(cluster, stack)
    # The control: the account exists and holds what sync needs.
    assert (
        cluster.kubectl("auth", "can-i", "create", "secrets", "-A", *driver, check=False).stdout.strip()
        == "yes"
    )
    for verb in ("list", "watch", "patch", "delete", "deletecollection"):
        got = cluster.kubectl("auth", "can-i", verb, "secrets", "-A", *driver, check=False).stdout.strip()
        assert got == "no", f"the driver (sync on) may {verb} Secrets"


def _as_driver(cluster: Cluster, stack: Stack) -> list[str]:
    return [
        f"--as=system:serviceaccount:{stack.namespace}:{service_account(cluster, stack, 'driver')}",
        "--as-group=system:serviceaccounts",
        f"--as-group=system:serviceaccounts:{stack.namespace}",
        "--as-group=system:authenticated",
    ]


def _secret(name: str, managed: bool, value: str = "x") -> str:
    labels = {"secrets-store.csi.k8s.io/managed": "true"} if managed else {}
    return yaml.safe_dump(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": name, "labels": labels},
            "stringData": {"k": value},
        }
    )


def test_driver_writes_only_the_secrets_it_manages(cluster: Cluster, stack: Stack, namespace: str) -> None:
    driver = _as_driver(cluster, stack)

    def as_driver(verb: str, body: str) -> Any:
        return cluster.kubectl("-n", namespace, verb, "-f", "-", *driver, input=body, check=False)

    refused = as_driver("create", _secret("unmanaged", managed=False))
    assert refused.returncode != 0 and "only writes Secrets labelled" in refused.stderr, refused.stderr
    assert cluster.kubectl("-n", namespace, "get", "secret", "unmanaged", check=False).returncode != 0

    created = as_driver("create", _secret("managed", managed=True))
    assert created.returncode == 0, created.stderr
    updated = as_driver("replace", _secret("managed", managed=True, value="changed"))
    assert updated.returncode == 0, updated.stderr

    # A Secret someone else owns: the driver may neither change it nor adopt it by adding the label.
    cluster.kubectl("-n", namespace, "create", "-f", "-", input=_secret("users-own", managed=False))
    for body, why in (
        (_secret("users-own", managed=False, value="changed"), "only writes Secrets labelled"),
        (_secret("users-own", managed=True, value="changed"), "only changes or deletes Secrets it created"),
    ):
        refused = as_driver("replace", body)
        assert refused.returncode != 0 and why in refused.stderr, refused.stderr
    data = cluster.kubectl_json("-n", namespace, "get", "secret", "users-own")
    assert data["data"]["k"] == "eA==" and "secrets-store.csi.k8s.io/managed" not in (
        data["metadata"].get("labels") or {}
    )
    # Deleting is not in the driver's RBAC at all (owner references garbage-collect its Secrets).
    deleted = cluster.kubectl("-n", namespace, "delete", "secret", "users-own", *driver, check=False)
    assert deleted.returncode != 0 and "forbidden" in deleted.stderr.lower()
