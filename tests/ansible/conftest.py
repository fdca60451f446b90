"""Fixtures for the Ansible tests (tests/ansible): they run ansible-playbook from $CACHE/venv-ansible."""

from __future__ import annotations

from pathlib import Path

import pytest
from ansible_helpers import write_unreachable_kubeconfig


@pytest.fixture
def unreachable_kubeconfig(tmp_path: Path) -> Path:
    """A well-formed kubeconfig whose API server refuses connections."""
    return write_unreachable_kubeconfig(tmp_path / "kubeconfig")
