"""Object names from pods and SecretProviderClasses never leave their namespace's API path."""

from __future__ import annotations

import grpc
import pytest

from secrets_store_csi.driver.attributes import parse_volume_request
from secrets_store_csi.driver.errors import DriverError
from secrets_store_csi.driver.spc import parse_spc
from secrets_store_csi.kube.errors import KubeError
from secrets_store_csi.kube.paths import pod_path, secret_path, spc_path

ESCAPES = ["../../other/secretproviderclasses/shared", "..", ".", "a/b", "%2e%2e", ""]


def context(spc: str, pod: str = "p", namespace: str = "shop") -> dict[str, str]:
    return {
        "secretProviderClass": spc,
        "csi.storage.k8s.io/pod.name": pod,
        "csi.storage.k8s.io/pod.namespace": namespace,
        "csi.storage.k8s.io/pod.uid": "u",
    }


@pytest.mark.parametrize("name", [n for n in ESCAPES if n])
def test_secret_provider_class_name_that_leaves_the_namespace_is_invalid_argument(name: str) -> None:
    with pytest.raises(DriverError) as info:
        parse_volume_request(context(name), {})
    assert info.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert "secretProviderClass" in info.value.message and "own namespace" in info.value.message


@pytest.mark.parametrize("field", ["pod", "namespace"])
def test_pod_name_or_namespace_with_a_slash_is_invalid_argument(field: str) -> None:
    ctx = context("db", **{field: "../kube-system"})
    with pytest.raises(DriverError) as info:
        parse_volume_request(ctx, {})
    assert info.value.code == grpc.StatusCode.INVALID_ARGUMENT


@pytest.mark.parametrize("name", ESCAPES)
@pytest.mark.parametrize("build", [spc_path, secret_path, pod_path])
def test_api_paths_refuse_names_that_are_not_one_segment(build: object, name: str) -> None:
    with pytest.raises(KubeError) as info:
        build("shop", name) if name else build("shop/../x", "a")  # type: ignore[operator]
    assert info.value.status == 400


def test_api_paths_quote_what_the_url_would_read_as_query_or_fragment() -> None:
    assert spc_path("shop", "db?watch=1#x").endswith(
        "/namespaces/shop/secretproviderclasses/db%3Fwatch%3D1%23x"
    )


def test_synced_secret_name_that_leaves_the_namespace_makes_the_class_invalid() -> None:
    obj = {
        "spec": {
            "provider": "aws",
            "secretObjects": [
                {"secretName": "../../kube-system/secrets/x", "data": [{"objectName": "a", "key": "k"}]}
            ],
        }
    }
    with pytest.raises(ValueError, match=r"secretObjects\[0\]\.secretName"):
        parse_spc(obj, "shop", "db")
