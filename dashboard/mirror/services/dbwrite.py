"""Dialect plumbing of the mirror's batched writes, apart from what they write (`upsert.py`).

- `upsert_item_rows`: INSERT … ON CONFLICT … DO UPDATE of work-item rows — `executemany` on
  SQLite, one multi-row statement per batch elsewhere, and on PostgreSQL, from `COPY_MIN_ROWS`
  rows on, COPY through a session-lived staging table (or straight into the table on a
  first load);
- `relaxed_commits`: PostgreSQL acknowledges the re-runnable sync's commits before the WAL
  reaches the disk;
- `analyze_tables`: fresh planner statistics after a first load.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import partial
from operator import itemgetter
from typing import Any

from django.conf import settings
from django.db import DatabaseError, IntegrityError, connection, transaction

from dashboard.mirror.models import Process, ProcessRun, StepRun, WorkItem

logger = logging.getLogger(__name__)


def batch_size() -> int:
    return settings.WORKROOM_SYNC_DB_BATCH


def _item_columns(update_fields: Sequence[str]) -> tuple[list[Any], list[Any]]:
    """Return (insert fields, update fields) of WorkItem in column order."""
    fields = [f for f in WorkItem._meta.concrete_fields if not f.primary_key]
    updates = [WorkItem._meta.get_field(name) for name in update_fields]
    return fields, updates


def upsert_item_rows(
    rows: Sequence[dict[str, Any]],
    update_fields: Sequence[str],
    *,
    fresh: bool = False,
) -> None:
    """INSERT … ON CONFLICT (workspace, external_id) DO UPDATE `update_fields` for work-item
    rows (dicts of column values by attname; missing columns take the field default).

    The statement `bulk_create(update_conflicts=True)` would send, but with values adapted
    per column type: bulk_create builds a model instance per row and compiles every value
    through the field machinery (~0.3 ms per 22-column row), and caps SQLite batches at 999
    parameters (45 rows) — it made item writes the sync's bottleneck. On PostgreSQL the
    rows travel by COPY (see `_pg_write_items`); `fresh` says the caller expects none of
    them to exist yet (first load), which lets them be copied straight into the table.
    """
    fields, updates = _item_columns(update_fields)
    if connection.vendor == "postgresql" and len(rows) >= COPY_MIN_ROWS:
        _pg_write_items(_copy_values(rows, fields), fields, updates, fresh=fresh)
        return
    values = _item_values(rows, fields)
    ops = connection.ops
    table = ops.quote_name(WorkItem._meta.db_table)
    columns = ", ".join(ops.quote_name(f.column) for f in fields)
    placeholders = ", ".join(["%s"] * len(fields))
    head = f"INSERT INTO {table} ({columns}) VALUES "  # noqa: S608
    tail = f" ON CONFLICT ({_ITEM_UNIQUE}) DO UPDATE SET {_assignments(updates)}"
    # Only identifiers from the model's metadata are interpolated; values are parameters.
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            # In-process: executemany of a one-row statement is the fastest path.
            cursor.executemany(head + f"({placeholders})" + tail, values)
            return
        # Over a network one statement per batch saves a round trip per row.
        size = batch_size()
        for begin in range(0, len(values), size):
            chunk = values[begin : begin + size]
            sql = head + ", ".join([f"({placeholders})"] * len(chunk)) + tail
            cursor.execute(sql, [value for row in chunk for value in row])


# Below this many rows a plain INSERT … VALUES (one round trip) beats the COPY path's four.
COPY_MIN_ROWS = 50
_ITEM_UNIQUE = "workspace_id, external_id"
# Session-lived staging table of the PostgreSQL item upsert (temporary: private to the
# connection, no WAL); emptied after every use.
_ITEM_STAGE = "workroom_item_stage"


def _assignments(updates: Sequence[Any]) -> str:
    quote = connection.ops.quote_name
    return ", ".join(f"{quote(f.column)} = EXCLUDED.{quote(f.column)}" for f in updates)


def _item_values(
    rows: Sequence[dict[str, Any]], fields: Sequence[Any]
) -> list[tuple[Any, ...]]:
    adapters = [(f.attname, _adapter(f), _adapter(f)(f.get_default())) for f in fields]
    return [
        tuple(
            adapt(row[name]) if name in row else default
            for name, adapt, default in adapters
        )
        for row in rows
    ]


def _copy_values(
    rows: Sequence[dict[str, Any]], fields: Sequence[Any]
) -> list[tuple[Any, ...]]:
    """Return the rows as tuples for a text-format COPY on PostgreSQL.

    Datetimes, strings and numbers go as they are (psycopg renders them, the server parses
    them); JSON values as JSON text, the default one serialised once per batch instead of
    once per row.
    """
    dumps = {
        f.attname: partial(_json_text, f.encoder)
        for f in fields
        if f.get_internal_type() == "JSONField"
    }
    defaults: dict[str, Any] = {}
    for f in fields:
        default = f.get_default()
        defaults[f.attname] = (
            dumps[f.attname](default) if f.attname in dumps else default
        )
    getter = itemgetter(*(f.attname for f in fields))
    values = []
    for row in rows:
        merged = {**defaults, **row}
        for name, dump in dumps.items():
            if name in row:
                merged[name] = dump(row[name])
        values.append(getter(merged))
    return values


def _json_text(encoder: type[json.JSONEncoder] | None, value: Any) -> str | None:
    # None is SQL NULL, as JSONField.get_db_prep_save makes it.
    return None if value is None else json.dumps(value, cls=encoder)


def _pg_write_items(
    values: Sequence[tuple[Any, ...]],
    fields: Sequence[Any],
    updates: Sequence[Any],
    *,
    fresh: bool,
) -> None:
    """Write item rows on PostgreSQL by COPY: one COPY and one INSERT … SELECT per batch.

    A multi-row `INSERT … VALUES` of 1,000 rows of 22 parameters cost more client CPU (psycopg
    splitting and adapting the huge statement) than the server took to write it; COPY
    streams the rows, so the server writes them while the client encodes the next ones.
    The rows go to a temporary staging table, then one INSERT … SELECT … ON CONFLICT DO
    UPDATE merges them. With `fresh` they are copied straight into the table — under a
    savepoint, so if one of them exists after all (a concurrent writer, a row listed twice
    across pages) the unique constraint stops the COPY and the batch takes the upsert path.
    """
    quote = connection.ops.quote_name
    table = quote(WorkItem._meta.db_table)
    columns = ", ".join(quote(f.column) for f in fields)
    with transaction.atomic(savepoint=False), connection.cursor() as cursor:
        stage = quote(_ITEM_STAGE)
        create_stage = (
            f"CREATE TEMP TABLE IF NOT EXISTS {stage} AS "  # noqa: S608
            f"SELECT {columns} FROM {table} WITH NO DATA"
        )
        if fresh:
            try:
                with transaction.atomic():
                    _copy_rows(cursor, table, columns, values)
                return
            except IntegrityError:
                logger.info("first-load COPY met existing items: upserting instead")
            cursor.execute(create_stage)
        else:
            cursor.execute(create_stage)
        _copy_rows(cursor, stage, columns, values)
        # No parameters: both statements go in one round trip.
        cursor.execute(
            f"INSERT INTO {table} ({columns}) SELECT {columns} FROM {stage} "  # noqa: S608
            f"ON CONFLICT ({_ITEM_UNIQUE}) DO UPDATE SET {_assignments(updates)}; "
            f"TRUNCATE {stage}"
        )


def _copy_rows(
    cursor: Any, table: str, columns: str, values: Sequence[tuple[Any, ...]]
) -> None:
    # COPY is not an `execute`: Django's query wrappers (and debug log) do not see it, and
    # its errors are psycopg's until wrapped.
    sql = f"COPY {table} ({columns}) FROM STDIN"
    with connection.wrap_database_errors, cursor.cursor.copy(sql) as copy:
        for row in values:
            copy.write_row(row)


@contextmanager
def relaxed_commits() -> Iterator[None]:
    """Let PostgreSQL acknowledge commits before their WAL reaches the disk, for the sync.

    The sync is idempotent and re-runnable: if the server crashes, losing its last few
    hundred milliseconds of commits only means the next sync writes those rows again (and
    a lease or progress record lost that way expires as any other). A first load commits
    hundreds of small transactions (one per page, one per run); a disk flush for each was a
    sixth of its time. Inside a transaction the setting is `SET LOCAL` and ends with it;
    otherwise it holds for the session until the block ends.
    """
    if connection.vendor != "postgresql":
        yield
        return
    local = connection.in_atomic_block
    with connection.cursor() as cursor:
        cursor.execute(f"SET {'LOCAL ' if local else ''}synchronous_commit = off")
    try:
        yield
    finally:
        if not local:
            _reset_synchronous_commit()


def _reset_synchronous_commit() -> None:
    try:
        with connection.cursor() as cursor:
            cursor.execute("RESET synchronous_commit")
    except DatabaseError:
        # The connection is broken (and its session, with the setting, is gone).
        logger.debug("could not reset synchronous_commit", exc_info=True)


def _adapter(field: Any) -> Any:
    internal = field.get_internal_type()
    if internal == "DateTimeField":
        adapt_datetime = connection.ops.adapt_datetimefield_value
        last: list[Any] = [None, None]

        def adapt(value: Any) -> Any:
            # The same `now` fills several columns of every row: adapt it once.
            if value is None:
                return None
            if value is not last[0]:
                last[0], last[1] = value, adapt_datetime(value)
            return last[1]

        return adapt
    if internal == "JSONField":
        return lambda value: field.get_db_prep_save(value, connection)
    return lambda value: value


def analyze_tables() -> None:
    """Refresh the planner statistics of the mirror tables.

    After a first load the statistics still describe a nearly empty workspace, and both
    SQLite and PostgreSQL then answer "this workspace's rows WHERE external_id IN (…)" by
    scanning every row of the workspace through an index on workspace_id alone (0.4 s per
    1,000-id lookup at 1M items instead of a few ms). SQLite never analyzes on its own.
    """
    tables = [m._meta.db_table for m in (Process, ProcessRun, StepRun, WorkItem)]
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("PRAGMA analysis_limit = 1000")  # sample: fast on big tables
        for table in tables:
            cursor.execute(f"ANALYZE {connection.ops.quote_name(table)}")
