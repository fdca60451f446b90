"""Pure parts of rebuilding volumes after a restart: the CSIDriver's tokenRequests, the pod's volume."""

from __future__ import annotations

from pathlib import Path

from secrets_store_csi.driver.mount import is_tmpfs
from secrets_store_csi.driver.podvolume import pod_csi_volume
from secrets_store_csi.driver.tokens import DEFAULT_EXPIRATION, token_requests


def test_token_requests_read_audiences_and_default_the_expiry() -> None:
    driver = {
        "spec": {"tokenRequests": [{"audience": "vault", "expirationSeconds": 600}, {"audience": "aws"}]}
    }
    assert token_requests(driver) == {"vault": 600, "aws": DEFAULT_EXPIRATION}
    assert token_requests({"spec": {}}) == {}


def test_pod_volume_is_the_one_of_this_driver_naming_the_spc() -> None:
    pod = {
        "spec": {
            "volumes": [
                {"name": "cm", "configMap": {"name": "x"}},
                {
                    "name": "other",
                    "csi": {"driver": "other.csi", "volumeAttributes": {"secretProviderClass": "app"}},
                },
                {
                    "name": "s",
                    "csi": {
                        "driver": "secrets-store.csi.k8s.io",
                        "volumeAttributes": {"secretProviderClass": "app"},
                        "nodePublishSecretRef": {"name": "creds"},
                    },
                },
            ]
        }
    }
    csi = pod_csi_volume(pod, "secrets-store.csi.k8s.io", "app")
    assert csi is not None and csi["nodePublishSecretRef"] == {"name": "creds"}
    assert pod_csi_volume(pod, "secrets-store.csi.k8s.io", "other") is None


def test_a_plain_directory_is_not_a_mounted_tmpfs(tmp_path: Path) -> None:
    assert not is_tmpfs(str(tmp_path))
    assert not is_tmpfs(str(tmp_path / "missing"))
