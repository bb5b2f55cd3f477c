"""Shared plumbing of the resource classes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar
from urllib.parse import quote

import requests
from pydantic import BaseModel

from robocorp_api._http import Transport, parse_body
from robocorp_api.pagination import Paginator

M = TypeVar("M", bound=BaseModel)


def require_id(value: object) -> str:
    """Return ``value`` if it is a usable id.

    Raises:
        ValueError: it is empty or not a string.
    """
    if not isinstance(value, str) or not value:
        raise ValueError("ids must be non-empty strings")
    return value


def seg(value: object) -> str:
    """Quote one id as a path segment, so it can never change the path it is put in.

    Dots are quoted too: an id of ``..`` or ``.`` must not become a dot segment that a URL
    normaliser removes (a run id ``..`` once turned into a GET of the workspace itself).
    """
    return quote(require_id(value), safe="").replace(".", "%2E")


class Resource:
    """One API family, bound to a workspace. Paths are relative to ``/workspaces/{id}``."""

    def __init__(self, transport: Transport, workspace_id: str) -> None:
        self._transport = transport
        self._prefix = f"/workspaces/{seg(workspace_id)}"

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._prefix}>"

    def _send(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
    ) -> tuple[requests.Response, str]:
        full = self._prefix + path
        response = self._transport.request(
            method, self._transport.url(full), params=params, json=json
        )
        return response, full

    def _call(
        self,
        method: str,
        path: str,
        model: type[M],
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
    ) -> M:
        response, full = self._send(method, path, params=params, json=json)
        return parse_body(response, model, method=method, path=full)

    def _list(self, path: str, model: type[M], **params: Any) -> Paginator[M]:
        return Paginator(self._transport, self._prefix + path, model, params=params)
