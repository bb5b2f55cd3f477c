"""HTTP transport: one pooled ``requests.Session``, retries, error mapping, key hygiene.

Retry policy (ECOSYSTEM.md §A6, STYLE.md §6, API.md §5):

* 429 is retried for every method (the server refused; nothing was done), honouring
  ``Retry-After`` (seconds or HTTP-date). A wait longer than ``max_retry_after`` is not
  slept: ``RateLimited`` is raised with ``retry_after`` so a task can reschedule itself.
* A failed connect is retried for every method (the request never left).
* 5xx, a read timeout and a connection dropped after sending are retried only for
  idempotent methods (GET, HEAD; PUT too for 5xx since it only re-sets a value).
  For POST/PUT/DELETE a read timeout or dropped connection raises ``AmbiguousResult``
  and a 5xx on POST/DELETE raises ``ServerError``: Control Room has no idempotency
  key, so re-sending could apply a batch retry or start a run twice.
* Other 4xx are never retried.

Backoff is exponential with full jitter: ``uniform(0, min(backoff_max, base * 2**n))``.
"""

from __future__ import annotations

import email.utils
import json
import logging
import random
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import urljoin, urlsplit, urlunsplit

import requests
import urllib3
from pydantic import BaseModel, TypeAdapter, ValidationError
from requests.adapters import HTTPAdapter
from requests.auth import AuthBase

from robocorp_api._multipart import MultipartStream
from robocorp_api.errors import (
    AmbiguousResult,
    ConnectionFailed,
    ControlRoomError,
    InvalidResponse,
    RateLimited,
    ReadTimedOut,
    ServerError,
    error_for_status,
)

logger = logging.getLogger("robocorp_api")

M = TypeVar("M", bound=BaseModel)

_SAFE_METHODS = frozenset({"GET", "HEAD"})
# Methods whose 5xx is worth re-sending: applying them twice equals applying them once.
_RETRY_5XX_METHODS = frozenset({"GET", "HEAD", "PUT"})

Timeout = float | tuple[float, float]

# Failures where no (complete) answer arrived: a failed connect, a read timeout, or a
# connection reset / truncated body after the request went out.
_NO_ANSWER = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
)


class _ApiKey:
    """Holds the key; its repr and str never reveal it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        if not value or not value.strip():
            raise ValueError("api_key must be a non-empty string")
        self._value = value.strip()

    def reveal(self) -> str:
        return self._value

    def scrub(self, text: str) -> str:
        return text.replace(self._value, "***")

    def __repr__(self) -> str:
        return "<ApiKey ***>"

    __str__ = __repr__


class _WorkspaceKeyAuth(AuthBase):
    def __init__(self, key: _ApiKey) -> None:
        self._key = key

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"RC-WSKEY {self._key.reveal()}"
        return request

    def __repr__(self) -> str:
        return "<RC-WSKEY auth>"


class _NoAuth(AuthBase):
    """For presigned upload/download URLs: strip any Authorization, and stop requests
    from adding one from ~/.netrc."""

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers.pop("Authorization", None)
        return request


def parse_retry_after(
    value: str | None, *, now: datetime | None = None
) -> float | None:
    """Return the wait in seconds a ``Retry-After`` header asks for (RFC 9110 §10.2.3).

    Accepts delta-seconds or an HTTP-date; returns None when absent or unparseable,
    and 0 for a date in the past.
    """
    if value is None or not value.strip():
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    current = now or datetime.now(UTC)
    return max(0.0, (when - current).total_seconds())


def _keep_dot_ids_encoded(url: str) -> str:
    """Undo requests' decoding of ``%2E`` in a segment made only of dots.

    requests "requotes" URLs, turning ``%2E%2E`` back into ``..``, which urllib3 or a proxy then
    treats as "the parent": an id of ``..`` would address another resource.
    """
    parts = urlsplit(url)
    segments = parts.path.split("/")
    if not any(s and not s.strip(".") for s in segments):
        return url
    path = "/".join(
        s.replace(".", "%2E") if s and not s.strip(".") else s for s in segments
    )
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, parts.fragment))


def _is_connect_failure(exc: requests.ConnectionError) -> bool:
    """True when the request provably never reached the server."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    text = repr(exc.args[0]) if exc.args else ""
    return (
        "NewConnectionError" in text
        or "NameResolutionError" in text
        or "Failed to establish" in text
    )


def _error_payload(response: requests.Response) -> tuple[str | None, str]:
    """Return (code, message) from a Control Room error body, tolerating anything."""
    try:
        body = response.json()
    except ValueError:
        text = response.text.strip()
        return None, (text[:200] or response.reason or "no message")
    if isinstance(body, Mapping):
        err = body.get("error", body)
        if isinstance(err, Mapping):
            code = err.get("code")
            message = err.get("message")
            return (
                str(code) if code is not None else None,
                str(message)
                if message is not None
                else (response.reason or "no message"),
            )
    return None, response.reason or "no message"


