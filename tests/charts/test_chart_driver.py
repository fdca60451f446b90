"""The driver chart, one behaviour per test, over `helm template` (no cluster)."""

from __future__ import annotations

from typing import Any, cast

import pytest
from chartrender import DRIVER, NAMESPACE, RELEASE, RenderError, container, find, one, render, render_notes

FULLNAME = f"{RELEASE}-{DRIVER}"
DRIVER_NAME = "secrets-store.csi.k8s.io"


def driver_ds(values: dict[str, Any] | None = None) -> dict[str, Any]:
    ds: dict[str, Any] = one(render(DRIVER, values), "DaemonSet")
    return ds


def args_of(values: dict[str, Any] | None = None) -> list[str]:
    return cast(list[str], container(driver_ds(values), "secrets-store")["args"])


def rules_of(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [rule for role in find(docs, "ClusterRole") for rule in role["rules"]]


def grants(docs: list[dict[str, Any]], resource: str, verb: str) -> bool:
    return any(resource in r["resources"] and verb in r["verbs"] for r in rules_of(docs))


# --- DaemonSet


def test_daemonset_runs_driver_registrar_and_livenessprobe_with_local_images() -> None:
    spec = driver_ds()["spec"]["template"]["spec"]
    images = {c["name"]: (c["image"], c["imagePullPolicy"]) for c in spec["containers"]}
    assert images == {
        "node-driver-registrar": ("localhost/csi-node-driver-registrar:v2.13.0", "IfNotPresent"),
        "secrets-store": ("localhost/secrets-store-csi:0.1.0", "IfNotPresent"),
        "liveness-probe": ("localhost/livenessprobe:v2.15.0", "IfNotPresent"),
    }


def test_driver_container_is_privileged_root_running_the_driver_subcommand() -> None:
    c = container(driver_ds(), "secrets-store")
    assert c["securityContext"] == {"privileged": True, "runAsUser": 0}
    assert c["args"][0] == "driver"


def test_driver_security_context_override_keeps_root_unless_asked() -> None:
    c = container(
        driver_ds(
            {"linux": {"driver": {"securityContext": {"privileged": True, "readOnlyRootFilesystem": True}}}}
        ),
        "secrets-store",
    )
    assert c["securityContext"] == {"privileged": True, "readOnlyRootFilesystem": True, "runAsUser": 0}


def test_pods_and_plugins_dirs_are_mounted_bidirectional_at_the_host_path() -> None:
    mounts = {m["name"]: m for m in container(driver_ds(), "secrets-store")["volumeMounts"]}
    assert mounts["mountpoint-dir"] == {
        "name": "mountpoint-dir",
        "mountPath": "/var/lib/kubelet/pods",
        "mountPropagation": "Bidirectional",
    }
    assert mounts["plugins-dir"] == {
        "name": "plugins-dir",
        "mountPath": "/var/lib/kubelet/plugins",
        "mountPropagation": "Bidirectional",
    }


def test_both_provider_dirs_are_host_mounted_and_passed_as_flags() -> None:
    ds = driver_ds()
    vols = {
        v["name"]: v["hostPath"]["path"] for v in ds["spec"]["template"]["spec"]["volumes"] if "hostPath" in v
    }
    mounts = {m["name"]: m["mountPath"] for m in container(ds, "secrets-store")["volumeMounts"]}
    assert vols["providers-dir"] == mounts["providers-dir"] == "/var/run/secrets-store-csi-providers"
    assert (
        vols["providers-dir-0"] == mounts["providers-dir-0"] == "/etc/kubernetes/secrets-store-csi-providers"
    )
    args = container(ds, "secrets-store")["args"]
    assert "--provider-volume=/var/run/secrets-store-csi-providers" in args
    assert "--additional-provider-volume-paths=/etc/kubernetes/secrets-store-csi-providers" in args


def test_no_additional_provider_dirs_drops_the_flag_and_the_volume() -> None:
    ds = driver_ds({"linux": {"additionalProvidersDirs": []}})
    assert not [a for a in container(ds, "secrets-store")["args"] if a.startswith("--additional-provider")]
    assert "providers-dir-0" not in {v["name"] for v in ds["spec"]["template"]["spec"]["volumes"]}


def test_several_additional_provider_dirs_are_joined_with_commas() -> None:
    args = args_of({"linux": {"additionalProvidersDirs": ["/a", "/b"]}})
    assert "--additional-provider-volume-paths=/a,/b" in args


def test_custom_kubelet_root_dir_moves_every_kubelet_path() -> None:
    ds = driver_ds({"linux": {"kubeletRootDir": "/data/kubelet/"}})
    spec = ds["spec"]["template"]["spec"]
    host = {v["name"]: v["hostPath"]["path"] for v in spec["volumes"]}
    assert host["plugin-dir"] == "/data/kubelet/plugins/csi-secrets-store/"
    assert host["registration-dir"] == "/data/kubelet/plugins_registry/"
    assert host["mountpoint-dir"] == "/data/kubelet/pods"
    assert host["plugins-dir"] == "/data/kubelet/plugins"
    mounts = {m["name"]: m["mountPath"] for m in container(ds, "secrets-store")["volumeMounts"]}
    assert mounts["mountpoint-dir"] == "/data/kubelet/pods"
    assert (
        "--kubelet-registration-path=/data/kubelet/plugins/csi-secrets-store/csi.sock"
        in container(ds, "node-driver-registrar")["args"]
    )
    assert "/var/lib/kubelet" not in str(ds)


def test_default_driver_flags_use_upstream_names_and_defaults() -> None:
    assert args_of() == [
        "driver",
        "--endpoint=$(CSI_ENDPOINT)",
        "--nodeid=$(KUBE_NODE_NAME)",
        "--provider-volume=/var/run/secrets-store-csi-providers",
        "--additional-provider-volume-paths=/etc/kubernetes/secrets-store-csi-providers",
        "--metrics-addr=:8095",
        "--enable-secret-rotation=false",
        "--provider-health-check=false",
        "--max-call-recv-msg-size=4194304",
        "--enable-secret-sync=false",
        "-v=0",
    ]


def test_rotation_health_check_json_logs_and_verbosity_reach_the_flags() -> None:
    args = args_of(
        {
            "enableSecretRotation": True,
            "rotationPollInterval": "45s",
            "providerHealthCheck": True,
            "providerHealthCheckInterval": "1m",
            "logFormatJSON": True,
            "logVerbosity": 5,
            "maxCallRecvMsgSize": 16777216,
        }
    )
    for flag in (
        "--enable-secret-rotation=true",
        "--rotation-poll-interval=45s",
        "--provider-health-check=true",
        "--provider-health-check-interval=1m",
        "--log-format-json=true",
        "-v=5",
        "--max-call-recv-msg-size=16777216",
    ):
        assert flag in args


def test_rotation_with_upstream_empty_interval_uses_two_minutes() -> None:
    assert "--rotation-poll-interval=2m" in args_of(
        {"enableSecretRotation": True, "rotationPollInterval": None}
    )


def test_extra_args_come_after_the_charts_flags() -> None:
    assert args_of({"linux": {"driver": {"extraArgs": ["--foo=bar"]}}})[-1] == "--foo=bar"


def test_endpoint_and_node_name_come_from_the_environment() -> None:
    env = {e["name"]: e for e in container(driver_ds(), "secrets-store")["env"]}
    assert env["CSI_ENDPOINT"]["value"] == "unix:///csi/csi.sock"
    assert env["KUBE_NODE_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "spec.nodeName"


def test_extra_env_volumes_and_mounts_are_appended() -> None:
    ds = driver_ds(
        {
            "linux": {
                "env": [{"name": "X", "value": "1"}],
                "volumes": [{"name": "extra", "emptyDir": {}}],
                "volumeMounts": [{"name": "extra", "mountPath": "/extra"}],
            }
        }
    )
    c = container(ds, "secrets-store")
    assert c["env"][-1] == {"name": "X", "value": "1"}
    assert c["volumeMounts"][-1] == {"name": "extra", "mountPath": "/extra"}
    assert ds["spec"]["template"]["spec"]["volumes"][-1] == {"name": "extra", "emptyDir": {}}


def test_metrics_and_health_ports_follow_values() -> None:
    c = container(
        driver_ds({"linux": {"metricsAddr": "0.0.0.0:9100"}, "livenessProbe": {"port": 9909}}),
        "secrets-store",
    )
    assert {p["name"]: p["containerPort"] for p in c["ports"]} == {"healthz": 9909, "metrics": 9100}
    assert "--metrics-addr=0.0.0.0:9100" in c["args"]
    ds = driver_ds({"livenessProbe": {"port": 9909, "logLevel": 4}})
    assert container(ds, "liveness-probe")["args"] == [
        "--csi-address=/csi/csi.sock",
        "--probe-timeout=3s",
        "--http-endpoint=0.0.0.0:9909",
        "-v=4",
    ]


def test_driver_is_ready_only_when_the_csi_probe_answers() -> None:
    c = container(driver_ds(), "secrets-store")
    assert c["readinessProbe"]["httpGet"] == {"path": "/healthz", "port": "healthz"}
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "healthz"}


def test_sidecars_drop_every_capability_and_keep_a_read_only_root() -> None:
    ds = driver_ds()
    for name in ("node-driver-registrar", "liveness-probe"):
        sc = container(ds, name)["securityContext"]
        assert sc["capabilities"] == {"drop": ["ALL"]}
        assert sc["readOnlyRootFilesystem"] is True
        assert sc["allowPrivilegeEscalation"] is False


def test_registrar_verbosity_follows_values() -> None:
    assert (
        "--v=2"
        in container(driver_ds({"linux": {"registrar": {"logVerbosity": 2}}}), "node-driver-registrar")[
            "args"
        ]
    )


def test_scheduling_defaults_reach_every_node_but_virtual_kubelet() -> None:
    spec = driver_ds()["spec"]["template"]["spec"]
    assert spec["priorityClassName"] == "system-node-critical"
    assert spec["tolerations"] == [{"operator": "Exists"}]
    assert spec["nodeSelector"] == {"kubernetes.io/os": "linux"}
    term = spec["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][
        "nodeSelectorTerms"
    ]
    assert term[0]["matchExpressions"][0]["values"] == ["virtual-kubelet"]


def test_scheduling_and_pod_knobs_reach_the_pod() -> None:
    ds = driver_ds(
        {
            "linux": {
                "tolerations": [{"key": "k", "operator": "Equal", "value": "v", "effect": "NoSchedule"}],
                "nodeSelector": {"role": "x"},
                "affinity": None,
                "priorityClassName": "",
                "podLabels": {"pl": "1"},
                "podAnnotations": {"pa": "2"},
                "daemonsetAnnotations": {"da": "3"},
                "updateStrategy": {"type": "OnDelete"},
                "driver": {"resources": {"requests": {"cpu": "1"}, "limits": None}},
            },
            "imagePullSecrets": [{"name": "regcred"}],
        }
    )
    spec = ds["spec"]["template"]["spec"]
    assert spec["tolerations"] == [{"key": "k", "operator": "Equal", "value": "v", "effect": "NoSchedule"}]
    # Helm merges maps with the defaults; null removes a default.
    assert spec["nodeSelector"] == {"kubernetes.io/os": "linux", "role": "x"}
    assert "affinity" not in spec and "priorityClassName" not in spec
    assert spec["imagePullSecrets"] == [{"name": "regcred"}]
    assert ds["spec"]["template"]["metadata"]["labels"]["pl"] == "1"
    assert ds["spec"]["template"]["metadata"]["annotations"]["pa"] == "2"
    assert ds["metadata"]["annotations"] == {"da": "3"}
    assert ds["spec"]["updateStrategy"] == {"type": "OnDelete"}
    assert container(ds, "secrets-store")["resources"] == {"requests": {"cpu": "1", "memory": "100Mi"}}


def test_image_digest_wins_over_tag_and_empty_tag_means_app_version() -> None:
    digest = "sha256:" + "a" * 64
    assert (
        container(driver_ds({"linux": {"image": {"digest": digest, "tag": "x"}}}), "secrets-store")["image"]
        == f"localhost/secrets-store-csi@{digest}"
    )
    assert (
        container(driver_ds({"linux": {"image": {"tag": "9.9.9"}}}), "secrets-store")["image"]
        == "localhost/secrets-store-csi:9.9.9"
    )


def test_selector_labels_are_a_subset_of_pod_labels() -> None:
    ds = driver_ds({"commonLabels": {"team": "a"}, "linux": {"podLabels": {"x": "y"}}})
    selector = ds["spec"]["selector"]["matchLabels"]
    assert selector.items() <= ds["spec"]["template"]["metadata"]["labels"].items()
    assert "team" not in selector and "helm.sh/chart" not in selector


def test_linux_disabled_renders_no_workload_and_no_cluster_objects() -> None:
    docs = render(DRIVER, {"linux": {"enabled": False}})
    assert {d["kind"] for d in docs} <= {"ServiceAccount"}


# --- CSIDriver


def test_csidriver_declares_an_ephemeral_pod_info_driver_without_attach() -> None:
    spec = one(render(DRIVER), "CSIDriver", DRIVER_NAME)["spec"]
    assert spec == {
        "podInfoOnMount": True,
        "attachRequired": False,
        "volumeLifecycleModes": ["Ephemeral"],
        "fsGroupPolicy": "ReadWriteOnceWithFSType",
    }


def test_rotation_asks_the_kubelet_to_republish() -> None:
    assert (
        one(render(DRIVER, {"enableSecretRotation": True}), "CSIDriver")["spec"]["requiresRepublish"] is True
    )


def test_token_requests_are_declared_on_the_csidriver() -> None:
    tr = [{"audience": "sts.amazonaws.com"}, {"audience": "vault", "expirationSeconds": 3600}]
    spec = one(render(DRIVER, {"tokenRequests": tr}), "CSIDriver")["spec"]
    assert spec["tokenRequests"] == tr
    assert "requiresRepublish" not in spec


def test_fs_group_policy_follows_values() -> None:
    assert one(render(DRIVER, {"fsGroupPolicy": "File"}), "CSIDriver")["spec"]["fsGroupPolicy"] == "File"


# --- RBAC


def test_default_rbac_is_exactly_the_calls_the_driver_makes() -> None:
    docs = render(DRIVER)
    role = one(docs, "ClusterRole", FULLNAME)
    assert role["rules"] == [
        {
            "apiGroups": ["secrets-store.csi.x-k8s.io"],
            "resources": ["secretproviderclasses"],
            "verbs": ["get", "list", "watch"],
        },
        {
            "apiGroups": ["secrets-store.csi.x-k8s.io"],
            "resources": ["secretproviderclasspodstatuses"],
            "verbs": ["get", "create", "update"],
        },
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]},
        {"apiGroups": [""], "resources": ["events"], "verbs": ["create"]},
    ]
    assert len(find(docs, "ClusterRole")) == 1


