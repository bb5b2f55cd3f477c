"""Lazy iteration over v1 list endpoints (API.md §3.5).

A v1 list answers ``{"data": [...], "has_more": bool, "next": <absolute URL> | null}``.
The paginator follows ``next`` verbatim until ``has_more`` is false or ``next`` is null,
one page in memory at a time. ``has_more: true, next: null`` ends the iteration with a
warning (Robocorp's own storage client tolerates it the same way); a ``next`` seen
before, or one pointing at another origin (it would receive the API key), raises
``InvalidResponse``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Generic, Protocol, TypeVar

import requests
from pydantic import BaseModel

from robocorp_api._http import Transport, parse_body
from robocorp_api.errors import InvalidResponse
from robocorp_api.models import Page
from robocorp_api.rows import WorkItemRow, WorkItemRowPage, parse_row_page

__all__ = ["Page", "Paginator", "RowPaginator"]

logger = logging.getLogger("robocorp_api")

T = TypeVar("T", bound=BaseModel)


class _PageLike(Protocol):
    @property
    def has_more(self) -> bool: ...
    @property
    def next(self) -> str | None: ...


P = TypeVar("P", bound=_PageLike)


class Paginator(Generic[T]):
    """Iterable over every item of a v1 list; requests pages only as they are consumed.

    ``for item in paginator`` yields items; ``paginator.pages()`` yields ``Page[T]``.
    Each iteration starts again from the first page.
    """

    def __init__(
        self,
        transport: Transport,
        path: str,
        model: type[T],
        *,
        params: Mapping[str, Any] | None = None,
    ) -> None:
        self._transport = transport
        self._path = path
        self._page_type: type[Page[T]] = Page[model]  # type: ignore[valid-type]
        self._params = {k: v for k, v in (params or {}).items() if v is not None}

    def __iter__(self) -> Iterator[T]:
        for page in self.pages():
            yield from page.data

    def __repr__(self) -> str:
        return f"Paginator({self._path!r}, params={self._params!r})"

    def pages(self) -> Iterator[Page[T]]:
        """Yield each page in order, following ``next`` verbatim.

        Raises:
            InvalidResponse: a page is malformed, ``next`` repeats, or it leaves the API origin.
            ControlRoomError: any request error (see ``robocorp_api.errors``).
        """
        page_type = self._page_type
        yield from follow_pages(
            self._transport,
            self._path,
            self._params,
            lambda response, path: parse_body(
                response, page_type, method="GET", path=path
            ),
        )

    def first(self) -> T | None:
        """Return the first item (fetching a single page), or None when the list is empty."""
        return next(iter(self), None)


class RowPaginator:
    """The pages of a work-item list as lean rows (`rows.WorkItemRow`, msgspec), for
    readers of many items that need list rows only (the mirror sync)."""

    def __init__(
        self,
        transport: Transport,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
    ) -> None:
        self._transport = transport
        self._path = path
        self._params = {k: v for k, v in (params or {}).items() if v is not None}

    def __iter__(self) -> Iterator[WorkItemRow]:
        for page in self.pages():
            yield from page.data

    def __repr__(self) -> str:
        return f"RowPaginator({self._path!r}, params={self._params!r})"

    def pages(self) -> Iterator[WorkItemRowPage]:
        """Yield each page in order (see `Paginator.pages`)."""
        yield from follow_pages(
            self._transport,
            self._path,
            self._params,
            lambda response, path: parse_row_page(response, method="GET", path=path),
        )


def follow_pages(
    transport: Transport,
    path: str,
    params: Mapping[str, Any] | None,
    parse: Callable[[requests.Response, str], P],
) -> Iterator[P]:
    """Request the pages of a list, following ``next`` verbatim; ``parse(response, path)``
    decodes each.

    Raises:
        InvalidResponse: a page is malformed, ``next`` repeats, or it leaves the API origin.
        ControlRoomError: any request error (see ``robocorp_api.errors``).
    """
    url = transport.url(path)
    seen: set[str] = set()
    while True:
        shown = transport.display_path(url)
        response = transport.request("GET", url, params=params)
        page = parse(response, shown)
        yield page
        if not page.has_more:
            return
        if not page.next:
            logger.warning(
                "Control Room said has_more=true but gave no next URL for %s; stopping",
                shown,
            )
            return
        url = transport.resolve(page.next, relative_to=response.url or url)
        params = None
        if url in seen:
            raise InvalidResponse(
                "pagination loop: a next URL repeated", method="GET", path=shown
            )
        if not transport.same_origin(url):
            raise InvalidResponse(
                "pagination next URL points at another origin",
                method="GET",
                path=shown,
            )
        seen.add(url)
