"""`secrets-store-csi provider aws|azure|vault [flags]`: run one provider's gRPC server."""

# Imports are lazy on purpose: a provider process loads only its own backend's libraries.
# ruff: noqa: PLC0415

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys

from secrets_store_csi.providers.mountspec import Provider

DEFAULT_SOCKET_DIR = "/var/run/secrets-store-csi-providers"
NAMES = ("aws", "azure", "vault")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="secrets-store-csi provider", description=__doc__)
    p.add_argument("name", choices=NAMES, help="which provider to run")
    p.add_argument(
        "--socket-dir",
        default=os.environ.get("PROVIDER_SOCKET_DIR", DEFAULT_SOCKET_DIR),
        help="directory of the provider socket <dir>/<name>.sock (default %(default)s)",
    )
    p.add_argument("--socket", default=None, help="full socket path (overrides --socket-dir)")
    p.add_argument(
        "--log-level",
        default=os.environ.get("LOG_LEVEL", "info"),
        choices=["debug", "info", "warning", "error"],
    )
    p.add_argument(
        "--metrics-addr",
        default=os.environ.get("METRICS_ADDR", ""),
        help="host:port to serve Prometheus metrics on (off when empty)",
    )
    p.add_argument(
        "--kubeconfig",
        default=os.environ.get("KUBECONFIG", ""),
        help="kubeconfig for the Kubernetes API reads (in-cluster config when empty)",
    )
    p.add_argument(
        "--vault-addr",
        default=os.environ.get("VAULT_ADDR", ""),
        help="vault provider: default Vault address when the SecretProviderClass names none",
    )
    p.add_argument(
        "--vault-mount",
        default=os.environ.get("VAULT_AUTH_MOUNT", "kubernetes"),
        help="vault provider: default auth mount (default %(default)s)",
    )
    return p


def make_provider(args: argparse.Namespace) -> Provider:
    from secrets_store_csi.providers.kubereads import KubeReads

    kube = KubeReads.from_config(args.kubeconfig or None)
    if args.name == "aws":
        from secrets_store_csi.providers.aws import AwsProvider

        return AwsProvider(kube=kube)
    if args.name == "azure":
        from secrets_store_csi.providers.azure import AzureProvider

        return AzureProvider()
    from secrets_store_csi.providers.vault import VaultProvider

    return VaultProvider(default_address=args.vault_addr, default_mount=args.vault_mount)


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # Library loggers can print request bodies at debug level (tokens, secret values): keep them quiet.
    for noisy in ("botocore", "boto3", "urllib3", "aiohttp", "grpc"):
        logging.getLogger(noisy).setLevel(max(logging.INFO, logging.getLogger().level))
    if args.metrics_addr:
        from prometheus_client import start_http_server

        host, _, port = args.metrics_addr.rpartition(":")
        start_http_server(int(port), addr=host or "0.0.0.0")  # noqa: S104 - operator's choice
    socket_path = args.socket or os.path.join(args.socket_dir, f"{args.name}.sock")

    async def run() -> None:
        from secrets_store_csi.providers.server import serve

        await serve(make_provider(args), socket_path)

    asyncio.run(run())
    return 0