def test_default_rbac_grants_nothing_on_secrets_or_tokens() -> None:
    docs = render(DRIVER)
    assert not [r for r in rules_of(docs) if {"secrets", "serviceaccounts/token"} & set(r["resources"])]
    assert not find(docs, "ValidatingAdmissionPolicy")


def test_every_role_is_bound_to_the_driver_service_account_only() -> None:
    docs = render(
        DRIVER,
        {
            "syncSecret": {"enabled": True},
            "enableSecretRotation": True,
            "tokenRequests": [{"audience": "a"}],
            "openshift": {"enabled": True},
        },
    )
    roles = {r["metadata"]["name"] for r in find(docs, "ClusterRole")}
    bindings = find(docs, "ClusterRoleBinding")
    assert {b["roleRef"]["name"] for b in bindings} == roles
    for b in bindings:
        assert b["subjects"] == [{"kind": "ServiceAccount", "name": FULLNAME, "namespace": NAMESPACE}]


def test_sync_secret_adds_the_secret_writing_role_and_the_managed_only_policy() -> None:
    docs = render(DRIVER, {"syncSecret": {"enabled": True}})
    role = one(docs, "ClusterRole", f"{FULLNAME}-syncsecret")
    assert role["rules"] == [
        {
            "apiGroups": [""],
            "resources": ["secrets"],
            "verbs": ["get", "create", "update"],
        }
    ]
    vap = one(docs, "ValidatingAdmissionPolicy")
    assert vap["spec"]["matchConditions"][0]["expression"] == (
        f'request.userInfo.username == "system:serviceaccount:{NAMESPACE}:{FULLNAME}"'
    )
    assert vap["spec"]["failurePolicy"] == "Fail"
    binding = one(docs, "ValidatingAdmissionPolicyBinding")
    assert binding["spec"] == {"policyName": vap["metadata"]["name"], "validationActions": ["Deny"]}


