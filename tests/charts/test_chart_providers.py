"""The three provider charts, over `helm template` (no cluster): the same behaviour for aws, azure and vault
where their templates are shared, and each provider's own backend settings and RBAC."""

from __future__ import annotations

import filecmp
import json
from typing import Any

import pytest
import yaml
from chartrender import (
    CHARTS_DIR,
    NAMESPACE,
    PROVIDERS,
    RELEASE,
    RenderError,
    container,
    find,
    one,
    render,
    render_notes,
)

SHARED_TEMPLATES = (
    "_helpers.tpl",
    "daemonset.yaml",
    "serviceaccount.yaml",
    "rbac.yaml",
    "configmap-ca.yaml",
    "NOTES.txt",
)
SOCKET_DIR = "/var/run/secrets-store-csi-providers"


def chart(provider: str) -> str:
    return f"secrets-store-csi-provider-{provider}"


def provider_ds(provider: str, values: dict[str, Any] | None = None) -> dict[str, Any]:
    ds: dict[str, Any] = one(render(chart(provider), values), "DaemonSet")
    return ds


def env_of(provider: str, values: dict[str, Any] | None = None) -> dict[str, str]:
    return {e["name"]: e.get("value") for e in container(provider_ds(provider, values), "provider")["env"]}


all_providers = pytest.mark.parametrize("provider", PROVIDERS)


@pytest.mark.parametrize("name", SHARED_TEMPLATES)
def test_shared_templates_are_identical_in_every_provider_chart(name: str) -> None:
    first = CHARTS_DIR / chart(PROVIDERS[0]) / "templates" / name
    for provider in PROVIDERS[1:]:
        other = CHARTS_DIR / chart(provider) / "templates" / name
        assert filecmp.cmp(first, other, shallow=False), f"{other} drifted from {first}"


@all_providers
def test_provider_chart_installs_no_driver(provider: str) -> None:
    kinds = {d["kind"] for d in render(chart(provider), {"openshift": {"enabled": True}}, include_crds=True)}
    assert not kinds & {"CSIDriver", "CustomResourceDefinition", "ValidatingAdmissionPolicy"}
    assert len(find(render(chart(provider)), "DaemonSet")) == 1
    assert not (CHARTS_DIR / chart(provider) / "charts").exists(), "no bundled sub-charts (a second driver)"


@all_providers
def test_provider_runs_its_subcommand_on_the_shared_socket_dir(provider: str) -> None:
    c = container(provider_ds(provider), "provider")
    assert c["image"] == "localhost/secrets-store-csi:0.1.0"
    assert c["args"] == ["provider", provider, f"--socket-dir={SOCKET_DIR}", "--log-level=info"]
    assert {"name": "providers-dir", "mountPath": SOCKET_DIR} in c["volumeMounts"]
    vol = {v["name"]: v for v in provider_ds(provider)["spec"]["template"]["spec"]["volumes"]}[
        "providers-dir"
    ]
    assert vol["hostPath"] == {"path": SOCKET_DIR, "type": "DirectoryOrCreate"}


@all_providers
def test_provider_runs_as_non_root_with_nothing_extra(provider: str) -> None:
    ds = provider_ds(provider)
    pod_sc = ds["spec"]["template"]["spec"]["securityContext"]
    assert pod_sc == {
        "runAsUser": 65532,
        "runAsGroup": 65532,
        "runAsNonRoot": True,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    sc = container(ds, "provider")["securityContext"]
    assert sc == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
    }


@all_providers
def test_socket_dir_init_step_is_root_with_only_chown_and_fowner(provider: str) -> None:
    ds = provider_ds(provider)
    init = ds["spec"]["template"]["spec"]["initContainers"]
    assert [c["name"] for c in init] == ["socket-dir"]
    sc = init[0]["securityContext"]
    assert sc["runAsUser"] == 0 and sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"] == {"drop": ["ALL"], "add": ["CHOWN", "FOWNER"]}
    script = init[0]["command"][-1]
    assert f'rm -f "{SOCKET_DIR}/{provider}.sock"' in script
    assert f'chgrp 65532 "{SOCKET_DIR}"' in script
    assert f'chmod g+rwx,+t "{SOCKET_DIR}"' in script


