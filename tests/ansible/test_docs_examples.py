"""Every manifest under docs/examples/ is applied by the cluster tier."""

from __future__ import annotations

import pytest
import yaml
from docs_examples import EXAMPLES, EXAMPLES_DIR

pytestmark = pytest.mark.ansible


def test_every_docs_example_is_applied_by_the_cluster_tier() -> None:
    files = sorted(p.name for p in EXAMPLES_DIR.iterdir() if p.suffix in {".yaml", ".yml"})
    assert files, f"no examples in {EXAMPLES_DIR}"
    assert files == sorted(EXAMPLES), (
        f"docs/examples has {files}, tests/ansible/docs_examples.py applies {sorted(EXAMPLES)}: "
        "add the new example to EXAMPLES (and make the cluster test exercise it)"
    )


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_each_docs_example_has_a_class_and_a_pod_that_mounts_it(name: str) -> None:
    docs = [d for d in yaml.safe_load_all((EXAMPLES_DIR / name).read_text()) if d]
    spcs = [d["metadata"]["name"] for d in docs if d["kind"] == "SecretProviderClass"]
    pods = [d for d in docs if d["kind"] == "Pod"]
    assert len(spcs) == 1 and len(pods) == 1, name
    volumes = pods[0]["spec"]["volumes"]
    assert any(
        (v.get("csi") or {}).get("volumeAttributes", {}).get("secretProviderClass") == spcs[0]
        for v in volumes
    )
    assert all("namespace" not in d["metadata"] for d in docs), f"{name}: apply with -n, no namespace inside"