def test_managed_only_policy_can_be_turned_off() -> None:
    docs = render(DRIVER, {"syncSecret": {"enabled": True, "restrictToManagedSecrets": False}})
    assert find(docs, "ClusterRole", f"{FULLNAME}-syncsecret")
    assert not find(docs, "ValidatingAdmissionPolicy")


def test_token_requests_without_rotation_add_no_permission() -> None:
    docs = render(DRIVER, {"tokenRequests": [{"audience": "vault"}], "providerHealthCheck": True})
    assert find(docs, "ClusterRole") == find(render(DRIVER), "ClusterRole")


def test_rotation_adds_reading_its_volumes_back_and_tokens_only_with_token_requests() -> None:
    docs = render(DRIVER, {"enableSecretRotation": True})
    assert one(docs, "ClusterRole", f"{FULLNAME}-rotation")["rules"] == [
        {
            "apiGroups": ["secrets-store.csi.x-k8s.io"],
            "resources": ["secretproviderclasspodstatuses"],
            "verbs": ["list"],
        },
        {"apiGroups": ["storage.k8s.io"], "resources": ["csidrivers"], "verbs": ["get"]},
        {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]},
    ]
    assert not grants(docs, "serviceaccounts/token", "create")
    docs = render(DRIVER, {"enableSecretRotation": True, "tokenRequests": [{"audience": "vault"}]})
    assert one(docs, "ClusterRole", f"{FULLNAME}-tokenrequest")["rules"] == [
        {"apiGroups": [""], "resources": ["serviceaccounts/token"], "verbs": ["create"]}
    ]


