"""Every chart and ci/ scenario: lint --strict, renders with no cluster, GitOps-safe, versions in step."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
import yaml
from chartrender import CHARTS, CHARTS_DIR, ROOT, ci_values, render, run_helm

SCENARIOS = [(c, f) for c in CHARTS for f in ci_values(c)]


def package_version() -> str:
    with (ROOT / "plugin" / "pyproject.toml").open("rb") as f:
        return str(tomllib.load(f)["project"]["version"])


@pytest.mark.parametrize("chart", CHARTS)
def test_chart_lints_strict(chart: str) -> None:
    proc = run_helm("lint", "--strict", str(CHARTS_DIR / chart))
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize(("chart", "values"), SCENARIOS, ids=[f"{c}:{f.name}" for c, f in SCENARIOS])
def test_ci_scenario_lints_strict_and_renders(chart: str, values: Path) -> None:
    proc = run_helm("lint", "--strict", str(CHARTS_DIR / chart), "-f", str(values))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert render(chart, files=(values,), include_crds=True)


@pytest.mark.parametrize("chart", CHARTS)
def test_every_chart_has_scenarios_schema_notes_and_readme(chart: str) -> None:
    d = CHARTS_DIR / chart
    assert ci_values(chart), "ci/*-values.yaml scenarios"
    for f in ("values.schema.json", "templates/NOTES.txt", "README.md"):
        assert (d / f).is_file(), f


@pytest.mark.parametrize("chart", CHARTS)
def test_chart_version_and_app_version_follow_the_package(chart: str) -> None:
    meta = yaml.safe_load((CHARTS_DIR / chart / "Chart.yaml").read_text())
    assert meta["version"] == meta["appVersion"] == package_version()


@pytest.mark.parametrize("chart", CHARTS)
def test_templates_need_no_cluster_and_run_no_hooks(chart: str) -> None:
    for tpl in (CHARTS_DIR / chart / "templates").iterdir():
        text = tpl.read_text()
        assert not re.search(r"\blookup\b", text), f"{tpl.name}: lookup needs a cluster"
        assert "helm.sh/hook" not in text, f"{tpl.name}: hooks do not suit GitOps tools"


def leaf_paths(values: object, prefix: str = "") -> list[str]:
    if isinstance(values, dict) and values:
        return [p for k, v in values.items() for p in leaf_paths(v, f"{prefix}.{k}" if prefix else k)]
    return [prefix]


@pytest.mark.parametrize("chart", CHARTS)
def test_readme_documents_every_value(chart: str) -> None:
    values = yaml.safe_load((CHARTS_DIR / chart / "values.yaml").read_text())
    readme = (CHARTS_DIR / chart / "README.md").read_text()
    # Values under a free-form map (resources, affinity, updateStrategy, ...) are documented by their parent.
    missing = [
        p
        for p in leaf_paths(values)
        if f"`{p}`" not in readme and not any(f"`{p.rsplit('.', n)[0]}`" in readme for n in (1, 2, 3, 4))
    ]
    assert not missing, f"README.md lacks {missing}"


@pytest.mark.parametrize("chart", CHARTS)
def test_readme_says_what_uninstall_leaves_behind(chart: str) -> None:
    readme = (CHARTS_DIR / chart / "README.md").read_text()
    assert "helm uninstall" in readme and "left behind" in readme.lower()


def test_containerfile_builds_a_non_root_multi_stage_image_with_charts_and_helm() -> None:
    text = (ROOT / "plugin" / "Containerfile").read_text()
    assert re.search(r"^ARG BASE_IMAGE=", text, re.M)
    assert len(re.findall(r"^FROM \$\{BASE_IMAGE\}", text, re.M)) == 2
    assert "COPY charts/ /charts/" in text and "COPY bin/helm /usr/local/bin/helm" in text
    assert re.search(r"^USER 65532:65532$", text, re.M)
    assert re.search(r'^ENTRYPOINT \[".*secrets-store-csi"\]$', text, re.M)
    assert "org.opencontainers.image.version" in text


ALL_CHARTS = sorted(p.parent.name for p in CHARTS_DIR.glob("*/Chart.yaml"))
K8S_VERSION = next(
    line.split("=", 1)[1].strip()
    for line in (ROOT / "hack" / "devcluster" / "versions.env").read_text().splitlines()
    if line.startswith("K8S_VERSION=")
)


@pytest.mark.parametrize("chart", ALL_CHARTS)
def test_every_chart_declares_a_kube_version_that_admits_the_pinned_kubernetes(chart: str) -> None:
    meta = yaml.safe_load((CHARTS_DIR / chart / "Chart.yaml").read_text())
    assert meta.get("kubeVersion"), f"{chart}/Chart.yaml has no kubeVersion constraint"
    ok = run_helm("template", "x", str(CHARTS_DIR / chart), "--kube-version", K8S_VERSION)
    assert ok.returncode == 0, ok.stderr
    old = run_helm("template", "x", str(CHARTS_DIR / chart), "--kube-version", "v1.20.0")
    assert old.returncode != 0 and "kubeVersion" in old.stderr, (
        f"{chart}: kubeVersion {meta['kubeVersion']!r} admits Kubernetes v1.20, which no chart here supports"
    )


def test_helm_reports_its_release_kubernetes_version_offline(tmp_path: Path) -> None:
    """`helm template` with no cluster and no --kube-version must not report the v1.20 of helm's source
    defaults (a plain `go install` build): hack/devcluster/build.sh sets it as helm's release build does."""
    chart = tmp_path / "probe"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: probe\nversion: 0.1.0\n")
    (chart / "templates" / "cm.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: probe\n"
        "data:\n  kube: {{ .Capabilities.KubeVersion.Version | quote }}\n"
    )
    proc = run_helm("template", "probe", str(chart))
    assert proc.returncode == 0, proc.stderr
    reported = yaml.safe_load(proc.stdout)["data"]["kube"]
    minor = int(reported.split(".")[1])
    pinned_minor = int(K8S_VERSION.split(".")[1])
    assert reported.startswith("v1.") and minor >= pinned_minor, (
        f"helm reports Kubernetes {reported} offline, older than the pinned {K8S_VERSION}: "
        "rebuild it with `hack/devcluster/build.sh helm` (sets helm's chartutil.k8sVersionMinor)"
    )
