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
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction
from django.db.models import F, Func, QuerySet, TextField
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


class IsoText(Func):
    """A timestamp as the text `datetime.isoformat()` gives for it in UTC ("" for NULL),
    written by PostgreSQL: loading 160,000 datetimes into Python objects only to format
    them again was two thirds of an 80,000-row export's time."""

    output_field = TextField()
    template = (
        "CASE WHEN %(expressions)s IS NULL THEN '' ELSE "
        "to_char(%(expressions)s AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS') || "
        "CASE WHEN to_char(%(expressions)s AT TIME ZONE 'UTC', 'US') = '000000' THEN '' "
        "ELSE to_char(%(expressions)s AT TIME ZONE 'UTC', '.US') END || '+00:00' END"
    )


def _isoformat(moment: Any) -> str:
    return moment.isoformat() if moment is not None else ""


def _dates_as_text() -> bool:
    return connection.vendor == "postgresql"


def _key(keys: tuple[str, ...]) -> KeyTransform:
    expression: Any = F("payload")
    for key in keys:
        expression = KeyTransform(key, expression)
    return expression


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
    aliases: dict[str, Any] = {
        f"payload_{n}": _key(f.keys) for n, f in enumerate(payload_fields)
    }
    fields = list(_FIELDS)
    if _dates_as_text():
        aliases = {
            "created_text": IsoText("created_at"),
            "updated_text": IsoText("state_updated_at"),
            **aliases,
        }
        fields[2:4] = ["created_text", "updated_text"]
    payload_aliases = [a for a in aliases if a.startswith("payload_")]
    rows = (
        selectors.ordered(items, sort)
        .annotate(**aliases)
        .values_list("workspace_id", "process_id", *fields, *payload_aliases)
        .iterator(chunk_size=FETCH_ROWS)
    )
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([*HEADER, *(f"payload.{f.path}" for f in payload_fields)])
    with _planned_for_every_row():
        yield buffer.getvalue()  # the download starts before the first row is read
        buffer.seek(0)
        buffer.truncate()
        yield from _chunks(
            rows, writer, buffer, workspaces, processes, len(payload_fields)
        )


@contextmanager
def _planned_for_every_row() -> Iterator[None]:
    """PostgreSQL plans a cursor for its first 10% of rows (cursor_tuple_fraction): for a
    filter like state = failed that is a walk of the whole created_at index, row by row,
    though every row will be read. Plan for all of them (a scan of the matching rows, then
    a sort), and without JIT, which costs more than it saves here; both local to the
    export's transaction (a cursor in a transaction also streams instead of being
    materialised WITH HOLD)."""
    if connection.vendor != "postgresql":
        yield
        return
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL cursor_tuple_fraction = 1.0")
        cursor.execute("SET LOCAL jit = off")
        yield


def _chunks(
    rows: Iterator[tuple[Any, ...]],
    writer: Any,
    buffer: io.StringIO,
    workspaces: dict[int, str],
    processes: dict[int, str],
    extra: int,
) -> Iterator[str]:
    # The hot loop of an export (80,000 rows a second matters): names made safe once, a
    # text cell checked further only when its first character is risky.
    workspaces = {k: csv_safe(v) for k, v in workspaces.items()}
    processes = {k: csv_safe(v) for k, v in processes.items()}
    risky, safe, end = _RISKY_FIRST, csv_safe, 2 + len(_FIELDS)
    when: Callable[[Any], str] = str if _dates_as_text() else _isoformat
    for count, row in enumerate(rows, start=1):
        (ext, state, created, updated, run, step, etype, code, message) = row[2:end]
        values = [
            workspaces.get(row[0], ""),
            processes.get(row[1], ""),
            safe(ext) if ext and ext[0] in risky else ext,
            safe(state) if state and state[0] in risky else state,
            when(created),
            when(updated),
            safe(run) if run and run[0] in risky else run,
            safe(step) if step and step[0] in risky else step,
            safe(etype) if etype and etype[0] in risky else etype,
            safe(code) if code and code[0] in risky else code,
            safe(message) if message and message[0] in risky else message,
        ]
        if extra:
            values.extend(_payload_text(v) for v in row[end:])
        writer.writerow(values)
        if count % CHUNK_ROWS == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()
