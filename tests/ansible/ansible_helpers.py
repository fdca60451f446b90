"""Helpers for the Ansible tests: run ansible-playbook from the Ansible venv against this repository."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CACHE = Path(os.environ.get("CACHE", Path.home() / ".cache" / "secrets-store-csi"))
ANSIBLE_VENV = Path(os.environ.get("ANSIBLE_VENV", CACHE / "venv-ansible"))


@dataclass
class Run:
    rc: int
    output: str
    seconds: float


def ansible_playbook(
    playbook: str, *extra: str, env: dict[str, str] | None = None, timeout: int = 120
) -> Run:
    """Run a playbook of this repository; output is stdout and stderr together."""
    binary = ANSIBLE_VENV / "bin" / "ansible-playbook"
    if not binary.exists():
        found = shutil.which("ansible-playbook")
        assert found, f"ansible-playbook not found in {ANSIBLE_VENV}: run `make ansible-venv`"
        binary = Path(found)
    full_env = {
        **os.environ,
        "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
        "ANSIBLE_NOCOLOR": "1",
        **(env or {}),
    }
    start = time.monotonic()
    proc = subprocess.run(
        [str(binary), str(ROOT / playbook), *extra],
        cwd=ROOT,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return Run(proc.returncode, proc.stdout + proc.stderr, time.monotonic() - start)


def closed_port() -> int:
    """A local TCP port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_unreachable_kubeconfig(path: Path) -> Path:
    """A well-formed kubeconfig whose API server refuses connections."""
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "gone", "cluster": {"server": f"https://127.0.0.1:{closed_port()}"}}],
        "users": [{"name": "nobody", "user": {"token": "not-a-real-token"}}],
        "contexts": [{"name": "gone", "context": {"cluster": "gone", "user": "nobody"}}],
        "current-context": "gone",
    }
    path.write_text(json.dumps(doc))
    return path
