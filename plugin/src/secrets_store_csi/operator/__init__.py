"""The ClusterCSIDriver operator: `secrets-store.csi.k8s.io` turns the driver on and off.

Modules, one concern each:
- `api`: names (group, kinds, labels, field manager) shared by everything below;
- `values`: ClusterCSIDriver spec -> driver chart values, and the spec checks the CRD cannot express;
- `conditions`: the status conditions computed from what was observed, and their transitions;
- `inventory`: ownership and foreign-driver checks, the prune set;
- `render`: `helm template` of the bundled driver chart;
- `kube`: a small asyncio Kubernetes client (server-side apply, get, list, delete);
- `reconcile`: one level-based pass from the cluster's state to the desired state;
- `handlers`: the kopf handlers that call it;
- `leader`: Lease-based leader election;
- `main`: the `secrets-store-csi operator` command line.
"""
