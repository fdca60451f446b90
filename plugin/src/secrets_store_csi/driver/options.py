"""Command-line flags of `secrets-store-csi driver`, with the upstream driver's names where they exist."""

from __future__ import annotations

import argparse
import os
import re
from dataclasses import dataclass, field

DRIVER_NAME = "secrets-store.csi.k8s.io"
DEFAULT_PROVIDER_DIR = "/var/run/secrets-store-csi-providers"
DEFAULT_ADDITIONAL_PROVIDER_DIRS = ("/etc/kubernetes/secrets-store-csi-providers",)
DEFAULT_MAX_RECV = 4 * 1024 * 1024

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(text: str) -> float:
    """Parse a Go-style duration ("2m", "1m30s", "500ms", "10s") or plain seconds into seconds."""
    text = text.strip()
    try:
        return float(text)
    except ValueError:
        pass
    pos, total = 0, 0.0
    for match in _DURATION.finditer(text):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if pos != len(text) or not text:
        raise argparse.ArgumentTypeError(f"invalid duration {text!r}: use forms like 2m, 30s, 1m30s, 500ms")
    return total


def _bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "t", "true", "yes", "y", "on"):
        return True
    if lowered in ("0", "f", "false", "no", "n", "off"):
        return False
    raise argparse.ArgumentTypeError(f"invalid boolean {text!r}: use true or false")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"invalid integer {text!r}") from exc
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{value} must be greater than zero")
    return value


@dataclass
class Options:
    endpoint: str = "unix:///tmp/csi.sock"
    node_id: str = ""
    driver_name: str = DRIVER_NAME
    provider_volume: str = DEFAULT_PROVIDER_DIR
    additional_provider_volume_paths: list[str] = field(
        default_factory=lambda: list(DEFAULT_ADDITIONAL_PROVIDER_DIRS)
    )
    metrics_addr: str = ":8095"
    enable_secret_rotation: bool = False
    rotation_poll_interval: float = 120.0
    max_call_recv_msg_size: int = DEFAULT_MAX_RECV
    provider_health_check: bool = False
    provider_health_check_interval: float = 120.0
    provider_timeout: float = 60.0
    log_format_json: bool = False
    verbosity: int = 0
    kubeconfig: str = ""
    enable_secret_sync: bool = True
    secret_provider_class_dir: str = ""

    def socket_path(self) -> str:
        """The filesystem path of the unix socket named by --endpoint."""
        endpoint = self.endpoint
        for prefix in ("unix://", "unix:"):
            if endpoint.startswith(prefix):
                endpoint = endpoint[len(prefix) :]
                break
        else:
            if "://" in endpoint:
                raise ValueError(f"--endpoint {self.endpoint!r}: only unix sockets are supported")
        return endpoint

    def provider_dirs(self) -> list[str]:
        dirs = [self.provider_volume, *self.additional_provider_volume_paths]
        return [d for d in dirs if d]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="secrets-store-csi driver",
        description="CSI node plugin of the Secrets Store CSI driver (secrets-store.csi.k8s.io).",
    )
    d = Options()
    parser.add_argument("--endpoint", default=d.endpoint, help="CSI endpoint, unix:///path/csi.sock")
    parser.add_argument(
        "--nodeid",
        dest="node_id",
        default=os.environ.get("NODE_NAME", ""),
        help="node name reported by NodeGetInfo and used in pod status labels (default $NODE_NAME)",
    )
    parser.add_argument("--drivername", dest="driver_name", default=d.driver_name, help="CSI driver name")
    parser.add_argument(
        "--provider-volume", default=d.provider_volume, help="directory holding provider sockets <name>.sock"
    )
    parser.add_argument(
        "--additional-provider-volume-paths",
        default=",".join(d.additional_provider_volume_paths),
        help="comma-separated directories searched for provider sockets after --provider-volume",
    )
    parser.add_argument(
        "--metrics-addr", default=d.metrics_addr, help="metrics listen address; empty to disable"
    )
    parser.add_argument(
        "--enable-secret-rotation",
        type=_bool,
        nargs="?",
        const=True,
        default=d.enable_secret_rotation,
        help="refresh mounted content and synced Secrets every --rotation-poll-interval",
    )
    parser.add_argument(
        "--rotation-poll-interval",
        type=parse_duration,
        default=d.rotation_poll_interval,
        help="rotation period, and the minimum interval between two fetches for one volume (default 2m)",
    )
    parser.add_argument(
        "--max-call-recv-msg-size",
        type=_positive_int,
        default=d.max_call_recv_msg_size,
        help="largest provider response in bytes (default 4194304)",
    )
    parser.add_argument(
        "--provider-health-check",
        type=_bool,
        nargs="?",
        const=True,
        default=d.provider_health_check,
        help="call each provider's Version periodically and export provider_health_check_status",
    )
    parser.add_argument(
        "--provider-health-check-interval",
        type=parse_duration,
        default=d.provider_health_check_interval,
        help="period of the provider health check (default 2m)",
    )
    parser.add_argument(
        "--provider-timeout",
        type=parse_duration,
        default=d.provider_timeout,
        help="deadline for one provider fetch, retries included; keep it below kubelet's 2m (default 60s)",
    )
    parser.add_argument(
        "--enable-secret-sync",
        type=_bool,
        nargs="?",
        const=True,
        default=d.enable_secret_sync,
        help="sync secretObjects to Kubernetes Secrets (needs RBAC to write Secrets)",
    )
    parser.add_argument(
        "--log-format-json",
        type=_bool,
        nargs="?",
        const=True,
        default=d.log_format_json,
        help="log one JSON object per line",
    )
    parser.add_argument("-v", "--v", dest="verbosity", type=int, default=d.verbosity, help="log verbosity")
    parser.add_argument(
        "--kubeconfig",
        default=os.environ.get("KUBECONFIG", ""),
        help="kubeconfig for running outside the cluster (default: in-cluster config)",
    )
    parser.add_argument(
        "--secret-provider-class-dir",
        default=d.secret_provider_class_dir,
        help="read SecretProviderClasses from DIR/<namespace>/<name>.yaml instead of the apiserver "
        "(running without a cluster: csi-sanity, host tests, benchmarks)",
    )
    return parser


def parse(argv: list[str]) -> Options:
    ns = build_parser().parse_args(argv)
    additional = [p.strip() for p in ns.additional_provider_volume_paths.split(",") if p.strip()]
    if ns.rotation_poll_interval <= 0:
        raise SystemExit("--rotation-poll-interval must be greater than zero")
    if ns.provider_timeout <= 0:
        raise SystemExit("--provider-timeout must be greater than zero")
    return Options(
        endpoint=ns.endpoint,
        node_id=ns.node_id,
        driver_name=ns.driver_name,
        provider_volume=ns.provider_volume,
        additional_provider_volume_paths=additional,
        metrics_addr=ns.metrics_addr,
        enable_secret_rotation=ns.enable_secret_rotation,
        rotation_poll_interval=ns.rotation_poll_interval,
        max_call_recv_msg_size=ns.max_call_recv_msg_size,
        provider_health_check=ns.provider_health_check,
        provider_health_check_interval=ns.provider_health_check_interval,
        provider_timeout=ns.provider_timeout,
        log_format_json=ns.log_format_json,
        verbosity=ns.verbosity,
        kubeconfig=ns.kubeconfig,
        enable_secret_sync=ns.enable_secret_sync,
        secret_provider_class_dir=ns.secret_provider_class_dir,
    )
