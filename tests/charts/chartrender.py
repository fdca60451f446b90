"""Render the charts with the real helm binary (`helm template`, no cluster) and hand tests the objects."""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any, cast

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHARTS_DIR = ROOT / "charts"
# The charts this suite owns; the operator chart has its own tests.
DRIVER = "secrets-store-csi-driver"
PROVIDERS = ("aws", "azure", "vault")
PROVIDER_CHARTS = tuple(f"secrets-store-csi-provider-{p}" for p in PROVIDERS)
CHARTS = (DRIVER, *PROVIDER_CHARTS)
NAMESPACE = "ssc-test"
RELEASE = "ssc"

Doc = dict[str, Any]


def helm_binary() -> str:
    cache = os.environ.get("CACHE", str(Path.home() / ".cache" / "secrets-store-csi"))
    helm = os.environ.get("HELM", str(Path(cache) / "bin" / "helm"))
    if not os.access(helm, os.X_OK):
        pytest.fail(f"no helm binary at {helm}: run `make helm` (the test-charts target builds it)")
    return helm


def run_helm(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([helm_binary(), *args], capture_output=True, text=True, check=False)


class RenderError(Exception):
    pass


@functools.lru_cache(maxsize=256)
def _render(
    chart: str,
    values_json: str,
    values_files: tuple[str, ...],
    include_crds: bool,
    namespace: str,
    release: str,
) -> tuple[str, str]:
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
        f.write(values_json)
        inline = f.name
    try:
        args = ["template", release, str(CHARTS_DIR / chart), "--namespace", namespace]
        for vf in values_files:
            args += ["-f", vf]
        args += ["-f", inline]
        if include_crds:
            args.append("--include-crds")
        proc = run_helm(*args)
    finally:
        os.unlink(inline)
    return proc.stdout, proc.stderr if proc.returncode else ""


def render(
    chart: str,
    values: dict[str, Any] | None = None,
    *,
    files: tuple[str | Path, ...] = (),
    include_crds: bool = False,
    namespace: str = NAMESPACE,
    release: str = RELEASE,
) -> list[Doc]:
    """Objects `helm template` renders for these values; RenderError carries helm's message on failure."""
    out, err = _render(
        chart, json.dumps(values or {}), tuple(str(f) for f in files), include_crds, namespace, release
    )
    if err:
        raise RenderError(err)
    return [d for d in yaml.safe_load_all(out) if d]


def find(docs: list[Doc], kind: str, name: str | None = None) -> list[Doc]:
    return [d for d in docs if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)]


def one(docs: list[Doc], kind: str, name: str | None = None) -> Doc:
    found = find(docs, kind, name)
    assert len(found) == 1, f"expected one {kind} {name or ''}, got {[d['metadata']['name'] for d in found]}"
    return found[0]


def container(ds: Doc, name: str) -> Doc:
    for c in ds["spec"]["template"]["spec"]["containers"] + ds["spec"]["template"]["spec"].get(
        "initContainers", []
    ):
        if c["name"] == name:
            return cast(Doc, c)
    raise AssertionError(f"no container {name} in {ds['metadata']['name']}")


def ci_values(chart: str) -> list[Path]:
    return sorted((CHARTS_DIR / chart / "ci").glob("*-values.yaml"))


def render_notes(chart: str, values: dict[str, Any] | None = None) -> str:
    """NOTES.txt as `helm install` would print it. helm prints notes only when it reaches a cluster, so a
    copy of the chart renders them as a string inside a throwaway manifest."""
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / chart
        shutil.copytree(CHARTS_DIR / chart, copy)
        notes = (copy / "templates" / "NOTES.txt").read_text()
        (copy / "templates" / "NOTES.txt").unlink()
        (copy / "templates" / "_test_notes.tpl").write_text(
            '{{- define "test.notes" -}}' + notes + "{{- end }}"
        )
        (copy / "templates" / "test-notes.yaml").write_text(
            'kind: RenderedNotes\nnotes: {{ include "test.notes" . | toJson }}\n'
        )
        with tempfile.NamedTemporaryFile("w", suffix=".yaml") as f:
            f.write(json.dumps(values or {}))
            f.flush()
            proc = run_helm(
                "template",
                RELEASE,
                str(copy),
                "--namespace",
                NAMESPACE,
                "-f",
                f.name,
                "--show-only",
                "templates/test-notes.yaml",
            )
    if proc.returncode:
        raise RenderError(proc.stderr)
    return str(yaml.safe_load(proc.stdout)["notes"])