@all_providers
def test_socket_dir_init_step_follows_the_group_and_can_be_turned_off(provider: str) -> None:
    ds = provider_ds(provider, {"securityContext": {"runAsUser": 1000, "runAsGroup": 2000}})
    assert "chgrp 2000 " in container(ds, "socket-dir")["command"][-1]
    assert ds["spec"]["template"]["spec"]["securityContext"]["runAsUser"] == 1000
    ds = provider_ds(provider, {"socketDirPermissions": {"enabled": False}})
    assert "initContainers" not in ds["spec"]["template"]["spec"]


@all_providers
def test_custom_socket_dir_moves_the_mount_the_flag_and_the_probe(provider: str) -> None:
    ds = provider_ds(provider, {"socketDir": "/etc/kubernetes/secrets-store-csi-providers/"})
    c = container(ds, "provider")
    assert "--socket-dir=/etc/kubernetes/secrets-store-csi-providers" in c["args"]
    assert c["readinessProbe"]["exec"]["command"] == [
        "test",
        "-S",
        f"/etc/kubernetes/secrets-store-csi-providers/{provider}.sock",
    ]
    assert SOCKET_DIR not in str(ds)


@all_providers
def test_provider_knows_its_node(provider: str) -> None:
    env = container(provider_ds(provider), "provider")["env"]
    assert {
        "name": "NODE_NAME",
        "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "spec.nodeName"}},
    } in env


@all_providers
def test_provider_is_ready_once_its_socket_exists(provider: str) -> None:
    c = container(provider_ds(provider), "provider")
    assert c["readinessProbe"]["exec"]["command"] == ["test", "-S", f"{SOCKET_DIR}/{provider}.sock"]
    assert "livenessProbe" not in c and "ports" not in c


@all_providers
def test_metrics_open_a_port_a_flag_and_a_liveness_probe(provider: str) -> None:
    c = container(provider_ds(provider, {"metrics": {"enabled": True, "port": 9123}}), "provider")
    assert "--metrics-addr=0.0.0.0:9123" in c["args"]
    assert c["ports"] == [{"name": "metrics", "containerPort": 9123, "protocol": "TCP"}]
    assert c["livenessProbe"]["httpGet"] == {"path": "/metrics", "port": "metrics"}


@all_providers
def test_scheduling_defaults_follow_the_driver(provider: str) -> None:
    spec = provider_ds(provider)["spec"]["template"]["spec"]
    assert spec["tolerations"] == [{"operator": "Exists"}]
    assert spec["nodeSelector"] == {"kubernetes.io/os": "linux"}
    assert spec["priorityClassName"] == "system-node-critical"


@all_providers
def test_scheduling_and_pod_knobs_reach_the_pod(provider: str) -> None:
    ds = provider_ds(
        provider,
        {
            "tolerations": [{"key": "a", "operator": "Exists"}],
            "nodeSelector": {"kubernetes.io/os": None, "n": "1"},
            "affinity": {"podAntiAffinity": {}},
            "priorityClassName": "",
            "imagePullSecrets": [{"name": "r"}],
            "podLabels": {"pl": "1"},
            "podAnnotations": {"pa": "1"},
            "daemonsetAnnotations": {"da": "1"},
            "updateStrategy": {"type": "OnDelete"},
            "resources": {"limits": {"memory": "1Gi", "cpu": None}, "requests": None},
            "env": [{"name": "E", "value": "v"}],
            "extraArgs": ["--x"],
            "volumes": [{"name": "v", "emptyDir": {}}],
            "volumeMounts": [{"name": "v", "mountPath": "/v"}],
            "image": {"tag": "1.2.3", "pullPolicy": "Never"},
            "logLevel": "debug",
        },
    )
    spec = ds["spec"]["template"]["spec"]
    c = container(ds, "provider")
    assert spec["tolerations"] == [{"key": "a", "operator": "Exists"}]
    assert spec["nodeSelector"] == {"n": "1"} and spec["affinity"] == {"podAntiAffinity": {}}
    assert "priorityClassName" not in spec and spec["imagePullSecrets"] == [{"name": "r"}]
    assert ds["spec"]["template"]["metadata"]["labels"]["pl"] == "1"
    assert ds["spec"]["template"]["metadata"]["annotations"]["pa"] == "1"
    assert ds["metadata"]["annotations"] == {"da": "1"} and ds["spec"]["updateStrategy"] == {
        "type": "OnDelete"
    }
    assert c["resources"] == {"limits": {"memory": "1Gi"}}
    assert (
        c["env"][-1] == {"name": "E", "value": "v"}
        and c["args"][-1] == "--x"
        and "--log-level=debug" in c["args"]
    )
    assert {"name": "v", "mountPath": "/v"} in c["volumeMounts"] and {"name": "v", "emptyDir": {}} in spec[
        "volumes"
    ]
    assert c["image"] == "localhost/secrets-store-csi:1.2.3" and c["imagePullPolicy"] == "Never"
    assert container(ds, "socket-dir")["image"] == c["image"]


