"""Provider errors: each carries a stable code, the object it is about and a cause a person can act on.

The code becomes the gRPC status code and the `error-code` trailing metadata of a failed Mount; the message
names the object and the cause and never contains a secret's value.
"""

from __future__ import annotations

from enum import StrEnum

import grpc


class ErrorCode(StrEnum):
    """Stable error codes, reported to the driver (and so in pod events and metrics)."""

    INVALID_PARAMETER = "InvalidParameter"
    NOT_FOUND = "ObjectNotFound"
    ACCESS_DENIED = "AccessDenied"
    UNAUTHENTICATED = "AuthenticationFailed"
    THROTTLED = "Throttled"
    UNAVAILABLE = "BackendUnavailable"
    INTERNAL = "ProviderError"


GRPC_STATUS: dict[ErrorCode, grpc.StatusCode] = {
    ErrorCode.INVALID_PARAMETER: grpc.StatusCode.INVALID_ARGUMENT,
    ErrorCode.NOT_FOUND: grpc.StatusCode.NOT_FOUND,
    ErrorCode.ACCESS_DENIED: grpc.StatusCode.PERMISSION_DENIED,
    ErrorCode.UNAUTHENTICATED: grpc.StatusCode.UNAUTHENTICATED,
    # Not RESOURCE_EXHAUSTED: drivers read that code as "response larger than the receive limit".
    ErrorCode.THROTTLED: grpc.StatusCode.UNAVAILABLE,
    ErrorCode.UNAVAILABLE: grpc.StatusCode.UNAVAILABLE,
    ErrorCode.INTERNAL: grpc.StatusCode.INTERNAL,
}


class ProviderError(Exception):
    """A Mount failure. `obj` names the object (or parameter) concerned; `cause` says what went wrong."""

    def __init__(self, code: ErrorCode, cause: str, obj: str | None = None) -> None:
        self.code = code
        self.obj = obj
        self.cause = cause
        super().__init__(str(self))

    def __str__(self) -> str:
        where = f"object {self.obj!r}: " if self.obj else ""
        return f"{self.code.value}: {where}{self.cause}"

    @property
    def grpc_status(self) -> grpc.StatusCode:
        return GRPC_STATUS[self.code]


def invalid(cause: str, obj: str | None = None) -> ProviderError:
    return ProviderError(ErrorCode.INVALID_PARAMETER, cause, obj)


def from_http_status(status: int, cause: str, obj: str | None = None) -> ProviderError:
    """Map a backend's HTTP status to an error code (the same mapping for every backend)."""
    if status == 404:
        code = ErrorCode.NOT_FOUND
    elif status == 401:
        code = ErrorCode.UNAUTHENTICATED
    elif status == 403:
        code = ErrorCode.ACCESS_DENIED
    elif status == 429:
        code = ErrorCode.THROTTLED
    elif status >= 500:
        code = ErrorCode.UNAVAILABLE
    elif 400 <= status < 500:
        code = ErrorCode.INVALID_PARAMETER
    else:
        code = ErrorCode.INTERNAL
    return ProviderError(code, cause, obj)
