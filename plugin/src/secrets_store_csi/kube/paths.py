"""REST paths of the objects the driver and the providers read and write."""

from __future__ import annotations

SPC_GROUP = "secrets-store.csi.x-k8s.io"
SPC_VERSION = "v1"


def spc_path(namespace: str, name: str = "") -> str:
    """SecretProviderClasses of `namespace` (of every namespace when it is empty)."""
    if not namespace:
        return f"/apis/{SPC_GROUP}/{SPC_VERSION}/secretproviderclasses"
    base = f"/apis/{SPC_GROUP}/{SPC_VERSION}/namespaces/{namespace}/secretproviderclasses"
    return f"{base}/{name}" if name else base


def spcps_path(namespace: str, name: str = "") -> str:
    """SecretProviderClassPodStatuses of `namespace` (of every namespace when it is empty)."""
    if not namespace:
        return f"/apis/{SPC_GROUP}/{SPC_VERSION}/secretproviderclasspodstatuses"
    base = f"/apis/{SPC_GROUP}/{SPC_VERSION}/namespaces/{namespace}/secretproviderclasspodstatuses"
    return f"{base}/{name}" if name else base


def pod_path(namespace: str, name: str) -> str:
    return f"/api/v1/namespaces/{namespace}/pods/{name}"


def secret_path(namespace: str, name: str = "") -> str:
    base = f"/api/v1/namespaces/{namespace}/secrets"
    return f"{base}/{name}" if name else base


def events_path(namespace: str) -> str:
    return f"/api/v1/namespaces/{namespace}/events"


def csidriver_path(name: str) -> str:
    return f"/apis/storage.k8s.io/v1/csidrivers/{name}"


def service_account_path(namespace: str, name: str) -> str:
    return f"/api/v1/namespaces/{namespace}/serviceaccounts/{name}"


def token_path(namespace: str, service_account: str) -> str:
    """The TokenRequest subresource of a service account."""
    return service_account_path(namespace, service_account) + "/token"


def node_path(name: str) -> str:
    return f"/api/v1/nodes/{name}"
