"""Lean list rows of work items, decoded by msgspec straight from the response bytes.

A sync reads work items by the hundred thousand, list rows only (no payload, no files).
Decoding a page of 1,000 rows into the frozen pydantic models (`models.WorkItem`, with a
`Ref` model per reference) cost about ten times as much CPU as decoding it into these
msgspec structs, and was a fifth of the sync's time. The structs have the same attribute
names and types as the pydantic models, so code that reads list rows takes either; the
same leniency applies (unknown fields ignored, lax types, a timestamp without offset read
as UTC); a body that does not match raises `InvalidResponse` as the models' parsing does.

The row structs are not tracked by Python's cycle collector (`gc=False`: they hold only
strings, datetimes and other such structs, so they cannot form a cycle). A sync holds a
page of them at a time and creates some 400,000 per 100,000 items: tracked, they made the
collector's passes a tenth of the sync's CPU.
"""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec
import requests

from robocorp_api.errors import InvalidResponse

__all__ = ["RowRef", "WorkItemExceptionRow", "WorkItemRow", "WorkItemRowPage"]


class RowRef(msgspec.Struct, frozen=True, gc=False):
    id: str


class WorkItemExceptionRow(msgspec.Struct, frozen=True, gc=False):
    type: str | None = None
    code: str | None = None
    message: str | None = None


class WorkItemRow(msgspec.Struct, kw_only=True, gc=False):
    """A work-item list row (`models.WorkItem` without payload and files)."""

    id: str
    created_at: datetime
    state: str
    state_updated_at: datetime | None = None
    process: RowRef
    process_run: RowRef | None = None
    step: RowRef | None = None
    step_run: RowRef | None = None
    exception: WorkItemExceptionRow | None = None

    def __post_init__(self) -> None:
        # As `models.Timestamp`: Control Room sends "...Z"; a timestamp without offset is
        # read as UTC rather than left naive.
        if self.created_at.tzinfo is None:
            self.created_at = self.created_at.replace(tzinfo=UTC)
        if self.state_updated_at is not None and self.state_updated_at.tzinfo is None:
            self.state_updated_at = self.state_updated_at.replace(tzinfo=UTC)


class WorkItemRowPage(msgspec.Struct, kw_only=True):
    data: list[WorkItemRow]
    has_more: bool = False
    next: str | None = None


# strict=False: the lax coercions pydantic's default mode makes ("1" for 1, a number for a
# timestamp), so the two parsers accept the same bodies.
_DECODER = msgspec.json.Decoder(WorkItemRowPage, strict=False)


def parse_row_page(
    response: requests.Response, *, method: str, path: str
) -> WorkItemRowPage:
    """Decode a list page of work items from the raw body.

    Raises:
        InvalidResponse: the body is not JSON or does not match the schema.
    """
    try:
        return _DECODER.decode(response.content)
    except msgspec.ValidationError as exc:
        message = f"response does not match the schema ({exc})"
    except msgspec.DecodeError:
        message = "response body is not valid JSON or is nested too deeply"
    raise InvalidResponse(
        message, status=response.status_code, method=method, path=path
    ) from None
