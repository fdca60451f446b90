"""Harness for the driver's integration tiers: real processes (driver, provider) on unix sockets in a
temporary directory, real tmpfs mounts. Needs root and $CACHE/bin/ssc-testprovider (`make testprovider`)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
import yaml

from secrets_store_csi.driver.mount import mount_points, unmount
from secrets_store_csi.proto.csi.v1 import csi_pb2, csi_pb2_grpc

CACHE = Path(os.environ.get("CACHE", Path.home() / ".cache" / "secrets-store-csi"))
TESTPROVIDER = CACHE / "bin" / "ssc-testprovider"
DRIVER_CMD = [sys.executable, "-m", "secrets_store_csi.cli", "driver"]


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Harness:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.objects = root / "objects"
        self.spcs = root / "spc"
        self.providers = root / "providers"
        self.pods = root / "pods"
        for d in (self.objects, self.spcs, self.providers, self.pods):
            d.mkdir(parents=True, exist_ok=True)
        self.calls_file = root / "provider-calls"
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.socket = root / "csi" / "csi.sock"
        self.metrics_port = 0
        self.driver_log = root / "driver.log"

    # --- processes -----------------------------------------------------------------------------
    def start_provider(self, name: str = "testprovider", directory: Path | None = None) -> Path:
        if not TESTPROVIDER.exists():
            pytest.fail(f"{TESTPROVIDER} missing: run `make testprovider`")
        sock = (directory or self.providers) / f"{name}.sock"
        sock.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.root / f"provider-{name}.log", "ab")  # noqa: SIM115
        self.procs[f"provider-{name}"] = subprocess.Popen(
            [
                str(TESTPROVIDER),
                "--endpoint",
                str(sock),
                "--root-dir",
                str(self.objects),
                "--calls-file",
                str(self.calls_file),
            ],
            stdout=log,
            stderr=log,
        )
        _wait_for(lambda: sock.exists(), f"provider socket {sock}")
        return sock

    def stop(self, key: str, sig: int = signal.SIGTERM) -> int:
        proc = self.procs.pop(key)
        proc.send_signal(sig)
        return proc.wait(timeout=40)

    def start_driver(self, *flags: str, spc_dir: bool = True) -> subprocess.Popen[bytes]:
        self.metrics_port = _free_port()
        args = [
            *DRIVER_CMD,
            "--endpoint",
            f"unix://{self.socket}",
            "--nodeid",
            "node-test",
            "--provider-volume",
            str(self.providers),
            "--additional-provider-volume-paths",
            str(self.root / "providers-extra"),
            "--metrics-addr",
            f"127.0.0.1:{self.metrics_port}",
            "--provider-timeout",
            "20s",
        ]
        if spc_dir:
            args += ["--secret-provider-class-dir", str(self.spcs)]
        args += list(flags)
        log = open(self.driver_log, "ab")  # noqa: SIM115
        proc = subprocess.Popen(args, stdout=log, stderr=log)
        self.procs["driver"] = proc
        _wait_for(lambda: self.socket.exists() or proc.poll() is not None, "driver socket")
        if proc.poll() is not None:
            pytest.fail(f"driver exited: {self.driver_log.read_text()}")
        return proc

    def close(self) -> None:
        for key in list(self.procs):
            with contextlib.suppress(Exception):
                self.stop(key, signal.SIGKILL)
        for point in sorted(mount_points(), key=len, reverse=True):
            if point.startswith(str(self.root) + "/"):
                with contextlib.suppress(OSError):
                    unmount(point)

    # --- content -------------------------------------------------------------------------------
    def object(self, name: str, data: bytes | str) -> None:
        tmp = self.objects / f".{name}.tmp"
        tmp.write_bytes(data.encode() if isinstance(data, str) else data)
        tmp.rename(self.objects / name)

    def spc(
        self,
        namespace: str,
        name: str,
        objects: dict[str, str],
        provider: str = "testprovider",
        **params: str,
    ) -> None:
        d = self.spcs / namespace
        d.mkdir(parents=True, exist_ok=True)
        body = {
            "apiVersion": "secrets-store.csi.x-k8s.io/v1",
            "kind": "SecretProviderClass",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"provider": provider, "parameters": {"objects": json.dumps(objects), **params}},
        }
        tmp = d / f".{name}.tmp"
        tmp.write_text(yaml.safe_dump(body))
        tmp.rename(d / f"{name}.yaml")

    def provider_calls(self) -> list[str]:
        return self.calls_file.read_text().splitlines() if self.calls_file.exists() else []

    def target(self, pod: str) -> Path:
        return self.pods / pod / "volumes" / "kubernetes.io~csi" / "secrets" / "mount"

    def is_tmpfs(self, path: Path) -> bool:
        return mount_points().get(str(path)) == "tmpfs"


def _wait_for(cond: Any, what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def volume_context(pod: str, namespace: str, spc: str, sa: str = "default", **extra: str) -> dict[str, str]:
    return {
        "secretProviderClass": spc,
        "csi.storage.k8s.io/pod.name": pod,
        "csi.storage.k8s.io/pod.namespace": namespace,
        "csi.storage.k8s.io/pod.uid": f"uid-{pod}",
        "csi.storage.k8s.io/serviceAccount.name": sa,
        "csi.storage.k8s.io/ephemeral": "true",
        **extra,
    }


CAPABILITY = csi_pb2.VolumeCapability(
    mount=csi_pb2.VolumeCapability.MountVolume(),
    access_mode=csi_pb2.VolumeCapability.AccessMode(
        mode=csi_pb2.VolumeCapability.AccessMode.SINGLE_NODE_READER_ONLY
    ),
)


class CsiClient:
    def __init__(self, socket: Path) -> None:
        self.channel = grpc.aio.insecure_channel(f"unix:{socket}")
        self.node = csi_pb2_grpc.NodeStub(self.channel)
        self.identity = csi_pb2_grpc.IdentityStub(self.channel)

    async def publish(
        self,
        target: Path,
        ctx: dict[str, str],
        secrets: dict[str, str] | None = None,
        readonly: bool = True,
        volume_id: str = "csi-vol",
    ) -> Any:
        target.parent.mkdir(parents=True, exist_ok=True)
        return await self.node.NodePublishVolume(
            csi_pb2.NodePublishVolumeRequest(
                volume_id=volume_id,
                target_path=str(target),
                volume_capability=CAPABILITY,
                readonly=readonly,
                volume_context=ctx,
                secrets=secrets or {},
            ),
            timeout=60,
        )

    async def unpublish(self, target: Path, volume_id: str = "csi-vol") -> Any:
        return await self.node.NodeUnpublishVolume(
            csi_pb2.NodeUnpublishVolumeRequest(volume_id=volume_id, target_path=str(target)), timeout=30
        )

    async def close(self) -> None:
        await self.channel.close()


@pytest.fixture
def harness(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    if os.geteuid() != 0:
        pytest.fail("the integration tier needs root (tmpfs mounts)")
    root = tmp_path_factory.mktemp("drv")
    h = Harness(root)
    yield h
    h.close()
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
async def client(harness: Harness) -> AsyncIterator[CsiClient]:
    c = CsiClient(harness.socket)
    yield c
    await c.close()


async def wait_until(cond: Any, what: str, limit: float = 20.0) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if cond():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")
