"""The project's one Kubernetes API client (asyncio, aiohttp), shared by the driver, the providers and the
operator. The full `kubernetes` client is deliberately not used: it costs tens of MiB of RSS per process.

- `config.py`: where the API server is and how to authenticate (kubeconfig, in-cluster service account);
- `kopflogin.py`: the same from kopf's login helpers (the operator; the only module importing kopf);
- `errors.py`: `KubeError`, the API server's refusal;
- `client.py`: `KubeClient`, JSON requests (get, list, create, replace, patches, delete, watch);
- `objects.py`: `ObjectClient`, typed objects by apiVersion/kind through API discovery (server-side apply);
- `paths.py`: REST paths of the objects the driver and providers read and write.
"""
