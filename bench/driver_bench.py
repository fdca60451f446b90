#!/usr/bin/env python3
"""Driver benchmarks (issue 3). Prints its figures; run as root (tmpfs mounts): `make bench-driver`.

1. Overhead per NodePublishVolume with a zero-latency provider (ssc-testprovider), p50/p99, with 1 and
   50 concurrent publishes. The provider's own Mount time is measured apart (direct calls) and shown.
2. Driver RSS idle and with 200 mounted volumes.
3. Provider Mount calls during one rotation poll with 50 pods sharing one SPC of 10 objects and one
   service account.

With --kubeconfig (and the CRDs installed) the SPC is read from the apiserver, and with --upstream the
same publish benchmark runs against the upstream Go driver v1.6.0 ($CACHE/bin/secrets-store-csi-driver).
"""

from __future__ import annotations

import argparse
import asyncio
import fcntl
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import grpc
import yaml
from secrets_store_csi.driver.mount import mount_points, unmount
from secrets_store_csi.proto.csi.v1 import csi_pb2, csi_pb2_grpc
from secrets_store_csi.proto.v1alpha1 import provider_pb2, provider_pb2_grpc

# The chart tests' kubectl helper: it resolves the devcluster's kubectl (same version as its apiserver).
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "charts"))
from chartcluster import Kube

CACHE = Path(os.environ.get("CACHE", Path.home() / ".cache" / "secrets-store-csi"))
CAP = csi_pb2.VolumeCapability(
    mount=csi_pb2.VolumeCapability.MountVolume(),
    access_mode=csi_pb2.VolumeCapability.AccessMode(
        mode=csi_pb2.VolumeCapability.AccessMode.SINGLE_NODE_READER_ONLY
    ),
)
NAMESPACE = f"driver-bench-{os.getpid()}"
CRDS = Path(__file__).resolve().parents[1] / "charts" / "secrets-store-csi-driver" / "crds"


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    k = max(0, min(len(values) - 1, round(p / 100 * (len(values) - 1))))
    return values[k]


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class Bench:
    def __init__(self, root: Path, kubeconfig: str) -> None:
        self.root = root
        self.kubeconfig = kubeconfig
        self.kube = Kube(Path(kubeconfig))
        self.objects = root / "objects"
        self.providers = root / "providers"
        self.spcs = root / "spc"
        self.calls = root / "calls"
        for d in (self.objects, self.providers, self.spcs / NAMESPACE):
            d.mkdir(parents=True, exist_ok=True)
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, args: list[str], log: str) -> subprocess.Popen[bytes]:
        fh = open(self.root / log, "ab")  # noqa: SIM115
        proc = subprocess.Popen(args, stdout=fh, stderr=fh)
        self.procs.append(proc)
        return proc

    def provider(self) -> None:
        sock = self.providers / "testprovider.sock"
        self.start(
            [
                str(CACHE / "bin" / "ssc-testprovider"),
                "--endpoint",
                str(sock),
                "--root-dir",
                str(self.objects),
                "--calls-file",
                str(self.calls),
            ],
            "provider.log",
        )
        wait(sock.exists)

    def spc(self, name: str, n_objects: int) -> dict[str, Any]:
        objects = {}
        for i in range(n_objects):
            (self.objects / f"obj{i}").write_bytes(os.urandom(256).hex().encode())
            objects[f"secret-{i}"] = f"obj{i}"
        body = {
            "apiVersion": "secrets-store.csi.x-k8s.io/v1",
            "kind": "SecretProviderClass",
            "metadata": {"name": name, "namespace": NAMESPACE},
            "spec": {"provider": "testprovider", "parameters": {"objects": json.dumps(objects)}},
        }
        (self.spcs / NAMESPACE / f"{name}.yaml").write_text(yaml.safe_dump(body))
        if self.kubeconfig:
            self.kubectl("apply", "-f", str(self.spcs / NAMESPACE / f"{name}.yaml"))
        return body

    def kubectl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        # The flag as well as Kube's KUBECONFIG: kubectl refuses a missing file only when the flag names it.
        done: subprocess.CompletedProcess[str] = self.kube.kubectl(
            "--kubeconfig", self.kubeconfig, *args, check=False, timeout=600
        )
        if check and done.returncode != 0:
            sys.exit(f"kubectl {' '.join(args)}: {done.stderr.strip()} (is the cluster up? make cluster-up)")
        return done

    def ours(self, sock: Path, *flags: str) -> subprocess.Popen[bytes]:
        args = [
            sys.executable,
            "-m",
            "secrets_store_csi.cli",
            "driver",
            "--endpoint",
            f"unix://{sock}",
            "--nodeid",
            "bench-node",
            "--provider-volume",
            str(self.providers),
            "--additional-provider-volume-paths",
            "",
            "--metrics-addr",
            "",
            *flags,
        ]
        if self.kubeconfig:
            args += ["--kubeconfig", self.kubeconfig]
        else:
            args += ["--secret-provider-class-dir", str(self.spcs)]
        proc = self.start(args, "driver.log")
        wait(sock.exists)
        return proc

    def upstream(self, sock: Path) -> subprocess.Popen[bytes]:
        binary = CACHE / "bin" / "secrets-store-csi-driver"
        sock.parent.mkdir(parents=True, exist_ok=True)  # upstream does not create it
        env = {**os.environ, "KUBECONFIG": self.kubeconfig}
        fh = open(self.root / "upstream.log", "ab")  # noqa: SIM115
        proc = subprocess.Popen(
            [
                str(binary),
                f"--endpoint=unix://{sock}",
                "--nodeid=bench-node",
                f"--provider-volume={self.providers}",
                "--metrics-addr=:0",
                "--enable-secret-rotation=false",
            ],
            stdout=fh,
            stderr=fh,
            env=env,
        )
        self.procs.append(proc)
        try:
            wait(lambda: sock.exists() or proc.poll() is not None, 60)
        finally:
            if not sock.exists():
                print((self.root / "upstream.log").read_text()[-3000:], file=sys.stderr)
        return proc

    def close(self) -> None:
        for p in self.procs:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
        for point in sorted(mount_points(), key=len, reverse=True):
            if point.startswith(str(self.root) + "/"):
                unmount(point)


