"""The two Kubernetes reads the AWS provider needs (a service account's annotations, a node's labels), on
the shared client (`secrets_store_csi.kube`), with the provider's error codes and backend-call metric."""

from __future__ import annotations

from typing import Any, cast

import aiohttp

from secrets_store_csi.kube.client import KubeClient
from secrets_store_csi.kube.config import in_cluster_config, load_kubeconfig
from secrets_store_csi.kube.errors import KubeError
from secrets_store_csi.kube.paths import node_path, service_account_path
from secrets_store_csi.providers import metrics
from secrets_store_csi.providers.errors import ErrorCode, ProviderError, from_http_status


class KubeReads:
    def __init__(self, client: KubeClient | None) -> None:
        self.client = client

    @classmethod
    def from_config(cls, kubeconfig: str | None) -> KubeReads:
        """A kubeconfig file when given, else the pod's service account; no client outside a pod (every
        read then fails with a clear error)."""
        config = load_kubeconfig(kubeconfig) if kubeconfig else in_cluster_config()
        return cls(KubeClient(config) if config is not None else None)

    async def get(self, path: str, what: str) -> dict[str, Any]:
        if self.client is None:
            raise ProviderError(
                ErrorCode.INTERNAL,
                f"cannot read {what}: no Kubernetes API configuration (not in a cluster and no --kubeconfig)",
            )
        metrics.BACKEND_CALLS.labels("kubernetes", "get").inc()
        try:
            return await self.client.get(path)
        except KubeError as exc:
            raise from_http_status(
                exc.status, f"Kubernetes API returned {exc.status} reading {what}"
            ) from exc
        except aiohttp.ClientError as exc:
            raise ProviderError(
                ErrorCode.UNAVAILABLE, f"Kubernetes API unreachable reading {what}: {type(exc).__name__}"
            ) from exc

    async def service_account_annotations(self, namespace: str, name: str) -> dict[str, str]:
        obj = await self.get(service_account_path(namespace, name), f"service account {namespace}/{name}")
        return cast(dict[str, str], obj.get("metadata", {}).get("annotations") or {})

    async def node_labels(self, name: str) -> dict[str, str]:
        obj = await self.get(node_path(name), f"node {name}")
        return cast(dict[str, str], obj.get("metadata", {}).get("labels") or {})

    async def close(self) -> None:
        if self.client is not None:
            await self.client.close()
