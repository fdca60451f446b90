"""The preflight fails fast, with a message that says what to do, before any change."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from ansible_helpers import ansible_playbook

pytestmark = pytest.mark.ansible

PLAYBOOKS = ["playbooks/install.yml", "playbooks/uninstall.yml"]


@pytest.mark.parametrize("playbook", PLAYBOOKS)
def test_missing_kubeconfig_says_how_to_get_one(playbook: str, tmp_path: Path) -> None:
    missing = tmp_path / "no-such-kubeconfig"
    run = ansible_playbook(
        playbook, "-e", "secrets_store_csi_helm_binary=/bin/true", env={"KUBECONFIG": str(missing)}
    )
    assert run.rc != 0
    assert f"kubeconfig {missing} does not exist" in run.output, run.output
    assert "make cluster-up" in run.output
    assert "secrets_store_csi_kubeconfig" in run.output


@pytest.mark.parametrize("playbook", PLAYBOOKS)
def test_unreachable_cluster_fails_within_the_connect_timeout(
    playbook: str, unreachable_kubeconfig: Path
) -> None:
    run = ansible_playbook(
        playbook,
        "-e",
        "secrets_store_csi_helm_binary=/bin/true",
        env={"KUBECONFIG": str(unreachable_kubeconfig)},
    )
    assert run.rc != 0
    assert "did not accept a connection within 5 s" in run.output, run.output
    assert "make cluster-up" in run.output
    assert run.seconds < 60, f"took {run.seconds:.0f} s"


@pytest.mark.parametrize("playbook", PLAYBOOKS)
def test_missing_helm_binary_says_how_to_install_or_point_to_it(
    playbook: str, unreachable_kubeconfig: Path
) -> None:
    run = ansible_playbook(
        playbook,
        "-e",
        "secrets_store_csi_helm_binary=/nonexistent/helm",
        env={"KUBECONFIG": str(unreachable_kubeconfig)},
    )
    assert run.rc != 0
    assert "helm could not be run as /nonexistent/helm" in run.output, run.output
    assert "secrets_store_csi_helm_binary" in run.output
    # helm is checked first: the cluster was not contacted.
    assert "did not accept a connection" not in run.output


def test_kubeconfig_without_current_context_names_the_fix(tmp_path: Path) -> None:
    path = tmp_path / "kubeconfig"
    path.write_text(
        json.dumps({"apiVersion": "v1", "kind": "Config", "clusters": [], "contexts": [], "users": []})
    )
    run = ansible_playbook(
        "playbooks/install.yml",
        "-e",
        "secrets_store_csi_helm_binary=/bin/true",
        env={"KUBECONFIG": str(path)},
    )
    assert run.rc != 0
    assert "has no context" in run.output, run.output
    assert "get-contexts" in run.output


def test_demo_needs_no_helm_but_still_checks_the_cluster(unreachable_kubeconfig: Path) -> None:
    run = ansible_playbook(
        "playbooks/demo.yml",
        "-e",
        "secrets_store_csi_helm_binary=/nonexistent/helm",
        env={"KUBECONFIG": str(unreachable_kubeconfig)},
    )
    assert run.rc != 0
    assert "helm could not be run" not in run.output
    assert "did not accept a connection" in run.output, run.output