def wait(cond: Any, limit: float = 20) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.02)
    raise SystemExit("timed out waiting for a process to come up")


def ctx(pod: str, spc: str, sa: str = "default") -> dict[str, str]:
    return {
        "secretProviderClass": spc,
        "csi.storage.k8s.io/pod.name": pod,
        "csi.storage.k8s.io/pod.namespace": NAMESPACE,
        "csi.storage.k8s.io/pod.uid": f"uid-{pod}",
        "csi.storage.k8s.io/serviceAccount.name": sa,
        "csi.storage.k8s.io/ephemeral": "true",
    }


async def unpublish(node: Any, target: Path) -> None:
    """Untimed; retried because the upstream driver sometimes answers "target is busy" under load."""
    for attempt in range(10):
        try:
            await node.NodeUnpublishVolume(
                csi_pb2.NodeUnpublishVolumeRequest(volume_id=target.parent.name, target_path=str(target))
            )
            return
        except grpc.aio.AioRpcError:
            if attempt == 9:
                raise
            await asyncio.sleep(0.3)


async def publish_latencies(
    sock: Path, root: Path, spc: str, total: int, *, concurrency: int, tag: str
) -> list[float]:
    channel = grpc.aio.insecure_channel(f"unix:{sock}")
    node = csi_pb2_grpc.NodeStub(channel)
    out: list[float] = []

    async def one(i: int) -> Path:
        pod = f"{tag}-{i}"
        target = root / "pods" / pod / "mount"
        target.parent.mkdir(parents=True, exist_ok=True)
        start = time.perf_counter()
        await node.NodePublishVolume(
            csi_pb2.NodePublishVolumeRequest(
                volume_id=pod,
                target_path=str(target),
                volume_capability=CAP,
                readonly=True,
                volume_context=ctx(pod, spc),
            ),
            timeout=60,
        )
        out.append(time.perf_counter() - start)
        return target

    # Rounds of `concurrency` publishes started together; unpublishes between rounds are not timed.
    for first in range(0, total, concurrency):
        targets = await asyncio.gather(*(one(i) for i in range(first, min(total, first + concurrency))))
        await asyncio.gather(*(unpublish(node, t) for t in targets))
    await channel.close()
    return out


