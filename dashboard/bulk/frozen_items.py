"""Writing a preview's frozen items: plain rows, no model instances.

A preview of 100,000 items built as BulkItem objects and saved with bulk_create spent a
minute in Python (model __init__, per-value field preparation). The rows are written as
tuples instead: PostgreSQL's COPY, or one executemany on SQLite, with the values adapted the
way the fields would (aware datetimes, JSON text).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import connection

from dashboard.bulk.models import BulkItem


@dataclass
class Frozen:
    """One frozen item: what it was at preview time and whether it is eligible (and why not)."""

    work_item_id: int
    workspace_id: int
    external_id: str
    process_id: int | None
    process_name: str
    preview_state: str
    preview_state_updated_at: datetime | None
    exception_type: str
    exception_code: str
    state: str
    reason: str
    patched_payload: Any = None


COLUMNS = (
    "operation_id",
    "work_item_id",
    "workspace_id",
    "external_id",
    "process_id",
    "process_name",
    "preview_state",
    "preview_state_updated_at",
    "exception_type",
    "exception_code",
    "state",
    "reason",
    "patched_payload",
)


def insert(operation_id: int, items: list[Frozen]) -> None:
    """Insert the operation's frozen items (inside the caller's transaction)."""
    if not items:
        return
    table = connection.ops.quote_name(BulkItem._meta.db_table)
    columns = ", ".join(connection.ops.quote_name(c) for c in COLUMNS)
    if connection.vendor == "postgresql":
        _copy(table, columns, operation_id, items)
    else:
        _executemany(table, columns, operation_id, items)


def _copy(table: str, columns: str, operation_id: int, items: list[Frozen]) -> None:
    from psycopg.types.json import Jsonb

    with connection.cursor() as cursor:
        raw = cursor.cursor  # the psycopg cursor under Django's wrapper
        with raw.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
            for i in items:
                payload = (
                    None if i.patched_payload is None else Jsonb(i.patched_payload)
                )
                copy.write_row(
                    (
                        operation_id,
                        i.work_item_id,
                        i.workspace_id,
                        i.external_id,
                        i.process_id,
                        i.process_name,
                        i.preview_state,
                        i.preview_state_updated_at,
                        i.exception_type,
                        i.exception_code,
                        i.state,
                        i.reason,
                        payload,
                    )
                )


def _executemany(
    table: str, columns: str, operation_id: int, items: list[Frozen]
) -> None:
    adapt = connection.ops.adapt_datetimefield_value
    marks = ", ".join(["%s"] * len(COLUMNS))
    rows = [
        (
            operation_id,
            i.work_item_id,
            i.workspace_id,
            i.external_id,
            i.process_id,
            i.process_name,
            i.preview_state,
            adapt(i.preview_state_updated_at),
            i.exception_type,
            i.exception_code,
            i.state,
            i.reason,
            None if i.patched_payload is None else json.dumps(i.patched_payload),
        )
        for i in items
    ]
    with connection.cursor() as cursor:
        # Table and column names come from the model; the values are parameters.
        sql = f"INSERT INTO {table} ({columns}) VALUES ({marks})"  # noqa: S608
        cursor.executemany(sql, rows)
