"""Names the operator shares with the cluster: the API it serves and the labels it owns objects by."""

from __future__ import annotations

from typing import Final

GROUP: Final = "operator.openshift.io"
VERSION: Final = "v1"
PLURAL: Final = "clustercsidrivers"
KIND: Final = "ClusterCSIDriver"

# The only ClusterCSIDriver this operator acts on; other names belong to other operators.
DRIVER_NAME: Final = "secrets-store.csi.k8s.io"

OPERATOR_NAME: Final = "secrets-store-csi-driver-operator"
FIELD_MANAGER: Final = OPERATOR_NAME
MANAGED_BY_LABEL: Final = "app.kubernetes.io/managed-by"
OWNER_LABELS: Final = {MANAGED_BY_LABEL: OPERATOR_NAME}
FINALIZER: Final = "operator.secrets-store.csi.k8s.io/driver"
ANNOTATION_PREFIX: Final = "operator.secrets-store.csi.k8s.io"

# The Helm release name the driver chart is rendered with: object names derive from it.
RELEASE_NAME: Final = "secrets-store-csi-driver"

# OpenShift's prefix for the node DaemonSet controller's conditions.
NODE_SERVICE_PREFIX: Final = "SecretsStoreDriverNodeServiceController"
