"""REST paths of the objects the driver and the providers read and write."""

from __future__ import annotations

import urllib.parse

from secrets_store_csi.kube.errors import KubeError

SPC_GROUP = "secrets-store.csi.x-k8s.io"
SPC_VERSION = "v1"


def name_problem(name: str) -> str:
    """Why `name` cannot be an object name in an API path ("" when it can): the apiserver's own rule for
    path segments. Names come from pods and SecretProviderClasses; "../../<other namespace>/..." would
    otherwise reach another namespace once the HTTP client normalises the URL."""
    if not name:
        return "it is empty"
    if name in (".", ".."):
        return f"{name!r} is not a name"
    for bad in ("/", "%"):
        if bad in name:
            return f"it contains {bad!r}"
    return ""


def _segment(value: str, what: str) -> str:
    if problem := name_problem(value):
        raise KubeError(400, f"{what} {value!r} is not a valid object name: {problem}", "Invalid")
    return urllib.parse.quote(value, safe="")


def _namespaced(prefix: str, namespace: str, resource: str, name: str = "") -> str:
    """`prefix/namespaces/<ns>/<resource>[/<name>]`, or `prefix/<resource>` across namespaces when
    `namespace` is empty; every segment checked and quoted."""
    if not namespace:
        if name:
            raise KubeError(400, f"{resource[:-1]} {name!r} needs a namespace", "Invalid")
        return f"{prefix}/{resource}"
    base = f"{prefix}/namespaces/{_segment(namespace, 'namespace')}/{resource}"
    return f"{base}/{_segment(name, resource[:-1] + ' name')}" if name else base


_SPC_API = f"/apis/{SPC_GROUP}/{SPC_VERSION}"


def spc_path(namespace: str, name: str = "") -> str:
    """SecretProviderClasses of `namespace` (of every namespace when it is empty)."""
    return _namespaced(_SPC_API, namespace, "secretproviderclasses", name)


def spcps_path(namespace: str, name: str = "") -> str:
    """SecretProviderClassPodStatuses of `namespace` (of every namespace when it is empty)."""
    return _namespaced(_SPC_API, namespace, "secretproviderclasspodstatuses", name)


def pod_path(namespace: str, name: str) -> str:
    return _namespaced("/api/v1", namespace, "pods", name)


def secret_path(namespace: str, name: str = "") -> str:
    return _namespaced("/api/v1", namespace, "secrets", name)


def events_path(namespace: str) -> str:
    return _namespaced("/api/v1", namespace, "events")


def csidriver_path(name: str) -> str:
    return f"/apis/storage.k8s.io/v1/csidrivers/{_segment(name, 'csidriver name')}"


def service_account_path(namespace: str, name: str) -> str:
    return _namespaced("/api/v1", namespace, "serviceaccounts", name)


def token_path(namespace: str, service_account: str) -> str:
    """The TokenRequest subresource of a service account."""
    return service_account_path(namespace, service_account) + "/token"


def node_path(name: str) -> str:
    return f"/api/v1/nodes/{_segment(name, 'node name')}"
