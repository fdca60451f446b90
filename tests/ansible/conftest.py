"""Fixtures for the Ansible tests (tests/ansible): they run ansible-playbook from $CACHE/venv-ansible."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

# The cluster tests share the chart tests' helpers (the team's driver lock, the emulators' settings).
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "charts"))
from ansible_helpers import write_unreachable_kubeconfig


@pytest.fixture
def unreachable_kubeconfig(tmp_path: Path) -> Path:
    """A well-formed kubeconfig whose API server refuses connections."""
    kubeconfig: Path = write_unreachable_kubeconfig(tmp_path / "kubeconfig")
    return kubeconfig
