"""Provider benchmark against the emulators: backend calls per mount, Mount latency, provider RSS.

Starts real `secrets-store-csi provider aws|vault|azure` processes on unix sockets in a temporary directory
and calls Mount over gRPC exactly as a driver does. Needs the emulators (`make emulators-up`); reads their
settings from $CACHE/emulators/env. Prints its figures; `make bench-providers` runs it.

    python bench/providers_mount.py [--rounds 200]
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3
import grpc
import yaml
from secrets_store_csi.proto.v1alpha1 import provider_pb2, provider_pb2_grpc

CACHE = Path(os.environ.get("CACHE", Path.home() / ".cache" / "secrets-store-csi"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "plugin" / "tests" / "providers"))
from provider_vault import Bao, Signer, setup_jwt_auth  # noqa: E402


def emulator_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for line in (CACHE / "emulators" / "env").read_text().splitlines():
        if line.startswith("export "):
            key, _, value = line.removeprefix("export ").partition("=")
            env[key] = shlex.split(value)[0] if value else ""
    return env


class Provider:
    def __init__(self, name: str, env: dict[str, str], workdir: Path) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.metrics_port = s.getsockname()[1]
        self.socket = workdir / f"{name}.sock"
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "secrets_store_csi.cli",
                "provider",
                name,
                "--socket-dir",
                str(workdir),
                "--metrics-addr",
                f"127.0.0.1:{self.metrics_port}",
                "--log-level",
                "warning",
            ],
            env={**os.environ, **env},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while not self.socket.exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"provider {name} did not start")
            time.sleep(0.05)
        self.channel = grpc.insecure_channel(f"unix://{self.socket}")
        self.stub = provider_pb2_grpc.CSIDriverProviderStub(self.channel)

    def mount(
        self,
        attrs: dict[str, str],
        secrets: dict[str, str] | None = None,
        current: dict[str, str] | None = None,
    ) -> provider_pb2.MountResponse:
        resp: provider_pb2.MountResponse = self.stub.Mount(
            provider_pb2.MountRequest(
                attributes=json.dumps(attrs),
                secrets=json.dumps(secrets or {}),
                target_path="/bench/target",
                permission="420",
                current_object_version=[
                    provider_pb2.ObjectVersion(id=k, version=v) for k, v in (current or {}).items()
                ],
            ),
            timeout=60,
        )
        return resp

    def calls(self) -> dict[str, float]:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5) as resp:
            text = resp.read().decode()
        out: dict[str, float] = {}
        for line in text.splitlines():
            if line.startswith("secrets_store_provider_backend_calls_total{"):
                labels, _, value = line.rpartition(" ")
                op = labels.split('operation="')[1].split('"')[0]
                out[op] = out.get(op, 0) + float(value)
        return out

    def rss_mib(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def stop(self) -> None:
        self.channel.close()
        self.proc.terminate()
        self.proc.wait(timeout=10)


def latency(p: Provider, rounds: int, attrs: dict[str, str], secrets: dict[str, str] | None = None) -> str:
    p.mount(attrs, secrets)  # warm: clients, tokens
    samples = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        p.mount(attrs, secrets)
        samples.append((time.perf_counter() - t0) * 1000)
    samples.sort()
    p99 = samples[min(len(samples) - 1, int(len(samples) * 0.99))]
    return f"p50 {statistics.median(samples):6.1f} ms  p99 {p99:6.1f} ms  ({rounds} mounts)"


def calls_for(
    p: Provider,
    attrs: dict[str, str],
    secrets: dict[str, str] | None = None,
    current: dict[str, str] | None = None,
) -> tuple[str, provider_pb2.MountResponse]:
    before = p.calls()
    resp = p.mount(attrs, secrets, current)
    after = p.calls()
    delta = {k: int(v - before.get(k, 0)) for k, v in after.items() if v - before.get(k, 0)}
    total = sum(delta.values())
    return f"{total:3d}  " + ", ".join(f"{k} x{v}" for k, v in sorted(delta.items())), resp


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=200)
    args = ap.parse_args()
    env = emulator_env()
    prefix = f"bench{uuid.uuid4().hex[:8]}"
    keys = {"access_key_id": "AKIDBENCH", "secret_access_key": "bench"}
    kw: dict[str, Any] = {
        "endpoint_url": env["AWS_ENDPOINT_URL"],
        "region_name": "us-east-1",
        "aws_access_key_id": "a",
        "aws_secret_access_key": "b",
    }
    ssm, sm = boto3.client("ssm", **kw), boto3.client("secretsmanager", **kw)
    for i in range(25):
        ssm.put_parameter(Name=f"/{prefix}/p{i}", Value=f"value-{i}", Type="SecureString")
        sm.create_secret(Name=f"{prefix}/s{i}", SecretString=f"secret-{i}")
    ssm_attrs = {
        "objects": yaml.safe_dump(
            [{"objectName": f"/{prefix}/p{i}", "objectType": "ssmparameter"} for i in range(25)]
        ),
        "csi.storage.k8s.io/pod.uid": "bench-1",
    }
    sm_attrs = {
        "objects": yaml.safe_dump(
            [{"objectName": f"{prefix}/s{i}", "objectType": "secretsmanager"} for i in range(25)]
        ),
        "csi.storage.k8s.io/pod.uid": "bench-1",
    }
    one_attrs = {"objects": yaml.safe_dump([{"objectName": f"{prefix}/s0", "objectType": "secretsmanager"}])}

    bao = Bao(env["VAULT_ADDR"])
    signer = Signer()
    bao.call(
        "PUT", "sys/policies/acl/bench", {"policy": 'path "secret/data/bench/*" {capabilities=["read"]}'}
    )
    setup_jwt_auth(bao, signer, "jwt-bench", "bench", "bench")
    bao.call("POST", f"secret/data/bench/{prefix}", {"data": {"user": "u", "password": "p"}})
    tokens = json.dumps(
        {"vault": {"token": signer.token("bench", "vault", ttl=3600), "expirationTimestamp": ""}}
    )
    vault_attrs = {
        "vaultAddress": env["VAULT_ADDR"],
        "roleName": "bench",
        "vaultAuthMountPath": "jwt-bench",
        "csi.storage.k8s.io/serviceAccount.tokens": tokens,
        "objects": yaml.safe_dump(
            [
                {"objectName": k, "secretPath": f"secret/data/bench/{prefix}", "secretKey": k}
                for k in ("user", "password")
            ]
        ),
    }

    with tempfile.TemporaryDirectory(prefix="ssc-bench-") as tmp:
        aws_env = {"AWS_ENDPOINT_URL": env["AWS_ENDPOINT_URL"], "AWS_REGION": "us-east-1"}
        aws = Provider("aws", aws_env, Path(tmp))
        vault = Provider("vault", {}, Path(tmp))
        azure = Provider("azure", {}, Path(tmp))
        try:
            idle = {"aws": aws.rss_mib(), "vault": vault.rss_mib(), "azure": azure.rss_mib()}
            n_ssm, r_ssm = calls_for(aws, ssm_attrs, keys)
            n_sm, r_sm = calls_for(aws, sm_attrs, keys)
            cur_ssm = {v.id: v.version for v in r_ssm.object_version}
            cur_sm = {v.id: v.version for v in r_sm.object_version}
            n_ssm_re, _ = calls_for(aws, ssm_attrs, keys, cur_ssm)
            n_sm_re, _ = calls_for(aws, sm_attrs, keys, cur_sm)
            print("backend calls per mount (moto)")
            print(f"  25 SSM parameters, first mount       {n_ssm}   (goal 3)")
            print(f"  25 SSM parameters, unchanged remount {n_ssm_re}")
            print(f"  25 Secrets Manager secrets, first    {n_sm}   (goal 2)")
            print(f"  25 Secrets Manager secrets, remount  {n_sm_re}")
            before = aws.calls()
            with ThreadPoolExecutor(max_workers=8) as pool:
                list(
                    pool.map(
                        lambda n: aws.mount({**ssm_attrs, "csi.storage.k8s.io/pod.uid": f"pod-{n}"}, keys),
                        range(8),
                    )
                )
            shared = int(sum(aws.calls().values()) - sum(before.values()))
            print(f"  8 pods mounting the 25 parameters at once {shared:3d}   (24 without sharing)")
            print("Mount latency (provider over gRPC, emulator round trips included)")
            print(f"  aws   1 secret          {latency(aws, args.rounds, one_attrs, keys)}")
            print(f"  aws   25 SSM parameters {latency(aws, max(args.rounds // 4, 10), ssm_attrs, keys)}")
            print(f"  aws   25 secrets        {latency(aws, max(args.rounds // 4, 10), sm_attrs, keys)}")
            print(f"  vault 2 keys, 1 path    {latency(vault, args.rounds, vault_attrs)}")
            print("RSS of each provider process (MiB)")
            print(f"  aws   idle {idle['aws']:6.1f}  after the runs {aws.rss_mib():6.1f}")
            print(f"  vault idle {idle['vault']:6.1f}  after the runs {vault.rss_mib():6.1f}")
            print(f"  azure idle {idle['azure']:6.1f}  (no Key Vault emulator here: no mounts)")
        finally:
            for p in (aws, vault, azure):
                p.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