async def provider_latencies(sock: Path, n: int, concurrency: int) -> list[float]:
    channel = grpc.aio.insecure_channel(f"unix:{sock}")
    stub = provider_pb2_grpc.CSIDriverProviderStub(channel)
    spc_objects = json.dumps({f"secret-{i}": f"obj{i}" for i in range(10)})
    req = provider_pb2.MountRequest(
        attributes=json.dumps({"objects": spc_objects}),
        secrets="{}",
        target_path="/nonexistent",
        permission="420",
    )
    sem = asyncio.Semaphore(concurrency)
    out: list[float] = []

    async def one() -> None:
        async with sem:
            start = time.perf_counter()
            await stub.Mount(req)
            out.append(time.perf_counter() - start)

    await asyncio.gather(*(one() for _ in range(n)))
    await channel.close()
    return out


def report(label: str, values: list[float], base: list[float] | None = None) -> None:
    p50, p99 = pct(values, 50) * 1000, pct(values, 99) * 1000
    line = f"  {label:<44} n={len(values):<4} p50={p50:7.2f} ms  p99={p99:7.2f} ms"
    if base:
        base50 = pct(base, 50) * 1000
        line += f"  (minus provider p50 {base50:.2f} ms: overhead p50={p50 - base50:.2f} ms)"
    print(line, flush=True)


