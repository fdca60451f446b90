"""Secrets Store CSI: a CSI node plugin, providers and an operator that mount external secrets on tmpfs."""

from importlib.metadata import PackageNotFoundError, version

DRIVER_NAME = "secrets-store.csi.k8s.io"

try:
    __version__ = version("secrets-store-csi")
except PackageNotFoundError:  # running from a source tree without an install
    __version__ = "0.0.0"
