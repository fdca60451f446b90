"""Prometheus metrics of a provider process (served when `--metrics-addr` is given).

`backend_calls_total` counts every request sent to a backend, by operation: the figure behind
"backend calls per mount". Labels never carry object names or values.
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

MOUNTS = Counter(
    "secrets_store_provider_mount_total",
    "Mount requests by provider and error code",
    ["provider", "error_code"],
)
MOUNT_SECONDS = Histogram(
    "secrets_store_provider_mount_duration_seconds", "Mount latency of successful mounts", ["provider"]
)
BACKEND_CALLS = Counter(
    "secrets_store_provider_backend_calls_total", "Requests sent to a backend", ["provider", "operation"]
)
SHARED_FETCHES = Counter(
    "secrets_store_provider_shared_fetches_total",
    "Backend fetches a mount shared with a concurrent mount of the same objects by the same identity",
    ["provider"],
)