def test_rbac_install_false_renders_no_roles() -> None:
    docs = render(DRIVER, {"rbac": {"install": False}, "syncSecret": {"enabled": True}})
    assert not find(docs, "ClusterRole") and not find(docs, "ClusterRoleBinding")


def test_existing_service_account_is_used_by_pod_bindings_and_policy() -> None:
    docs = render(
        DRIVER, {"serviceAccount": {"create": False, "name": "mine"}, "syncSecret": {"enabled": True}}
    )
    assert not find(docs, "ServiceAccount")
    assert one(docs, "DaemonSet")["spec"]["template"]["spec"]["serviceAccountName"] == "mine"
    assert all(b["subjects"][0]["name"] == "mine" for b in find(docs, "ClusterRoleBinding"))
    assert (
        f":{NAMESPACE}:mine"
        in one(docs, "ValidatingAdmissionPolicy")["spec"]["matchConditions"][0]["expression"]
    )


def test_existing_service_account_must_be_named() -> None:
    with pytest.raises(RenderError, match=r"serviceAccount\.name is required"):
        render(DRIVER, {"serviceAccount": {"create": False}})


def test_service_account_annotations_are_set() -> None:
    sa = one(render(DRIVER, {"serviceAccount": {"annotations": {"a": "b"}}}), "ServiceAccount")
    assert sa["metadata"]["annotations"] == {"a": "b"}


