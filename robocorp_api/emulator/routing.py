"""Transport-independent request/response types, the router, auth and pagination helpers."""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.message import Message
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import unquote, urlencode

from .store import PERMISSION_GROUPS, EmulatorError

if TYPE_CHECKING:
    from .server import Emulator

T = TypeVar("T")
DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
_EMPTY = object()


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: Message
    body: bytes
    host: str
    app: Emulator
    params: dict[str, str] = field(default_factory=dict)
    route: str = ""

    def json(self, *, default: Any = None) -> Any:
        """The body parsed as JSON whatever the Content-Type; `default` when empty; 400 when malformed."""
        if not self.body.strip():
            return default
        try:
            return json.loads(self.body)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise EmulatorError(
                400, "invalid_json", f"Request body is not valid JSON: {exc}"
            ) from None

    def json_object(self) -> dict[str, Any]:
        body = self.json(default={})
        if not isinstance(body, dict):
            raise EmulatorError(
                400, "invalid_body", "Request body must be a JSON object"
            )
        return body

    @property
    def base_url(self) -> str:
        return f"http://{self.host}"


@dataclass
class Response:
    status: int
    body: bytes
    content_type: str = "application/json"
    headers: list[tuple[str, str]] = field(default_factory=list)


def json_response(data: Any, status: int = 200) -> Response:
    return Response(status, json.dumps(data, separators=(",", ":")).encode())


def error_response(
    status: int, code: str, message: str, headers: list[tuple[str, str]] | None = None
) -> Response:
    response = json_response({"error": {"code": code, "message": message}}, status)
    response.headers.extend(headers or [])
    return response


Handler = Callable[[Request], Response]


class Router:
    """Path templates like `/api/v1/workspaces/{workspace_id}/work-items/{work_item_id}` → handlers."""

    def __init__(self) -> None:
        self._routes: list[tuple[re.Pattern[str], str, dict[str, Handler]]] = []
        self._by_template: dict[str, dict[str, Handler]] = {}

    def add(self, method: str, template: str, handler: Handler) -> None:
        methods = self._by_template.get(template)
        if methods is None:
            pattern = re.compile(
                "^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", template) + "/?$"
            )
            methods = self._by_template[template] = {}
            self._routes.append((pattern, template, methods))
        methods[method] = handler

    def resolve(self, method: str, path: str) -> tuple[Handler, str, dict[str, str]]:
        allowed: list[str] = []
        for pattern, template, methods in self._routes:
            found = pattern.match(path)
            if found is None:
                continue
            handler = methods.get(method)
            if handler is None:
                allowed.extend(methods)
                continue
            # Path parameters arrive percent-encoded, as ids with "/" or "." must be sent.
            params = {k: unquote(v) for k, v in found.groupdict().items()}
            return handler, template, params
        if allowed:
            allow = ", ".join(sorted(set(allowed)))
            raise EmulatorError(
                405,
                "method_not_allowed",
                f"Method {method} is not allowed on {path}; allowed: {allow}",
                [("Allow", allow)],
            )
        raise EmulatorError(404, "not_found", f"No such endpoint: {method} {path}")


# --------------------------------------------------------------------------------------- auth
def authorize(req: Request, permission: str | None) -> frozenset[str]:
    """401 for a missing/malformed/unknown key, 403 for another workspace or a missing permission.

    Called before any object lookup so a missing permission answers 403 even for ids that do not exist.
    """
    header = req.headers.get("Authorization")
    if not header:
        raise EmulatorError(
            401,
            "unauthorized",
            "Missing Authorization header; expected 'RC-WSKEY <api key>'",
        )
    scheme, _, key = header.strip().partition(" ")
    if scheme != "RC-WSKEY" or not key.strip():
        raise EmulatorError(
            401,
            "unauthorized",
            "Malformed Authorization header; expected 'RC-WSKEY <api key>'",
        )
    store = req.app.store
    permissions = store.keys.get(key.strip())
    if permissions is None:
        raise EmulatorError(401, "unauthorized", "Unknown or revoked API key")
    workspace = req.params.get("workspace_id")
    if workspace is not None and workspace != store.workspace_id:
        raise EmulatorError(
            403, "forbidden", f"The API key has no access to workspace {workspace}"
        )
    if permission is not None and permission not in permissions:
        raise EmulatorError(
            403,
            "forbidden",
            f"Missing permission {PERMISSION_GROUPS[permission]}.{permission}",
        )
    return permissions


# --------------------------------------------------------------------------------------- pagination
def parse_limit(req: Request, default: int = DEFAULT_LIMIT) -> int:
    raw = req.query.get("limit")
    if raw is None or raw == "":
        return default
    try:
        limit = int(raw)
    except ValueError:
        raise EmulatorError(
            400, "invalid_parameter", f"limit must be an integer, got {raw!r}"
        ) from None
    if limit < 1:
        raise EmulatorError(400, "invalid_parameter", "limit must be at least 1")
    return min(limit, MAX_LIMIT)


def encode_cursor(kind: str, value: int) -> str:
    return base64.urlsafe_b64encode(f"{kind}:{value}".encode()).decode().rstrip("=")


def decode_cursor(req: Request, kind: str) -> int | None:
    raw = req.query.get("cursor")
    if raw is None:
        return None
    try:
        text = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode()
        found_kind, _, value = text.partition(":")
        if found_kind != kind:
            raise ValueError(kind)
        return int(value)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise EmulatorError(
            400,
            "invalid_cursor",
            "The cursor parameter is invalid; follow the 'next' URL as returned",
        ) from None


def page(
    req: Request,
    rows: Iterator[T],
    render: Callable[[T], dict[str, Any]],
    cursor: Callable[[T], str],
) -> dict[str, Any]:
    """A v1 page: `{data, has_more, next}`; `next` is absolute (from the Host header) and self-sufficient."""
    limit = parse_limit(req)
    taken: list[T] = []
    has_more = False
    for row in rows:
        if len(taken) == limit:
            has_more = True
            break
        taken.append(row)
    next_url = None
    if has_more:
        query = {k: v for k, v in req.query.items() if k not in ("cursor", "limit")}
        query["limit"] = str(limit)
        query["cursor"] = cursor(taken[-1])
        next_url = f"{req.base_url}{req.path}?{urlencode(query)}"
    return {
        "data": [render(row) for row in taken],
        "has_more": has_more,
        "next": next_url,
    }