@all_providers
def test_ca_bundle_pem_becomes_a_configmap_mounted_and_trusted(provider: str) -> None:
    pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
    docs = render(chart(provider), {"caBundle": {"pem": pem}})
    cm = one(docs, "ConfigMap")
    assert cm["data"] == {"ca.crt": pem}
    ds = one(docs, "DaemonSet")
    c = container(ds, "provider")
    assert {"name": "ca-bundle", "mountPath": "/etc/secrets-store-csi/ca", "readOnly": True} in c[
        "volumeMounts"
    ]
    vols = {v["name"]: v for v in ds["spec"]["template"]["spec"]["volumes"]}
    assert vols["ca-bundle"]["configMap"]["name"] == cm["metadata"]["name"]
    env = {e["name"]: e.get("value") for e in c["env"]}
    assert env["SSL_CERT_FILE"] == "/etc/secrets-store-csi/ca/ca.crt"
    if provider == "aws":
        assert env["AWS_CA_BUNDLE"] == "/etc/secrets-store-csi/ca/ca.crt"
    assert "checksum/ca-bundle" in ds["spec"]["template"]["metadata"]["annotations"]


@all_providers
def test_ca_bundle_from_an_existing_configmap_creates_none(provider: str) -> None:
    docs = render(chart(provider), {"caBundle": {"configMap": {"name": "corp-ca", "key": "bundle.pem"}}})
    assert not find(docs, "ConfigMap")
    ds = one(docs, "DaemonSet")
    vols = {v["name"]: v for v in ds["spec"]["template"]["spec"]["volumes"]}
    assert vols["ca-bundle"]["configMap"]["name"] == "corp-ca"
    assert (
        env_of(provider, {"caBundle": {"configMap": {"name": "corp-ca", "key": "bundle.pem"}}})[
            "SSL_CERT_FILE"
        ]
        == "/etc/secrets-store-csi/ca/bundle.pem"
    )


@all_providers
def test_no_ca_bundle_no_trust_override(provider: str) -> None:
    docs = render(chart(provider))
    assert not find(docs, "ConfigMap")
    assert "SSL_CERT_FILE" not in env_of(provider)


def test_aws_endpoints_reach_the_sdk_environment() -> None:
    env = env_of(
        "aws",
        {
            "aws": {
                "region": "eu-west-1",
                "endpointUrl": "http://10.0.0.1:15000",
                "stsEndpointUrl": "http://sts:1",
                "secretsManagerEndpointUrl": "http://sm:2",
                "ssmEndpointUrl": "http://ssm:3",
            }
        },
    )
    assert env["AWS_REGION"] == "eu-west-1"
    assert env["AWS_ENDPOINT_URL"] == "http://10.0.0.1:15000"
    assert env["AWS_ENDPOINT_URL_STS"] == "http://sts:1"
    assert env["AWS_ENDPOINT_URL_SECRETS_MANAGER"] == "http://sm:2"
    assert env["AWS_ENDPOINT_URL_SSM"] == "http://ssm:3"
    assert not [k for k in env_of("aws") if k.startswith("AWS_")]


def test_azure_authority_and_identity_endpoint_reach_the_environment() -> None:
    env = env_of(
        "azure",
        {
            "azure": {
                "authorityHost": "https://login.microsoftonline.us/",
                "podIdentityAuthorityHost": "http://169.254.169.254",
            }
        },
    )
    assert env["AZURE_AUTHORITY_HOST"] == "https://login.microsoftonline.us/"
    assert env["AZURE_POD_IDENTITY_AUTHORITY_HOST"] == "http://169.254.169.254"
    assert not [k for k in env_of("azure") if k.startswith("AZURE_")]