# --- OpenShift


def test_openshift_grants_the_privileged_scc_and_labels_the_csidriver_restricted() -> None:
    docs = render(DRIVER, {"openshift": {"enabled": True}})
    assert one(docs, "ClusterRole", f"{FULLNAME}-privileged-scc")["rules"] == [
        {
            "apiGroups": ["security.openshift.io"],
            "resources": ["securitycontextconstraints"],
            "resourceNames": ["privileged"],
            "verbs": ["use"],
        }
    ]
    labels = one(docs, "CSIDriver")["metadata"]["labels"]
    assert labels["security.openshift.io/csi-ephemeral-volume-profile"] == "restricted"


def test_without_openshift_there_is_no_scc_and_no_profile_label() -> None:
    docs = render(DRIVER)
    assert (
        "security.openshift.io/csi-ephemeral-volume-profile"
        not in one(docs, "CSIDriver")["metadata"]["labels"]
    )
    assert "securitycontextconstraints" not in str(rules_of(docs))


# --- metrics


def test_metrics_service_selects_driver_pods_on_the_metrics_port() -> None:
    docs = render(DRIVER, {"linux": {"metricsAddr": ":9095"}})
    svc = one(docs, "Service")
    assert svc["spec"]["ports"] == [
        {"name": "metrics", "port": 9095, "targetPort": "metrics", "protocol": "TCP"}
    ]
    assert svc["spec"]["selector"] == one(docs, "DaemonSet")["spec"]["selector"]["matchLabels"]
    assert not find(docs, "ServiceMonitor")