class Transport:
    """Sends requests for one workspace and maps failures to typed errors."""

    def __init__(
        self,
        api_key: str,
        *,
        base_url: str,
        timeout: Timeout,
        max_retries: int,
        backoff_base: float,
        backoff_max: float,
        max_retry_after: float,
        session: requests.Session | None,
    ) -> None:
        if max_retries < 0:
            raise ValueError("max_retries must be >= 0")
        self._key = _ApiKey(api_key)
        self._auth = _WorkspaceKeyAuth(self._key)
        self._no_auth = _NoAuth()
        self.base_url = base_url.rstrip("/")
        parts = urlsplit(self.base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(
                "base_url must be an absolute http(s) URL ending in /api/v1"
            )
        self._origin = (parts.scheme, parts.netloc)
        self._base_path = parts.path
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.max_retry_after = max_retry_after
        self.requests_made = 0
        self._sleep: Callable[[float], None] = time.sleep
        self._owns_session = session is None
        self.session = session if session is not None else self._new_session()

    @staticmethod
    def _new_session() -> requests.Session:
        session = requests.Session()
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=8, max_retries=0)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        return session

    def close(self) -> None:
        if self._owns_session:
            self.session.close()

    def url(self, path: str) -> str:
        return f"{self.base_url}{path}"

    def same_origin(self, url: str) -> bool:
        parts = urlsplit(url)
        return (parts.scheme, parts.netloc) == self._origin

    def resolve(self, url: str, *, relative_to: str) -> str:
        return urljoin(relative_to, url)

    def display_path(self, url: str) -> str:
        path = urlsplit(url).path
        if self._base_path and path.startswith(self._base_path):
            path = path[len(self._base_path) :] or "/"
        return self._key.scrub(path)

    def request(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        upload: MultipartStream | None = None,
        content: tuple[bytes, str] | None = None,
        authenticated: bool = True,
        stream: bool = False,
    ) -> requests.Response:
        """Send one logical request (with retries) and return its 2xx/3xx-free response.

        ``upload`` is a streamed multipart body; it is rewound for a retry, and a
        failure is not retried when the body cannot be sent again. ``content`` is a raw
        body and its Content-Type (an asset's bytes PUT to a presigned URL).

        Raises:
            ControlRoomError: a subclass matching the failure (see module docstring).
        """
        if authenticated and not self.same_origin(url):
            # The key is only ever sent to the configured API origin.
            raise ValueError("refusing to send the API key to another origin")
        method = method.upper()
        path = self.display_path(url)
        clean_params = {k: v for k, v in (params or {}).items() if v is not None}
        attempt = 0
        while True:
            error, wait = self._attempt(
                method,
                url,
                path,
                clean_params,
                json,
                upload,
                authenticated,
                stream,
                attempt,
                content,
            )
            if isinstance(error, requests.Response):
                return error
            if (
                wait is None
                or attempt >= self.max_retries
                or (upload is not None and not upload.rewindable)
            ):
                raise error
            logger.warning(
                "Control Room %s %s failed (%s); retry %d/%d in %.2fs",
                method,
                path,
                type(error).__name__,
                attempt + 1,
                self.max_retries,
                wait,
            )
            self._sleep(wait)
            attempt += 1

    def _attempt(
        self,
        method: str,
        url: str,
        path: str,
        params: Mapping[str, Any],
        json: Any,
        upload: MultipartStream | None,
        authenticated: bool,
        stream: bool,
        attempt: int,
        content: tuple[bytes, str] | None = None,
    ) -> tuple[requests.Response | ControlRoomError, float | None]:
        """Send once. Return (response, None) on success, else (error, wait-or-None)."""
        self.requests_made += 1
        headers = None
        data: MultipartStream | bytes | None = upload
        if upload is not None:
            upload.rewind()
            headers = {"Content-Type": upload.content_type}
        elif content is not None:
            data, headers = content[0], {"Content-Type": content[1]}
        try:
            prepared = self.session.prepare_request(
                requests.Request(
                    method,
                    url,
                    params=params or None,
                    json=json,
                    data=data,
                    headers=headers,
                    auth=self._auth if authenticated else self._no_auth,
                )
            )
            prepared.url = _keep_dot_ids_encoded(prepared.url or url)
            options = self.session.merge_environment_settings(
                prepared.url, {}, stream, None, None
            )
            response = self.session.send(
                prepared, timeout=self.timeout, allow_redirects=False, **options
            )
        except _NO_ANSWER as exc:
            return self._connection_error(exc, method, path, attempt)
        except (requests.RequestException, urllib3.exceptions.HTTPError) as exc:
            # urllib3's own errors (LocationParseError for an empty host label, …) are not
            # always wrapped by requests.
            return self._failed(exc, method, path), None
        logger.debug("Control Room %s %s -> %d", method, path, response.status_code)
        if response.status_code < 300:
            return response, None
        return self._status_error(response, method, path, attempt)

    def _failed(self, exc: Exception, method: str, path: str) -> ControlRoomError:
        reason = self._key.scrub(type(exc).__name__)
        return ConnectionFailed(f"request failed: {reason}", method=method, path=path)

    def _connection_error(
        self, exc: requests.RequestException, method: str, path: str, attempt: int
    ) -> tuple[ControlRoomError, float | None]:
        backoff = self.backoff(attempt)
        kind = type(exc).__name__
        if isinstance(exc, requests.exceptions.SSLError):
            # A TLS failure (bad certificate, wrong host) happens before the request is sent
            # and does not go away on retry.
            return ConnectionFailed(
                f"TLS handshake failed ({kind})", method=method, path=path
            ), None
        if isinstance(exc, requests.ConnectionError) and _is_connect_failure(exc):
            return ConnectionFailed(
                f"could not connect ({kind})", method=method, path=path
            ), backoff
        if method in _SAFE_METHODS:
            if isinstance(exc, requests.Timeout):
                return ReadTimedOut(
                    f"no answer in time ({kind})", method=method, path=path
                ), backoff
            return ConnectionFailed(
                f"connection lost before an answer ({kind})", method=method, path=path
            ), backoff
        return (
            AmbiguousResult(
                f"request sent but no answer came ({kind}); outcome unknown, re-read state before retrying",
                method=method,
                path=path,
            ),
            None,
        )

    def _status_error(
        self, response: requests.Response, method: str, path: str, attempt: int
    ) -> tuple[ControlRoomError, float | None]:
        status = response.status_code
        code, message = _error_payload(response)
        retry_after = (
            parse_retry_after(response.headers.get("Retry-After"))
            if status in (429, 503)
            else None
        )
        response.close()
        cls = error_for_status(status)
        error = cls(
            self._key.scrub(message),
            status=status,
            code=self._key.scrub(code) if code else None,
            method=method,
            path=path,
            retry_after=retry_after,
        )
        if isinstance(error, RateLimited):
            if retry_after is not None and retry_after > self.max_retry_after:
                return error, None
            return error, retry_after if retry_after is not None else self.backoff(
                attempt
            )
        if isinstance(error, ServerError) and method in _RETRY_5XX_METHODS:
            wait = self.backoff(attempt)
            if retry_after is not None and retry_after <= self.max_retry_after:
                wait = max(wait, retry_after)
            return error, wait
        return error, None

    def backoff(self, attempt: int) -> float:
        """Full-jitter exponential backoff for retry number ``attempt`` (0-based)."""
        ceiling = min(self.backoff_max, self.backoff_base * (2**attempt))
        return random.uniform(0, ceiling)


