"""Driver errors: each carries the gRPC status code to answer with and the upstream `error_type` label.

Messages name the object (pod, SecretProviderClass, provider, file path) and never a secret's value.
"""

from __future__ import annotations

import grpc

# Upstream's error_type values (metric label); kept identical so dashboards carry over.
FAILED_TO_MOUNT = "FailedToMount"
FAILED_TO_ENSURE_MOUNT_POINT = "FailedToEnsureMountPoint"
SPC_NOT_FOUND = "SecretProviderClassNotFound"
GRPC_PROVIDER_ERROR = "GRPCProviderError"
FILE_WRITE_ERROR = "FileWriteError"
PROVIDER_ERROR = "ProviderError"
POD_NOT_FOUND = "PodNotFound"
NODE_PUBLISH_SECRET_REF_NOT_FOUND = "NodePublishSecretRefNotFound"  # noqa: S105
UNEXPECTED_TARGET_PATH = "UnexpectedTargetPath"
POD_VOLUME_NOT_FOUND = "PodVolumeNotFound"
FAILED_TO_ROTATE = "FailedToRotate"
FAILED_TO_LOOKUP_PROVIDER = "FailedToLookupProviderGRPCClient"
INCOMPATIBLE_PROVIDER_VERSION = "IncompatibleProviderVersion"
INVALID_REQUEST = "InvalidRequest"
FAILED_TO_UNMOUNT = "FailedToUnmount"
FAILED_TO_CREATE_SPCPS = "FailedToCreateSPCPS"


class DriverError(Exception):
    """An error with the gRPC code the CSI call answers with and the metric's error_type."""

    def __init__(self, code: grpc.StatusCode, error_type: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.error_type = error_type
        self.message = message

    def __str__(self) -> str:
        return self.message


def invalid(message: str) -> DriverError:
    return DriverError(grpc.StatusCode.INVALID_ARGUMENT, INVALID_REQUEST, message)


class PathError(ValueError):
    """A file path (from a provider or an alias) that is not a safe relative path inside the target."""
