"""Bad role options are refused by the argument specs, naming the option, before any role reaches the cluster.

The kubeconfig points at a port where nothing listens: had a role got as far as the cluster, the failure would
be the preflight's "did not accept a connection" instead of the option's error.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from ansible_helpers import ansible_playbook

pytestmark = pytest.mark.ansible

CASES: list[tuple[str, dict[str, object], str]] = [
    # (playbook, extra vars, text the refusal must contain)
    (
        "playbooks/install.yml",
        {"secrets_store_csi_driver_mode": "bogus"},
        "value of secrets_store_csi_driver_mode must be one of: operator, helm, got: bogus",
    ),
    (
        "playbooks/install.yml",
        {"secrets_store_csi_driver_log_level": "Verbose"},
        "value of secrets_store_csi_driver_log_level must be one of: Normal, Debug, Trace, TraceAll",
    ),
    (
        "playbooks/install.yml",
        {"secrets_store_csi_provider_names": ["aws", "gcp"]},
        "secrets_store_csi_provider_names must be one or more of: aws, azure, vault",
    ),
    ("playbooks/install.yml", {"secrets_store_csi_provider_aws": {"endpoint": "http://x"}}, "endpoint"),
    (
        "playbooks/install.yml",
        {"secrets_store_csi_operator_wait_timeout": "soon"},
        "secrets_store_csi_operator_wait_timeout",
    ),
    (
        "playbooks/install.yml",
        {"secrets_store_csi_driver_token_requests": [{"expirationSeconds": 3600}]},
        "audience",
    ),
    (
        "playbooks/install.yml",
        {"secrets_store_csi_driver_rotation_poll_interval": 0},
        "secrets_store_csi_driver_rotation_poll_interval must be 1 or more seconds",
    ),
    (
        "playbooks/install.yml",
        {"secrets_store_csi_driver_token_requests": [{"audience": "vault"}, {"audience": "vault"}]},
        "must list each audience once",
    ),
    (
        "playbooks/install.yml",
        {"secrets_store_csi_provider_names": ["aws", "aws"]},
        "secrets_store_csi_provider_names lists a provider twice",
    ),
    (
        "playbooks/uninstall.yml",
        {"secrets_store_csi_uninstall_force": "maybe"},
        "secrets_store_csi_uninstall_force",
    ),
    (
        "playbooks/uninstall.yml",
        {"secrets_store_csi_uninstall_providers": ["gcp"]},
        "secrets_store_csi_uninstall_providers must be one or more of: aws, azure, vault",
    ),
]


IDS = [f"{p.split('/')[-1]}:{next(iter(e))}" for p, e, _ in CASES]


@pytest.mark.parametrize(("playbook", "extra", "expected"), CASES, ids=IDS)
def test_bad_option_is_refused_by_name_before_the_cluster_is_contacted(
    playbook: str, extra: dict[str, object], expected: str, unreachable_kubeconfig: Path
) -> None:
    run = ansible_playbook(
        playbook,
        "-e",
        json.dumps(extra),
        "-e",
        "secrets_store_csi_helm_binary=/bin/true",
        env={"KUBECONFIG": str(unreachable_kubeconfig)},
    )
    assert run.rc != 0, run.output
    assert expected in run.output, run.output
    assert "did not accept a connection" not in run.output, "a role reached for the cluster before refusing"
    assert "Preflight | Connect to the API server" not in run.output


def test_good_options_get_as_far_as_the_cluster(unreachable_kubeconfig: Path) -> None:
    """The control case: with valid options the same run fails only at the cluster connection."""
    run = ansible_playbook(
        "playbooks/install.yml",
        "-e",
        "secrets_store_csi_helm_binary=/bin/true",
        "-e",
        "@playbooks/vars/local-emulators.yml",
        "-e",
        "secrets_store_csi_node_ip=192.0.2.1",
        env={"KUBECONFIG": str(unreachable_kubeconfig)},
    )
    assert run.rc != 0
    assert "did not accept a connection" in run.output, run.output
