"""Ownership by label, foreign secrets-store drivers, the prune and removal sets."""

from typing import Any

from secrets_store_csi.operator.inventory import (
    ObjectRef,
    foreign_objects,
    is_owned,
    label_owned,
    prune_set,
    removal_set,
)

OWNED = {"app.kubernetes.io/managed-by": "secrets-store-csi-driver-operator"}


def obj(
    kind: str, name: str, namespace: str = "", labels: dict[str, str] | None = None, api: str = "v1"
) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "labels": labels or {}}
    if namespace:
        meta["namespace"] = namespace
    return {"apiVersion": api, "kind": kind, "metadata": meta}


def daemonset(
    name: str,
    namespace: str,
    host_paths: list[str],
    labels: dict[str, str] | None = None,
    args: list[str] | None = None,
) -> dict[str, Any]:
    ds = obj("DaemonSet", name, namespace, labels, "apps/v1")
    ds["spec"] = {
        "template": {
            "metadata": {"labels": {"app.kubernetes.io/managed-by": "Helm", "app": "x"}},
            "spec": {
                "containers": [{"name": "c", "args": args or []}],
                "volumes": [{"name": f"v{i}", "hostPath": {"path": p}} for i, p in enumerate(host_paths)],
            },
        }
    }
    return ds


OUR_DS = daemonset(
    "secrets-store-csi-driver",
    "ssc",
    ["/var/lib/kubelet/plugins/csi-secrets-store/", "/var/lib/kubelet/plugins", "/var/lib/kubelet/pods"],
)
CSIDRIVER = obj("CSIDriver", "secrets-store.csi.k8s.io", api="storage.k8s.io/v1")
CRD = obj(
    "CustomResourceDefinition",
    "secretproviderclasses.secrets-store.csi.x-k8s.io",
    api="apiextensions.k8s.io/v1",
)


def test_labelling_replaces_helms_managed_by_on_the_object_and_its_pod_template() -> None:
    [labelled] = label_owned([daemonset("d", "ns", [], labels={"app.kubernetes.io/managed-by": "Helm"})])
    assert is_owned(labelled)
    assert (
        labelled["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/managed-by"]
        == "secrets-store-csi-driver-operator"
    )
    assert labelled["spec"]["template"]["metadata"]["labels"]["app"] == "x"


def test_nothing_foreign_on_an_empty_cluster() -> None:
    assert foreign_objects(label_owned([OUR_DS, CSIDRIVER]), {}, []) == []


def test_a_csidriver_object_without_the_owner_label_is_foreign() -> None:
    rendered = label_owned([OUR_DS, CSIDRIVER])
    existing = {
        ObjectRef.of(CSIDRIVER): obj(
            "CSIDriver",
            "secrets-store.csi.k8s.io",
            labels={"app.kubernetes.io/managed-by": "Helm"},
            api="storage.k8s.io/v1",
        )
    }
    assert foreign_objects(rendered, existing, []) == ["CSIDriver secrets-store.csi.k8s.io"]


def test_our_own_objects_are_not_foreign() -> None:
    rendered = label_owned([OUR_DS, CSIDRIVER])
    existing = {ObjectRef.of(o): o for o in rendered}
    assert foreign_objects(rendered, existing, [rendered[0]]) == []


def test_an_upstream_daemonset_on_the_same_plugin_directory_is_foreign() -> None:
    upstream = daemonset(
        "csi-secrets-store",
        "kube-system",
        ["/var/lib/kubelet/plugins/csi-secrets-store", "/var/lib/kubelet/plugins"],
    )
    assert foreign_objects(label_owned([OUR_DS]), {}, [upstream]) == [
        "DaemonSet kube-system/csi-secrets-store"
    ]


def test_a_daemonset_naming_the_driver_in_its_arguments_is_foreign() -> None:
    other = daemonset(
        "sscd", "other", ["/srv/plugins/elsewhere"], args=["--drivername=secrets-store.csi.k8s.io"]
    )
    assert foreign_objects(label_owned([OUR_DS]), {}, [other]) == ["DaemonSet other/sscd"]


def test_another_csi_driver_sharing_only_the_common_kubelet_dirs_is_not_foreign() -> None:
    other = daemonset(
        "ebs-csi-node",
        "kube-system",
        ["/var/lib/kubelet/plugins/ebs.csi.aws.com/", "/var/lib/kubelet/plugins", "/var/lib/kubelet/pods"],
    )
    assert foreign_objects(label_owned([OUR_DS]), {}, [other]) == []


def test_crds_installed_by_someone_else_are_shared_not_foreign() -> None:
    rendered = label_owned([OUR_DS, CRD])
    assert foreign_objects(rendered, {ObjectRef.of(CRD): CRD}, []) == []


def test_owned_objects_no_longer_rendered_are_pruned() -> None:
    old_role = obj("ClusterRole", "driver-rotation", labels=OWNED, api="rbac.authorization.k8s.io/v1")
    rendered = label_owned([OUR_DS, CSIDRIVER])
    owned = [*rendered, old_role]
    assert prune_set(rendered, owned) == [ObjectRef.of(old_role)]


def test_prune_never_touches_crds_or_objects_without_the_label() -> None:
    unlabelled = obj("ClusterRole", "someone-elses", api="rbac.authorization.k8s.io/v1")
    owned_crd = obj("CustomResourceDefinition", "x.example.com", labels=OWNED, api="apiextensions.k8s.io/v1")
    assert prune_set([], [unlabelled, owned_crd]) == []


def test_an_object_listed_in_another_api_version_is_still_the_rendered_one() -> None:
    rendered = label_owned([obj("ValidatingAdmissionPolicy", "p", api="admissionregistration.k8s.io/v1")])
    listed = obj("ValidatingAdmissionPolicy", "p", labels=OWNED, api="admissionregistration.k8s.io/v1beta1")
    assert prune_set(rendered, [listed]) == []


def test_removal_takes_everything_owned_but_the_crds() -> None:
    owned = [*label_owned([OUR_DS, CSIDRIVER, CRD])]
    assert {r.kind for r in removal_set(owned)} == {"DaemonSet", "CSIDriver"}


def test_a_second_operators_driver_in_another_namespace_is_foreign() -> None:
    other = daemonset(
        "secrets-store-csi-driver", "elsewhere", ["/var/lib/kubelet/plugins/csi-secrets-store/"], labels=OWNED
    )
    assert foreign_objects(label_owned([OUR_DS]), {}, [other]) == [
        "DaemonSet elsewhere/secrets-store-csi-driver"
    ]


def test_a_stale_owned_daemonset_in_our_namespace_is_pruned_not_foreign() -> None:
    stale = daemonset("old-name", "ssc", ["/var/lib/kubelet/plugins/csi-secrets-store/"], labels=OWNED)
    assert foreign_objects(label_owned([OUR_DS]), {}, [stale]) == []