def test_azure_custom_cloud_becomes_an_environment_file() -> None:
    cloud = {
        "keyVaultDNSSuffix": "10.0.0.1:18443",
        "activeDirectoryEndpoint": "http://10.0.0.1:18080/",
        "resourceIdentifiers": {"keyVault": "https://10.0.0.1:18443"},
    }
    docs = render(chart("azure"), {"azure": {"customCloud": cloud}})
    cm = one(docs, "ConfigMap")
    assert json.loads(cm["data"]["environment.json"]) == cloud
    ds = one(docs, "DaemonSet")
    c = container(ds, "provider")
    env = {e["name"]: e.get("value") for e in c["env"]}
    assert env["AZURE_ENVIRONMENT_FILEPATH"] == "/etc/secrets-store-csi/azure/environment.json"
    assert {"name": "azure-environment", "mountPath": "/etc/secrets-store-csi/azure", "readOnly": True} in c[
        "volumeMounts"
    ]
    vols = {v["name"]: v for v in ds["spec"]["template"]["spec"]["volumes"]}
    assert vols["azure-environment"]["configMap"]["name"] == cm["metadata"]["name"]
    with pytest.raises(RenderError, match="customCloud"):
        render(chart("azure"), {"azure": {"customCloud": {"keyVaultDNSSuffix": "x"}}})


def test_vault_address_and_auth_mount_reach_the_environment() -> None:
    env = env_of("vault", {"vault": {"address": "https://vault:8200", "authMount": "k8s"}})
    assert env["VAULT_ADDR"] == "https://vault:8200"
    assert env["VAULT_AUTH_MOUNT"] == "k8s"
    assert not [k for k in env_of("vault") if k.startswith("VAULT_")]


def test_aws_may_read_service_accounts_and_nodes_and_nothing_else() -> None:
    docs = render(chart("aws"))
    role = one(docs, "ClusterRole")
    assert role["rules"] == [
        {"apiGroups": [""], "resources": ["serviceaccounts"], "verbs": ["get"]},
        {"apiGroups": [""], "resources": ["nodes"], "verbs": ["get"]},
    ]
    binding = one(docs, "ClusterRoleBinding")
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": f"{RELEASE}-{chart('aws')}", "namespace": NAMESPACE}
    ]
    assert one(docs, "DaemonSet")["spec"]["template"]["spec"]["automountServiceAccountToken"] is True


@pytest.mark.parametrize("provider", ["azure", "vault"])
def test_azure_and_vault_need_no_api_access(provider: str) -> None:
    docs = render(chart(provider))
    assert not find(docs, "ClusterRole") and not find(docs, "ClusterRoleBinding")
    assert one(docs, "DaemonSet")["spec"]["template"]["spec"]["automountServiceAccountToken"] is False
    assert one(docs, "ServiceAccount")["automountServiceAccountToken"] is False


@all_providers
def test_openshift_adds_privileged_scc_use(provider: str) -> None:
    docs = render(chart(provider), {"openshift": {"enabled": True}})
    rules = one(docs, "ClusterRole")["rules"]
    assert rules[-1] == {
        "apiGroups": ["security.openshift.io"],
        "resources": ["securitycontextconstraints"],
        "resourceNames": ["privileged"],
        "verbs": ["use"],
    }
    assert one(docs, "ClusterRoleBinding")["roleRef"]["name"] == one(docs, "ClusterRole")["metadata"]["name"]


@all_providers
def test_rbac_install_false_renders_no_roles(provider: str) -> None:
    docs = render(chart(provider), {"rbac": {"install": False}, "openshift": {"enabled": True}})
    assert not find(docs, "ClusterRole")


@all_providers
def test_existing_service_account(provider: str) -> None:
    docs = render(chart(provider), {"serviceAccount": {"create": False, "name": "mine"}})
    assert not find(docs, "ServiceAccount")
    assert one(docs, "DaemonSet")["spec"]["template"]["spec"]["serviceAccountName"] == "mine"
    with pytest.raises(RenderError, match=r"serviceAccount\.name is required"):
        render(chart(provider), {"serviceAccount": {"create": False}})