def test_metrics_service_can_be_turned_off() -> None:
    assert not find(render(DRIVER, {"metrics": {"service": {"enabled": False}}}), "Service")


def test_service_monitor_scrapes_the_metrics_service() -> None:
    docs = render(
        DRIVER,
        {"metrics": {"serviceMonitor": {"enabled": True, "interval": "10s", "labels": {"release": "prom"}}}},
    )
    sm = one(docs, "ServiceMonitor")
    assert sm["metadata"]["labels"]["release"] == "prom"
    assert sm["spec"]["endpoints"] == [{"port": "metrics", "path": "/metrics", "interval": "10s"}]
    assert sm["spec"]["selector"]["matchLabels"] == one(docs, "Service")["spec"]["selector"]


def test_service_monitor_without_the_service_is_refused() -> None:
    with pytest.raises(RenderError, match=r"needs metrics\.service\.enabled"):
        render(DRIVER, {"metrics": {"service": {"enabled": False}, "serviceMonitor": {"enabled": True}}})


# --- objects, names, schema


def test_namespaced_objects_land_in_the_release_namespace_and_carry_common_labels() -> None:
    docs = render(DRIVER, {"commonLabels": {"team": "platform"}, "syncSecret": {"enabled": True}})
    for d in docs:
        assert d["metadata"]["labels"]["team"] == "platform", d["kind"]
        assert d["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "Helm"
        if d["kind"] in ("DaemonSet", "ServiceAccount", "Service"):
            assert d["metadata"]["namespace"] == NAMESPACE


def test_fullname_override_renames_every_object_but_the_csidriver() -> None:
    docs = render(DRIVER, {"fullnameOverride": "ssc"})
    names = {(d["kind"], d["metadata"]["name"]) for d in docs}
    assert ("DaemonSet", "ssc") in names and ("CSIDriver", DRIVER_NAME) in names
    assert not [n for k, n in names if FULLNAME in n]


def test_release_name_containing_the_chart_name_is_not_repeated() -> None:
    ds = one(render(DRIVER, release="secrets-store-csi-driver"), "DaemonSet")
    assert ds["metadata"]["name"] == "secrets-store-csi-driver"


def test_crds_define_v1_stored_and_v1alpha1_served_deprecated() -> None:
    crds = find(render(DRIVER, include_crds=True), "CustomResourceDefinition")
    assert {c["metadata"]["name"] for c in crds} == {
        "secretproviderclasses.secrets-store.csi.x-k8s.io",
        "secretproviderclasspodstatuses.secrets-store.csi.x-k8s.io",
    }
    for crd in crds:
        versions = {v["name"]: v for v in crd["spec"]["versions"]}
        assert versions["v1"]["storage"] and versions["v1"]["served"]
        assert not versions["v1alpha1"]["storage"] and versions["v1alpha1"]["served"]
        assert versions["v1alpha1"]["deprecated"] is True
        assert versions["v1"]["schema"] == versions["v1alpha1"]["schema"], (
            "no conversion webhook: schemas equal"
        )
        assert crd["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"


def test_secretproviderclass_schema_has_the_upstream_fields() -> None:
    crd = one(
        render(DRIVER, include_crds=True),
        "CustomResourceDefinition",
        "secretproviderclasses.secrets-store.csi.x-k8s.io",
    )
    spec = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]
    assert spec["provider"]["type"] == "string"
    assert spec["parameters"]["additionalProperties"] == {"type": "string"}
    obj = spec["secretObjects"]["items"]["properties"]
    assert set(obj) == {"secretName", "type", "labels", "annotations", "data"}
    assert set(obj["data"]["items"]["properties"]) == {"objectName", "key"}


def test_podstatus_schema_has_the_upstream_fields() -> None:
    crd = one(
        render(DRIVER, include_crds=True),
        "CustomResourceDefinition",
        "secretproviderclasspodstatuses.secrets-store.csi.x-k8s.io",
    )
    status = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["status"]["properties"]
    assert set(status) == {"podName", "secretProviderClassName", "mounted", "targetPath", "objects"}
    assert status["mounted"]["type"] == "boolean"
    assert set(status["objects"]["items"]["properties"]) == {"id", "version"}


def test_crds_are_not_templates_so_plain_template_output_has_none() -> None:
    assert not find(render(DRIVER), "CustomResourceDefinition")


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"windows": {"enabled": True}}, "windows"),
        ({"notAValue": 1}, "notAValue"),
        ({"fsGroupPolicy": "Sometimes"}, "fsGroupPolicy"),
        ({"linux": {"metricsAddr": "localhost"}}, "metricsAddr"),
        ({"rotationPollInterval": "soon"}, "rotationPollInterval"),
        ({"linux": {"image": {"pullPolicy": "Sometimes"}}}, "pullPolicy"),
        ({"tokenRequests": [{"expirationSeconds": 3600}]}, "audience"),
    ],
)
def test_schema_refuses_bad_values(values: dict[str, Any], message: str) -> None:
    with pytest.raises(RenderError, match=message):
        render(DRIVER, values)


def test_notes_print_a_verify_command() -> None:
    notes = render_notes(DRIVER)
    assert f"kubectl -n {NAMESPACE} rollout status daemonset/{FULLNAME}" in notes
    assert f"kubectl get csidriver {DRIVER_NAME}" in notes
    assert "kubectl apply --server-side -f" in notes
    assert "Sync to Kubernetes Secrets is on" in render_notes(DRIVER, {"syncSecret": {"enabled": True}})
    assert "Rotation is on: every 2m" in render_notes(DRIVER, {"enableSecretRotation": True})
