"""Prometheus metrics, with upstream's names and labels (provider, error_type, os_type)."""

from __future__ import annotations

import sys

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, start_http_server

OS_TYPE = "linux" if sys.platform.startswith("linux") else sys.platform
_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        r = registry if registry is not None else CollectorRegistry(auto_describe=True)
        self.registry = r
        self.node_publish = Counter(
            "node_publish", "Successful NodePublishVolume calls", ["provider", "os_type"], registry=r
        )
        self.node_unpublish = Counter(
            "node_unpublish", "Successful NodeUnpublishVolume calls", ["os_type"], registry=r
        )
        self.node_publish_error = Counter(
            "node_publish_error",
            "Failed NodePublishVolume calls",
            ["provider", "error_type", "os_type"],
            registry=r,
        )
        self.node_unpublish_error = Counter(
            "node_unpublish_error", "Failed NodeUnpublishVolume calls", ["error_type", "os_type"], registry=r
        )
        self.rotation_reconcile = Counter(
            "rotation_reconcile",
            "Rotation reconciles of one volume",
            ["provider", "rotated", "os_type"],
            registry=r,
        )
        self.rotation_reconcile_error = Counter(
            "rotation_reconcile_error",
            "Failed rotation reconciles",
            ["provider", "error_type", "os_type"],
            registry=r,
        )
        self.rotation_reconcile_duration = Histogram(
            "rotation_reconcile_duration_seconds",
            "Duration of one rotation poll",
            ["os_type"],
            buckets=_BUCKETS,
            registry=r,
        )
        self.sync_k8s_secret = Counter(
            "sync_k8s_secret", "Kubernetes Secrets synced", ["provider", "os_type"], registry=r
        )
        self.sync_k8s_secret_duration = Histogram(
            "sync_k8s_secret_duration_seconds",
            "Duration of syncing the Secrets of one volume",
            ["os_type"],
            buckets=_BUCKETS,
            registry=r,
        )
        self.provider_mount_calls = Counter(
            "provider_mount_calls", "Mount calls made to providers", ["provider", "os_type"], registry=r
        )
        self.provider_health = Gauge(
            "provider_health_check_status",
            "1 when the provider answered Version in time, else 0",
            ["provider", "os_type"],
            registry=r,
        )

    def serve(self, addr: str) -> None:
        """Serve /metrics on `addr` (":8095", "0.0.0.0:8095", "127.0.0.1:0")."""
        host, _, port = addr.rpartition(":")
        start_http_server(int(port), addr=host or "0.0.0.0", registry=self.registry)  # noqa: S104


def default_metrics() -> Metrics:
    """The process-wide metrics: the driver's own registry plus the process collector (RSS, CPU)."""
    metrics = Metrics()
    for collector in list(REGISTRY._collector_to_names):  # process and platform collectors
        metrics.registry.register(collector)
    return metrics
