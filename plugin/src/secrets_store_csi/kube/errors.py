"""The API server's refusal of a request."""

from __future__ import annotations


class KubeError(Exception):
    """An HTTP error from the API server. The message names the request, the status and the server's
    reason and message, as in `GET /api/v1/...: 404 NotFound: pods "x" not found`."""

    def __init__(self, status: int, message: str, reason: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.reason = reason

    @property
    def not_found(self) -> bool:
        return self.status == 404

    @property
    def conflict(self) -> bool:
        return self.status == 409

    @property
    def gone(self) -> bool:
        return self.status == 410
