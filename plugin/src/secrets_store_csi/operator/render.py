"""Render the bundled driver chart with `helm template`: the chart is the driver's single source."""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
from collections.abc import Mapping
from typing import Any

import yaml

from secrets_store_csi.operator.api import RELEASE_NAME


class RenderError(Exception):
    """helm could not render the chart; the message carries helm's own explanation."""


def helm_env() -> dict[str, str]:
    """helm wants writable cache/config dirs even for `template`; a read-only root has only /tmp."""
    base = os.path.join(tempfile.gettempdir(), "secrets-store-csi-operator-helm")
    env = dict(os.environ)
    for var, sub in (
        ("HELM_CACHE_HOME", "cache"),
        ("HELM_CONFIG_HOME", "config"),
        ("HELM_DATA_HOME", "data"),
    ):
        env.setdefault(var, os.path.join(base, sub))
    return env


def parse_manifests(text: str) -> list[dict[str, Any]]:
    """The objects of a multi-document YAML stream, empty documents dropped."""
    return [doc for doc in yaml.safe_load_all(text) if isinstance(doc, dict) and doc.get("kind")]


async def render(
    helm: str, chart: str, namespace: str, values: Mapping[str, Any], kube_version: str | None = None
) -> list[dict[str, Any]]:
    """`helm template` the chart with `values` (CRDs included) into a list of objects."""
    args = [
        helm,
        "template",
        RELEASE_NAME,
        chart,
        "--namespace",
        namespace,
        "--include-crds",
        "--values",
        "-",
    ]
    if kube_version:
        args += ["--kube-version", kube_version]
    try:
        process = await asyncio.create_subprocess_exec(
            *args,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=helm_env(),
        )
    except OSError as error:
        raise RenderError(f"cannot run {helm}: {error}") from error
    # JSON is YAML: the values go in as they are, no quoting surprises.
    out, err = await process.communicate(json.dumps(dict(values)).encode())
    if process.returncode != 0:
        raise RenderError(f"helm template {chart} failed: {err.decode(errors='replace').strip()}")
    return parse_manifests(out.decode())