async def bench_publish(b: Bench, sock: Path, name: str) -> None:
    slug = "".join(c if c.isalnum() else "-" for c in name.lower())  # pod names must be DNS labels
    for conc, total in ((1, 200), (50, 500)):
        base = await provider_latencies(b.providers / "testprovider.sock", total, conc)
        await publish_latencies(sock, b.root, "pub", 20, concurrency=conc, tag=f"warm-{slug}-{conc}")
        lat = await publish_latencies(sock, b.root, "pub", total, concurrency=conc, tag=f"{slug}-{conc}")
        report(f"{name}: NodePublishVolume, {conc} concurrent", lat, base)


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--kubeconfig", default="")
    ap.add_argument("--upstream", action="store_true")
    args = ap.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("run as root (tmpfs mounts)")
    root = Path(tempfile.mkdtemp(prefix="ssc-bench-"))
    b = Bench(root, args.kubeconfig)
    lock = None
    crds_present = True
    if args.kubeconfig:
        # The team's cluster lock, taken before anything runs on the loop: blocking here is the point.
        lock = open("/tmp/ssc-cluster-driver.lock", "a+")  # noqa: ASYNC230, SIM115, S108
        fcntl.flock(lock, fcntl.LOCK_EX)
        spc_crd = "secretproviderclasses.secrets-store.csi.x-k8s.io"
        crds_present = b.kubectl("get", "crd", spc_crd, check=False).returncode == 0
        if not crds_present:
            b.kubectl("apply", "-f", str(CRDS))
            b.kubectl("wait", "--for=condition=Established", "--timeout=60s", "crd", "--all")
        b.kubectl("create", "namespace", NAMESPACE)
    try:
        b.provider()
        b.spc("pub", 10)
        b.spc("rot", 10)
        src = "apiserver" if args.kubeconfig else "SPC directory"
        print(f"driver benchmarks (zero-latency provider, SPC of 10 objects, SPC source: {src})", flush=True)

        sock = root / "ours" / "csi.sock"
        proc = b.ours(sock)
        await asyncio.sleep(1)
        print(f"  RSS idle (this driver)                        {rss_mib(proc.pid):.1f} MiB", flush=True)
        await bench_publish(b, sock, "this driver")

        # RSS with 200 mounted volumes
        channel = grpc.aio.insecure_channel(f"unix:{sock}")
        node = csi_pb2_grpc.NodeStub(channel)
        for i in range(200):
            target = root / "pods" / f"rss-{i}" / "mount"
            target.parent.mkdir(parents=True, exist_ok=True)
            await node.NodePublishVolume(
                csi_pb2.NodePublishVolumeRequest(
                    volume_id=f"rss-{i}",
                    target_path=str(target),
                    volume_capability=CAP,
                    readonly=True,
                    volume_context=ctx(f"rss-{i}", "pub"),
                )
            )
        mounted = sum(1 for p in mount_points() if p.startswith(str(root)))
        label = f"RSS with {mounted} mounted volumes (this driver)"
        print(f"  {label}, right after  {rss_mib(proc.pid):.1f} MiB", flush=True)
        await asyncio.sleep(6)
        print(f"  {label}, 6 s later    {rss_mib(proc.pid):.1f} MiB", flush=True)
        await channel.close()
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)

        if args.upstream:
            usock = root / "upstream" / "csi.sock"
            uproc = b.upstream(usock)
            await asyncio.sleep(2)
            print(f"  RSS idle (upstream v1.6.0)                    {rss_mib(uproc.pid):.1f} MiB", flush=True)
            await bench_publish(b, usock, "upstream v1.6.0")
            uproc.send_signal(signal.SIGTERM)
            uproc.wait(30)

        # Rotation: 50 pods, one SPC of 10 objects, one service account.
        for point in sorted(mount_points(), key=len, reverse=True):
            if point.startswith(str(root) + "/"):
                unmount(point)
        rsock = root / "rot" / "csi.sock"
        interval = 3.0
        rproc = b.ours(rsock, "--enable-secret-rotation", "--rotation-poll-interval", f"{interval}s")
        channel = grpc.aio.insecure_channel(f"unix:{rsock}")
        node = csi_pb2_grpc.NodeStub(channel)
        t0 = time.monotonic()
        for i in range(50):
            target = root / "pods" / f"rot-{i}" / "mount"
            target.parent.mkdir(parents=True, exist_ok=True)
            await node.NodePublishVolume(
                csi_pb2.NodePublishVolumeRequest(
                    volume_id=f"rot-{i}",
                    target_path=str(target),
                    volume_capability=CAP,
                    readonly=True,
                    volume_context=ctx(f"rot-{i}", "rot", sa="app"),
                )
            )
        before = len(b.calls.read_text().splitlines())
        # Wait for exactly one poll to pass (polls happen every `interval` from driver start).
        await asyncio.sleep(interval * 1.5 - (time.monotonic() - t0) % interval)
        during = len(b.calls.read_text().splitlines()) - before
        print(
            f"  rotation poll, 50 pods sharing one SPC (10 objects, one service account): "
            f"{during} provider Mount call(s) in one poll (upstream: one per pod = 50)",
            flush=True,
        )
        await channel.close()
        rproc.send_signal(signal.SIGTERM)
        rproc.wait(30)
    finally:
        b.close()
        shutil.rmtree(root, ignore_errors=True)
        if args.kubeconfig:
            b.kubectl("delete", "namespace", NAMESPACE, "--wait=true", check=False)
            if not crds_present:
                b.kubectl("delete", "-f", str(CRDS), check=False)
        if lock is not None:
            lock.close()


if __name__ == "__main__":
    asyncio.run(main())