_ADAPTERS: dict[Any, TypeAdapter[Any]] = {}


def _adapter(type_: Any) -> TypeAdapter[Any]:
    adapter = _ADAPTERS.get(type_)
    if adapter is None:
        adapter = _ADAPTERS[type_] = TypeAdapter(type_)
    return adapter


def parse_body(
    response: requests.Response, type_: type[M], *, method: str, path: str
) -> M:
    """Validate a 2xx response body as ``type_`` straight from the raw bytes.

    Raises:
        InvalidResponse: the body is not JSON or does not match the schema.
    """
    try:
        return type_.model_validate_json(response.content)
    except ValidationError as exc:
        if not _too_deep_for_pydantic(exc):
            raise _invalid(exc, response, method, path) from None
    # pydantic's JSON parser stops at 200 levels; a payload nested deeper is still valid JSON.
    value = _stdlib_json(response, method, path)
    try:
        return type_.model_validate(value)
    except (ValidationError, RecursionError) as exc:
        raise InvalidResponse(
            f"response does not match the schema ({type(exc).__name__})",
            status=response.status_code,
            method=method,
            path=path,
        ) from None


def parse_json(response: requests.Response, *, method: str, path: str) -> Any:
    """Return the decoded JSON body of a 2xx response.

    Raises:
        InvalidResponse: the body is not JSON.
    """
    try:
        return _adapter(Any).validate_json(response.content)
    except ValidationError as exc:
        if not _too_deep_for_pydantic(exc):
            raise _invalid(exc, response, method, path) from None
    return _stdlib_json(response, method, path)


def _too_deep_for_pydantic(exc: ValidationError) -> bool:
    return any(
        err["type"] == "json_invalid" and "recursion limit" in str(err.get("ctx", ""))
        for err in exc.errors(include_url=False, include_input=False)
    )


def _stdlib_json(response: requests.Response, method: str, path: str) -> Any:
    try:
        return json.loads(response.content)
    except (ValueError, RecursionError):
        raise InvalidResponse(
            "response body is not valid JSON or is nested too deeply",
            status=response.status_code,
            method=method,
            path=path,
        ) from None


def _invalid(
    exc: ValidationError, response: requests.Response, method: str, path: str
) -> InvalidResponse:
    errors = exc.errors(include_url=False, include_input=False, include_context=False)
    if any(err["type"] == "json_invalid" for err in errors):
        message = "response body is not valid JSON"
    else:
        first = errors[0]
        where = ".".join(str(part) for part in first["loc"]) or "body"
        message = f"response does not match the schema ({len(errors)} error(s); {where}: {first['msg']})"
    return InvalidResponse(
        message, status=response.status_code, method=method, path=path
    )
