"""`secrets-store-csi driver`: start the CSI node plugin and run until SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import gc
import logging
import signal

from secrets_store_csi import __version__
from secrets_store_csi.driver import health, logs, options, recovery, rotation, server
from secrets_store_csi.driver.identity import IdentityServicer
from secrets_store_csi.driver.metrics import default_metrics
from secrets_store_csi.driver.node import NodeServicer
from secrets_store_csi.driver.provider_client import ProviderClients
from secrets_store_csi.driver.publisher import Publisher
from secrets_store_csi.driver.spc import DirSpcSource, SpcSource
from secrets_store_csi.driver.spccache import WatchedSpcSource
from secrets_store_csi.kube.client import KubeClient
from secrets_store_csi.kube.config import load_config

log = logging.getLogger("driver")
GRACE_SECONDS = 30.0
M_ARENA_MAX = -8
TRIM_SECONDS = 5.0


async def serve(opts: options.Options) -> int:
    metrics = default_metrics()
    if opts.metrics_addr:
        metrics.serve(opts.metrics_addr)
    kube: KubeClient | None = None
    watched: WatchedSpcSource | None = None
    spcs: SpcSource
    if opts.secret_provider_class_dir:
        spcs = DirSpcSource(opts.secret_provider_class_dir)
        log.info(
            "SecretProviderClasses read from a directory; pod status and secret sync are off",
            extra={"dir": opts.secret_provider_class_dir},
        )
    else:
        kube = KubeClient(load_config(opts.kubeconfig))
        watched = WatchedSpcSource(kube)
        spcs = watched
    providers = ProviderClients(opts.provider_dirs(), opts.max_call_recv_msg_size, opts.provider_timeout)
    pub = Publisher(opts, spcs, providers, kube, metrics)
    socket_path = opts.socket_path()
    grpc_server = await server.start(
        socket_path, IdentityServicer(opts.driver_name), NodeServicer(pub, opts.node_id)
    )
    log.info(
        "driver started",
        extra={
            "version": __version__,
            "endpoint": socket_path,
            "node": opts.node_id,
            "provider_dirs": opts.provider_dirs(),
            "rotation": opts.enable_secret_rotation,
        },
    )
    # Everything allocated so far (modules, servers) lives as long as the process: keep it out of the
    # cyclic collector's scans, so collections during calls stay short.
    gc.freeze()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    tasks = [asyncio.create_task(_trim_heap(stop))]
    if watched is not None:
        tasks.append(asyncio.create_task(watched.run(stop)))
    if opts.enable_secret_rotation:
        tasks.append(asyncio.create_task(rotation.run(pub, stop)))
        if kube is not None:
            tasks.append(asyncio.create_task(recovery.run(pub, stop)))
    if opts.provider_health_check:
        tasks.append(
            asyncio.create_task(
                health.run(
                    providers, opts.provider_dirs(), metrics, opts.provider_health_check_interval, stop
                )
            )
        )
    await stop.wait()
    log.info("stopping: no new calls, finishing calls in flight", extra={"grace_seconds": GRACE_SECONDS})
    await grpc_server.stop(GRACE_SECONDS)
    for task in tasks:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    await providers.close()
    if kube is not None:
        await kube.close()
    log.info("driver stopped; mounts are left in place")
    return 0


async def _trim_heap(stop: asyncio.Event) -> None:
    """Hand freed heap pages back to the kernel every TRIM_SECONDS, so RSS follows the live volumes
    rather than the busiest moment so far (glibc keeps freed memory otherwise)."""
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=TRIM_SECONDS)
        libc.malloc_trim(0)


def _limit_malloc_arenas() -> None:
    """glibc gives each thread its own malloc arena (up to 8 per core); two keep RSS flat."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt(M_ARENA_MAX, 2)


def main(argv: list[str]) -> int:
    _limit_malloc_arenas()
    opts = options.parse(argv)
    logs.setup(opts.log_format_json, opts.verbosity)
    return asyncio.run(serve(opts))
