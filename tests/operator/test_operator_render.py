"""The operator renders the driver chart for the cluster it runs in, whatever Kubernetes version the helm
binary in its image would assume on its own."""

from __future__ import annotations

import asyncio

import pytest
from operator_env import DRIVER_CHART, HELM, KUBE_VERSION
from secrets_store_csi.operator.render import RenderError, render


def test_rendering_for_the_apiservers_version_honours_the_charts_kube_version() -> None:
    objects = asyncio.run(render(HELM, str(DRIVER_CHART), "ssc", {}, KUBE_VERSION))
    assert any(o["kind"] == "DaemonSet" for o in objects)


def test_the_apiservers_version_decides_not_helms_built_in_default() -> None:
    # v1.20 is what helm built without its release ldflags reports on its own; the version handed in wins.
    with pytest.raises(RenderError, match="kubeVersion"):
        asyncio.run(render(HELM, str(DRIVER_CHART), "ssc", {}, "v1.20.0"))
