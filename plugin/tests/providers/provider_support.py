"""Helpers for provider tests: a real `secrets-store-csi provider NAME` process on a unix socket in a
temporary directory, and a gRPC client that calls it exactly as a driver does."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import grpc

from secrets_store_csi.proto.v1alpha1 import provider_pb2, provider_pb2_grpc

ROOT = Path(__file__).resolve().parents[3]
CACHE = Path(os.environ.get("CACHE", Path.home() / ".cache" / "secrets-store-csi"))
ENV_FILE = CACHE / "emulators" / "env"


def emulator_env() -> dict[str, str]:
    """The exports of $CACHE/emulators/env; starts the emulators (make emulators-up) when missing."""
    if not ENV_FILE.exists():
        subprocess.run(["make", "-C", str(ROOT), "emulators-up"], check=True)
    env: dict[str, str] = {}
    for line in ENV_FILE.read_text().splitlines():
        if line.startswith("export "):
            key, _, value = line.removeprefix("export ").partition("=")
            env[key] = shlex.split(value)[0] if value else ""
    return env


@dataclass
class ProviderProcess:
    name: str
    socket: str
    proc: subprocess.Popen[bytes]
    log_path: Path
    metrics_port: int
    channel: grpc.Channel
    stub: provider_pb2_grpc.CSIDriverProviderStub

    def mount(
        self,
        attributes: dict[str, str],
        secrets: dict[str, str] | None = None,
        target_path: str = "/var/lib/kubelet/pods/uid-1/volumes/kubernetes.io~csi/v/mount",
        permission: str = "420",
        current: dict[str, str] | None = None,
        timeout: float = 30,
    ) -> provider_pb2.MountResponse:
        req = provider_pb2.MountRequest(
            attributes=json.dumps(attributes),
            secrets=json.dumps(secrets or {}),
            target_path=target_path,
            permission=permission,
            current_object_version=[
                provider_pb2.ObjectVersion(id=k, version=v) for k, v in (current or {}).items()
            ],
        )
        resp: provider_pb2.MountResponse = self.stub.Mount(req, timeout=timeout)
        return resp

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def backend_calls(self) -> dict[str, float]:
        """The provider's own counter of requests sent to the backend, read from its metrics endpoint."""
        import urllib.request

        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5) as resp:
            text = resp.read().decode()
        out: dict[str, float] = {}
        for line in text.splitlines():
            if line.startswith("secrets_store_provider_backend_calls_total{"):
                labels, _, value = line.rpartition(" ")
                op = labels.split('operation="')[1].split('"')[0]
                out[op] = out.get(op, 0) + float(value)
        return out


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_provider(
    name: str, tmp: Path, env: dict[str, str], extra_args: list[str] | None = None, user: int | None = None
) -> ProviderProcess:
    log_path = tmp / f"{name}.log"
    port = free_port()
    full_env = {**os.environ, **env}
    python = sys.executable
    if user is None:
        sock_dir = tmp / "sockets"
        sock_dir.mkdir(exist_ok=True)
    else:
        # An unprivileged user cannot enter pytest's 0700 temp dirs nor a python under /root: give it a
        # socket directory of its own and the system python with this environment's packages on its path.
        sock_dir = Path(tempfile.mkdtemp(prefix="ssc-nonroot-"))
        os.chown(sock_dir, user, user)
        os.chmod(sock_dir, 0o755)
        python = "/usr/bin/python3"
        full_env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p and os.path.isdir(p))
        full_env["HOME"] = str(sock_dir)
    cmd = [
        python,
        "-m",
        "secrets_store_csi.cli",
        "provider",
        name,
        "--socket-dir",
        str(sock_dir),
        "--metrics-addr",
        f"127.0.0.1:{port}",
        "--log-level",
        "debug",
        *(extra_args or []),
    ]
    with open(log_path, "wb") as logf:
        proc = subprocess.Popen(cmd, env=full_env, stdout=logf, stderr=subprocess.STDOUT, user=user)
    socket_path = sock_dir / f"{name}.sock"
    deadline = time.monotonic() + 30
    while not socket_path.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"provider {name} did not start:\n{log_path.read_text()}")
        time.sleep(0.05)
    channel = grpc.insecure_channel(
        f"unix://{socket_path}", options=[("grpc.default_authority", "localhost")]
    )
    return ProviderProcess(
        name,
        str(socket_path),
        proc,
        log_path,
        port,
        channel,
        provider_pb2_grpc.CSIDriverProviderStub(channel),
    )


def stop_provider(p: ProviderProcess) -> None:
    """Stop the provider; a socket directory made for an unprivileged user is removed with it."""
    p.channel.close()
    p.proc.terminate()
    try:
        p.proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        p.proc.kill()
    sock_dir = Path(p.socket).parent
    if sock_dir.name.startswith("ssc-nonroot-"):
        shutil.rmtree(sock_dir, ignore_errors=True)


def files_of(resp: provider_pb2.MountResponse) -> dict[str, bytes]:
    return {f.path: f.contents for f in resp.files}


def versions_of(resp: provider_pb2.MountResponse) -> dict[str, str]:
    return {v.id: v.version for v in resp.object_version}


def calls_delta(before: dict[str, float], after: dict[str, float]) -> dict[str, int]:
    """Backend calls made between two readings of a provider's counter, by operation (zeros dropped)."""
    return {k: int(v - before.get(k, 0)) for k, v in after.items() if v - before.get(k, 0)}