@all_providers
def test_selector_labels_are_stable_and_a_subset_of_pod_labels(provider: str) -> None:
    ds = provider_ds(provider, {"commonLabels": {"team": "x"}})
    sel = ds["spec"]["selector"]["matchLabels"]
    assert sel == {
        "app.kubernetes.io/name": chart(provider),
        "app.kubernetes.io/instance": RELEASE,
        "app.kubernetes.io/component": "provider",
    }
    assert sel.items() <= ds["spec"]["template"]["metadata"]["labels"].items()
    assert ds["metadata"]["labels"]["team"] == "x"


@all_providers
def test_digest_pins_both_containers(provider: str) -> None:
    digest = "sha256:" + "b" * 64
    ds = provider_ds(provider, {"image": {"digest": digest}})
    assert (
        container(ds, "provider")["image"]
        == container(ds, "socket-dir")["image"]
        == (f"localhost/secrets-store-csi@{digest}")
    )


@all_providers
@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"logLevel": "loud"}, "logLevel"),
        ({"socketDir": "relative/dir"}, "socketDir"),
        ({"driver": {}}, "driver"),
        ({"securityContext": {"runAsUser": -1}}, "runAsUser"),
    ],
)
def test_schema_refuses_bad_values(provider: str, values: dict[str, Any], message: str) -> None:
    with pytest.raises(RenderError, match=message):
        render(chart(provider), values)


@pytest.mark.parametrize(
    ("provider", "values"),
    [
        ("aws", {"aws": {"endpointUrl": "moto:15000"}}),
        ("azure", {"azure": {"authorityHost": "login"}}),
        ("vault", {"vault": {"address": "vault:8200"}}),
    ],
)
def test_schema_refuses_endpoints_without_a_scheme(provider: str, values: dict[str, Any]) -> None:
    with pytest.raises(RenderError, match="pattern"):
        render(chart(provider), values)


@all_providers
def test_notes_print_a_verify_command(provider: str) -> None:
    notes = render_notes(chart(provider))
    assert f"kubectl -n {NAMESPACE} rollout status daemonset/{RELEASE}-{chart(provider)}" in notes
    assert f"test -S {SOCKET_DIR}/{provider}.sock" in notes
    assert f"spec.provider: {provider}" in notes


def test_azure_key_vault_dns_suffix_is_shorthand_for_a_custom_cloud() -> None:
    docs = render(chart("azure"), {"azure": {"keyVaultDnsSuffix": "10.0.0.1:18443"}})
    cloud = json.loads(one(docs, "ConfigMap")["data"]["environment.json"])
    assert cloud["keyVaultDNSSuffix"] == "10.0.0.1:18443"
    assert cloud["resourceIdentifiers"] == {"keyVault": "https://10.0.0.1:18443"}
    assert cloud["activeDirectoryEndpoint"] == "https://login.microsoftonline.com/"
    env = env_of(
        "azure", {"azure": {"keyVaultDnsSuffix": "x.example", "authorityHost": "https://login.example/"}}
    )
    assert env["AZURE_ENVIRONMENT_FILEPATH"] == "/etc/secrets-store-csi/azure/environment.json"


def test_every_backend_value_the_ansible_role_sets_is_a_chart_value() -> None:
    """roles/secrets_store_csi_provider/vars/main.yml maps role options to these charts' values."""
    import re

    text = (CHARTS_DIR.parent / "roles/secrets_store_csi_provider/vars/main.yml").read_text()
    for provider in PROVIDERS:
        block = text.split(f"  {provider}:\n    {provider}: >-", 1)[1].split("| dict2items", 1)[0]
        keys = re.findall(r"'(\w+)':", block)
        assert keys, provider
        defaults = yaml.safe_load((CHARTS_DIR / chart(provider) / "values.yaml").read_text())[provider]
        values = {provider: {k: sample_value(k, defaults.get(k)) for k in keys}}
        render(chart(provider), values)  # the schema accepts every key
        env = env_of(provider, values)
        assert env, provider


def sample_value(key: str, default: Any) -> Any:
    """A value of the type the chart's default has: mappings stay mappings, URLs look like URLs."""
    import re

    if isinstance(default, dict):
        return {}
    return "https://example.test:1" if re.search("(?i)url|host|address", key) else "example.test"
