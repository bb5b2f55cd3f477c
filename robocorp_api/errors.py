"""Typed errors raised by the Control Room client.

Every error carries the HTTP status, the Control Room error ``code`` and ``message``
(from the ``{"error": {"code", "message"}}`` body, API.md §5), the method and the
path (without query string). None of them ever holds the API key: the transport
builds them from scrubbed strings and raises them ``from None``.
"""

from __future__ import annotations

__all__ = [
    "AmbiguousResult",
    "AuthenticationFailed",
    "BadRequest",
    "Conflict",
    "ConnectionFailed",
    "ControlRoomError",
    "InvalidResponse",
    "NotFound",
    "PermissionDenied",
    "RateLimited",
    "ReadTimedOut",
    "ServerError",
    "TransientError",
    "UnexpectedStatus",
    "error_for_status",
]


class ControlRoomError(Exception):
    """Base class of every error the client raises.

    Attributes:
        status: HTTP status code, or None when no response arrived.
        code: the Control Room error code from the body, if any.
        message: human-readable message (from the body, or describing the failure).
        method: HTTP method of the failed request.
        path: request path relative to the API base URL, without query string.
        retry_after: seconds the server asked us to wait (429), if known.
        transient: whether retrying the same call later may succeed.
    """

    transient: bool = False

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        method: str | None = None,
        path: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.method = method
        self.path = path
        self.retry_after = retry_after

    def __str__(self) -> str:
        head = " ".join(
            str(part) for part in (self.status, self.code) if part is not None
        )
        text = f"{head}: {self.message}" if head else self.message
        if self.method and self.path:
            text = f"{text} ({self.method} {self.path})"
        elif self.path:
            text = f"{text} ({self.path})"
        return text

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(status={self.status!r}, code={self.code!r}, "
            f"message={self.message!r}, method={self.method!r}, path={self.path!r})"
        )


class TransientError(ControlRoomError):
    """A failure that may go away if the same call is made again later."""

    transient = True


class BadRequest(ControlRoomError):
    """400: the request was malformed or failed validation."""


class AuthenticationFailed(ControlRoomError):
    """401: the API key is unknown, malformed or revoked."""


class PermissionDenied(ControlRoomError):
    """403: the key lacks the permission the operation needs (or targets another workspace)."""


class NotFound(ControlRoomError):
    """404: the object does not exist in this workspace."""


class Conflict(ControlRoomError):
    """409: the operation conflicts with the object's current state."""


class RateLimited(TransientError):
    """429: too many requests; ``retry_after`` holds the advised wait in seconds, if any."""


class ServerError(TransientError):
    """5xx: Control Room failed to process the request."""


class ConnectionFailed(TransientError):
    """No response: the connection could not be made, or was closed before an answer to a GET."""


class ReadTimedOut(TransientError):
    """A GET was sent but no answer came in time."""


class InvalidResponse(TransientError):
    """A 2xx answer whose body is not JSON or does not match the expected schema,
    or a pagination chain that loops or leaves the API's origin."""


class AmbiguousResult(ControlRoomError):
    """A non-idempotent request (POST/PUT/DELETE) was sent and no answer came.

    The outcome is unknown: the server may or may not have applied it. It is never
    re-sent automatically; callers must re-read the affected objects to reconcile.
    """


class UnexpectedStatus(ControlRoomError):
    """Any other status (3xx since redirects are not followed, 405, 410, 422, ...)."""


_BY_STATUS: dict[int, type[ControlRoomError]] = {
    400: BadRequest,
    401: AuthenticationFailed,
    403: PermissionDenied,
    404: NotFound,
    409: Conflict,
    429: RateLimited,
}


def error_for_status(status: int) -> type[ControlRoomError]:
    """Return the error class for an HTTP error status."""
    if status >= 500:
        return ServerError
    return _BY_STATUS.get(status, UnexpectedStatus)
