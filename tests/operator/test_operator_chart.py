"""The operator chart renders without a cluster and holds every permission the driver chart grants."""

from __future__ import annotations

from typing import Any

from operator_env import DRIVER_CHART, OPERATOR_CHART, helm_template

# Every option of the driver chart that adds permissions.
ALL_DRIVER_FEATURES = {
    "syncSecret": {"enabled": True},
    "enableSecretRotation": True,
    "tokenRequests": [{"audience": "vault"}],
    "openshift": {"enabled": True},
    "metrics": {"serviceMonitor": {"enabled": True}},
}


def rules_of(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [rule for o in objects if o["kind"] == kind for rule in o.get("rules", [])]


def grants(
    rules: list[dict[str, Any]],
    group: str,
    resource: str,
    verb: str,
    name: str | None = None,
) -> bool:
    return any(
        group in r.get("apiGroups", [])
        and resource in r.get("resources", [])
        and (verb in r.get("verbs", []) or "*" in r.get("verbs", []))
        and (not r.get("resourceNames") or name in r["resourceNames"])
        for r in rules
    )


def test_the_operator_holds_every_permission_the_driver_roles_grant() -> None:
    """Kubernetes refuses to let the operator create a role granting more than it holds itself."""
    driver = helm_template(DRIVER_CHART, ALL_DRIVER_FEATURES)
    operator = rules_of(helm_template(OPERATOR_CHART), "ClusterRole")
    missing = [
        (group, resource, verb, name)
        for rule in rules_of(driver, "ClusterRole")
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
        for name in rule.get("resourceNames") or [None]
        if not grants(operator, group, resource, verb, name)
    ]
    assert missing == []


def test_the_operator_may_write_every_kind_the_driver_chart_renders() -> None:
    driver = helm_template(DRIVER_CHART, ALL_DRIVER_FEATURES)
    rendered = helm_template(OPERATOR_CHART)
    cluster_rules = rules_of(rendered, "ClusterRole")
    namespaced_rules = rules_of(rendered, "Role")
    plural = {
        "CustomResourceDefinition": "customresourcedefinitions",
        "ServiceAccount": "serviceaccounts",
        "ClusterRole": "clusterroles",
        "ClusterRoleBinding": "clusterrolebindings",
        "Service": "services",
        "DaemonSet": "daemonsets",
        "CSIDriver": "csidrivers",
        "ServiceMonitor": "servicemonitors",
        "ValidatingAdmissionPolicy": "validatingadmissionpolicies",
        "ValidatingAdmissionPolicyBinding": "validatingadmissionpolicybindings",
    }
    for obj in driver:
        group = obj["apiVersion"].rpartition("/")[0]
        rules = namespaced_rules if obj["metadata"].get("namespace") else cluster_rules
        for verb in ("get", "create", "patch") + (
            () if obj["kind"] == "CustomResourceDefinition" else ("delete",)
        ):
            assert grants(rules, group, plural[obj["kind"]], verb), (obj["kind"], verb)


def test_the_crd_is_installed_by_default_and_kept_on_uninstall() -> None:
    [crd] = [o for o in helm_template(OPERATOR_CHART) if o["kind"] == "CustomResourceDefinition"]
    assert crd["metadata"]["name"] == "clustercsidrivers.operator.openshift.io"
    assert crd["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    assert crd["spec"]["scope"] == "Cluster"


def test_openshift_users_leave_the_crd_out() -> None:
    assert not [
        o
        for o in helm_template(OPERATOR_CHART, {"installCRD": False})
        if o["kind"] == "CustomResourceDefinition"
    ]


def test_the_crd_carries_the_openshift_field_names() -> None:
    [crd] = [o for o in helm_template(OPERATOR_CHART) if o["kind"] == "CustomResourceDefinition"]
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]
    spec = schema["spec"]["properties"]
    assert spec["managementState"]["pattern"] == "^(Managed|Unmanaged|Force|Removed)$"
    for field in ("logLevel", "operatorLogLevel"):
        assert set(spec[field]["enum"]) == {"", "Normal", "Debug", "Trace", "TraceAll"}
    secrets_store = spec["driverConfig"]["properties"]["secretsStore"]["properties"]
    assert set(secrets_store) == {"secretRotation", "tokenRequests"}
    status = schema["status"]["properties"]
    assert {"observedGeneration", "conditions", "generations", "readyReplicas"} <= set(status)


def test_the_clustercsidriver_instance_is_optional() -> None:
    assert not [o for o in helm_template(OPERATOR_CHART) if o["kind"] == "ClusterCSIDriver"]
    [ccd] = [
        o
        for o in helm_template(OPERATOR_CHART, {"clusterCSIDriver": {"create": True, "logLevel": "Debug"}})
        if o["kind"] == "ClusterCSIDriver"
    ]
    assert ccd["metadata"]["name"] == "secrets-store.csi.k8s.io"
    assert ccd["spec"] == {
        "managementState": "Managed",
        "logLevel": "Debug",
        "operatorLogLevel": "Normal",
    }


def test_leader_election_is_on_and_the_operator_runs_unprivileged() -> None:
    [deployment] = [o for o in helm_template(OPERATOR_CHART) if o["kind"] == "Deployment"]
    pod = deployment["spec"]["template"]["spec"]
    [container] = pod["containers"]
    assert "--leader-elect" in container["args"]
    assert container["args"][0] == "operator"
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
