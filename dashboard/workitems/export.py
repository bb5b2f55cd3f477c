"""The explorer's CSV export: the current filter's items as CSV lines, streamed.

Rows come from one server-side cursor as plain value tuples (no model instances), workspace
and process names from two small dicts instead of joins, and lines are written 1,000 rows
to a chunk: the query count is constant and memory flat whatever the size.

Payload fields can be added as columns: dotted paths such as `order.id` or
`customer.address.city` (a number is a list index: `lines.0.sku`); a value that is an object
or a list is written as its JSON text.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from django.db.models import F, QuerySet
from django.db.models.fields.json import KeyTransform

from dashboard.lib.errors import WorkroomError
from dashboard.mirror.models import Process, WorkItem
from dashboard.workitems import selectors
from dashboard.workitems.selectors import Scope

HEADER = (
    "workspace",
    "process",
    "work_item_id",
    "state",
    "created_at",
    "state_updated_at",
    "process_run_id",
    "step_run_id",
    "exception_type",
    "exception_code",
    "exception_message",
)
# The row fields after workspace and process (which are looked up by id).
_FIELDS = (
    "external_id",
    "state",
    "created_at",
    "state_updated_at",
    "process_run_external_id",
    "step_run_external_id",
    "exception_type",
    "exception_code",
    "exception_message",
)
_DATES = frozenset((2, 3))  # created_at, state_updated_at within _FIELDS
CHUNK_ROWS = 1000
FETCH_ROWS = 5000
MAX_PAYLOAD_FIELDS = 10
_SEGMENT = re.compile(r"[A-Za-z0-9_$@:-]{1,100}")
# Spreadsheets evaluate a cell starting with = + - @ (after blanks, which they skip).
_BLANKS = " \t\r\n\f\v\u00a0\u3000"
_RISKY_FIRST = frozenset(_BLANKS + "=+-@")


class BadColumns(WorkroomError):
    """The payload fields asked for cannot be exported (the message says why)."""


@dataclass(frozen=True)
class PayloadField:
    path: str  # as the user wrote it: "order.id"
    keys: tuple[str, ...]


def parse_payload_fields(values: Iterable[str]) -> list[PayloadField]:
    """Read the `payload_field` parameters (each may hold several, comma-separated).

    Raises:
        BadColumns: a path that is not `key.key…` of letters, digits, _ - $ @ :, or too many.
    """
    fields: list[PayloadField] = []
    for value in values:
        for raw in value.split(","):
            path = raw.strip()
            if not path:
                continue
            keys = tuple(path.split("."))
            if not all(_SEGMENT.fullmatch(k) for k in keys):
                raise BadColumns(
                    f"“{path[:100]}” is not a payload field path: write keys separated by "
                    "dots, such as order.id or customer.address.city (letters, digits and "
                    "_ - $ @ : only; a number is a list index)."
                )
            if path not in {f.path for f in fields}:
                fields.append(PayloadField(path, keys))
    if len(fields) > MAX_PAYLOAD_FIELDS:
        raise BadColumns(
            f"At most {MAX_PAYLOAD_FIELDS} payload fields can be exported at once "
            f"({len(fields)} were asked for)."
        )
    return fields


def csv_safe(value: Any) -> Any:
    """A cell a spreadsheet would evaluate as a formula, shown as text (a leading ')."""
    if not isinstance(value, str) or not value or value[0] not in _RISKY_FIRST:
        return value
    first = value.lstrip(_BLANKS)[:1]
    if first in ("=", "+", "-", "@") or value[:1] in ("\t", "\r", "\n"):
        return "'" + value
    return value


def _payload_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return csv_safe(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return csv_safe(json.dumps(value, ensure_ascii=False, sort_keys=True))


def _key(keys: tuple[str, ...]) -> KeyTransform:
    expression: Any = F("payload")
    for key in keys:
        expression = KeyTransform(key, expression)
    return expression


def _text(value: Any) -> str:
    return "" if value is None else csv_safe(value)


def lines(
    scope: Scope,
    items: QuerySet[WorkItem],
    *,
    sort: str,
    payload_fields: Sequence[PayloadField] = (),
) -> Iterator[str]:
    """Yield the CSV text of `items` in `sort` order: the header, then chunks of rows."""
    workspaces = {pk: w.name for pk, w in scope.workspaces.items()}
    processes = dict(
        Process.objects.filter(workspace_id__in=list(scope.workspaces)).values_list(
            "id", "name"
        )
    )
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([*HEADER, *(f"payload.{f.path}" for f in payload_fields)])
    yield buffer.getvalue()  # the download starts before the first row is read
    buffer.seek(0)
    buffer.truncate()
    aliases = {f"payload_{n}": _key(f.keys) for n, f in enumerate(payload_fields)}
    rows = (
        selectors.ordered(items, sort)
        .annotate(**aliases)
        .values_list("workspace_id", "process_id", *_FIELDS, *aliases)
        .iterator(chunk_size=FETCH_ROWS)
    )
    extra = len(payload_fields)
    for count, row in enumerate(rows, start=1):
        values = [_text(workspaces.get(row[0])), _text(processes.get(row[1]))]
        for n, value in enumerate(row[2 : 2 + len(_FIELDS)]):
            if n in _DATES:
                values.append(value.isoformat() if value is not None else "")
            else:
                values.append(_text(value))
        if extra:
            values.extend(_payload_text(v) for v in row[2 + len(_FIELDS) :])
        writer.writerow(values)
        if count % CHUNK_ROWS == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()
