"""Dialect plumbing of the mirror's batched writes, apart from what they write (`upsert.py`).

- `upsert_item_rows`: INSERT … ON CONFLICT … DO UPDATE of work-item rows — `executemany` on
  SQLite, one multi-row statement per batch elsewhere, and on PostgreSQL, from `COPY_MIN_ROWS`
  rows on, COPY through a session-lived staging table. On a first load the rows are
  inserted plainly instead (COPY straight into the table on PostgreSQL; on SQLite a plain
  INSERT costs 40% less than the upsert), falling back to the upsert if one exists;
- `insert_new_rows`: INSERT … ON CONFLICT DO NOTHING (COPY when nothing can conflict);
- `larger_cache`: a larger SQLite page cache while the sync writes;
- `relaxed_commits`: PostgreSQL acknowledges the re-runnable sync's commits before the WAL
  reaches the disk;
- `analyze_tables`: fresh planner statistics after a first load.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.db.models import Model

from dashboard.mirror.models import Process, ProcessRun, StepRun, WorkItem

logger = logging.getLogger(__name__)


def batch_size() -> int:
    return settings.WORKROOM_SYNC_DB_BATCH


# The columns a work-item row tuple holds, in this order (see `upsert.write_items`); the
# others (payload, files) take their field default.
ITEM_COLUMNS = (
    "workspace_id",
    "external_id",
    "process_id",
    "process_run_id",
    "process_external_id",
    "process_run_external_id",
    "step_external_id",
    "step_run_external_id",
    "state",
    "state_updated_at",
    "created_at",
    "exception_type",
    "exception_code",
    "exception_message",
    "message_signature",
    "payload_synced_at",
    "row_hash",
    "first_seen_at",
    "last_seen_at",
    "gone_at",
)
ItemRow = tuple[Any, ...]


def _item_columns(
    update_fields: Sequence[str], *, copy: bool
) -> tuple[list[Any], list[Any], tuple[Any, ...]]:
    """Return (insert fields: ITEM_COLUMNS then the defaulted ones, update fields, the
    defaulted fields' values as the statement takes them)."""
    meta = WorkItem._meta
    by_attname = {f.attname: f for f in meta.concrete_fields}
    given = [by_attname[name] for name in ITEM_COLUMNS]
    rest = [
        f
        for f in meta.concrete_fields
        if not f.primary_key and f.attname not in ITEM_COLUMNS
    ]
    updates = [meta.get_field(name) for name in update_fields]
    return [*given, *rest], updates, tuple(_default_value(f, copy) for f in rest)


def _default_value(field: Any, copy: bool) -> Any:
    default = field.get_default()
    if copy and field.get_internal_type() == "JSONField":
        # COPY takes JSON as text (None is SQL NULL, as JSONField.get_db_prep_save makes it).
        return None if default is None else json.dumps(default, cls=field.encoder)
    return field.get_db_prep_save(default, connection)


def datetime_param() -> Callable[[datetime | None], Any]:
    """Return the function that turns an aware datetime into the value the database takes
    for a DateTimeField: the datetime itself on PostgreSQL (psycopg adapts it), on SQLite
    the UTC text Django stores ("YYYY-MM-DD HH:MM:SS[.ffffff]").

    Django's own adapter (`adapt_datetimefield_value`) did the same in several Python steps
    per value; five datetime columns a row made it a tenth of a first load.
    """
    if connection.vendor != "sqlite":
        return _same
    if connection.timezone_name != "UTC":  # a DATABASES TIME_ZONE: Django's way
        adapt = connection.ops.adapt_datetimefield_value
        return lambda value: None if value is None else adapt(value)
    return _sqlite_utc_text


def _same(value: datetime | None) -> Any:
    return value


def _sqlite_utc_text(value: datetime | None) -> str | None:
    if value is None:
        return None
    offset = value.utcoffset()
    if offset is None:
        raise ValueError("SQLite backend does not support naive datetimes here")
    if offset:
        value = value.astimezone(UTC)
    return value.replace(tzinfo=None).isoformat(" ")


def sqlite_text_from_iso() -> Callable[[datetime | None, str | None], Any] | None:
    """On SQLite in UTC, the function `(value, value.isoformat())` → the text
    `datetime_param` makes of `value`, cut from the ISO string the caller has already
    made (for the row hash) instead of converted anew; None elsewhere."""
    if connection.vendor != "sqlite" or connection.timezone_name != "UTC":
        return None
    return _sqlite_text_from_iso


def _sqlite_text_from_iso(value: datetime | None, iso: str | None) -> str | None:
    if iso is None or not iso.endswith("+00:00"):
        return _sqlite_utc_text(value)
    # "YYYY-MM-DDTHH:MM:SS[.ffffff]+00:00" → "YYYY-MM-DD HH:MM:SS[.ffffff]"
    return f"{iso[:10]} {iso[11:-6]}"


def upsert_item_rows(
    rows: Sequence[ItemRow],
    update_fields: Sequence[str],
    *,
    fresh: bool = False,
) -> bool:
    """INSERT … ON CONFLICT (workspace, external_id) DO UPDATE `update_fields` for work-item
    rows: tuples of the `ITEM_COLUMNS` values, datetimes as `datetime_param` makes them
    (the other columns take their field default).

    The statement `bulk_create(update_conflicts=True)` would send, without its per-row
    model instance and per-value field machinery (~0.3 ms per 22-column row; it made item
    writes the sync's bottleneck) or its SQLite cap of 999 parameters a batch. On
    PostgreSQL the rows travel by COPY (see `_pg_write_items`). `fresh` says the caller
    expects none of them to exist yet (first load): they are then inserted plainly, under
    a savepoint, and if one of them exists after all (a concurrent writer, a row listed
    twice across pages) the batch takes the upsert path. Returns True when every row was
    inserted new (so nothing of the mirror referred to them before).
    """
    copy = connection.vendor == "postgresql" and len(rows) >= COPY_MIN_ROWS
    fields, updates, tail = _item_columns(update_fields, copy=copy)
    values = [row + tail for row in rows] if tail else list(rows)
    if copy:
        return _pg_write_items(values, fields, updates, fresh=fresh)
    ops = connection.ops
    table = ops.quote_name(WorkItem._meta.db_table)
    columns = ", ".join(ops.quote_name(f.column) for f in fields)
    placeholders = ", ".join(["%s"] * len(fields))
    head = f"INSERT INTO {table} ({columns}) VALUES "  # noqa: S608
    tail_sql = f" ON CONFLICT ({_ITEM_UNIQUE}) DO UPDATE SET {_assignments(updates)}"
    # Only identifiers from the model's metadata are interpolated; values are parameters.
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            # In-process: executemany of a one-row statement is the fastest path.
            row_sql = head + f"({placeholders})"
            if fresh and _inserted_new(cursor, row_sql, values):
                return True
            cursor.executemany(row_sql + tail_sql, values)
            return False
        # Over a network one statement per batch saves a round trip per row.
        size = batch_size()
        for begin in range(0, len(values), size):
            chunk = values[begin : begin + size]
            sql = head + ", ".join([f"({placeholders})"] * len(chunk)) + tail_sql
            cursor.execute(sql, [value for row in chunk for value in row])
    return False


def _inserted_new(cursor: Any, sql: str, values: Sequence[tuple[Any, ...]]) -> bool:
    """Run a plain INSERT of `values` under a savepoint; False (and nothing written) when
    one of them already exists."""
    try:
        with transaction.atomic():
            cursor.executemany(sql, values)
    except IntegrityError:
        logger.info("first-load insert met existing items: upserting instead")
        return False
    return True


def insert_new_rows(
    model: type[Model],
    columns: Sequence[str],
    rows: Sequence[tuple[Any, ...]],
    *,
    no_conflict: bool = False,
) -> None:
    """INSERT … ON CONFLICT DO NOTHING of `rows` into `model`'s table: tuples of the
    `columns` values (attnames; datetimes as `datetime_param` makes them), the other
    columns taking their field default.

    What `bulk_create(ignore_conflicts=True)` sends, without a model instance and the field
    machinery per value: for the failure occurrences of a first load (a tenth of the items)
    that machinery cost about as much as writing the items themselves. `no_conflict`: the
    caller knows none of the rows can conflict (they refer to rows inserted in this very
    transaction), so on PostgreSQL they travel by COPY.
    """
    if not rows:
        return
    meta = model._meta
    by_attname = {f.attname: f for f in meta.concrete_fields}
    given = [by_attname[name] for name in columns]
    rest = [
        f
        for f in meta.concrete_fields
        if not f.primary_key and f.attname not in columns
    ]
    tail = tuple(f.get_db_prep_save(f.get_default(), connection) for f in rest)
    quote = connection.ops.quote_name
    names = ", ".join(quote(f.column) for f in (*given, *rest))
    if no_conflict and connection.vendor == "postgresql" and len(rows) >= COPY_MIN_ROWS:
        with connection.cursor() as cursor:
            _copy_rows(
                cursor, quote(meta.db_table), names, [row + tail for row in rows]
            )
        return
    placeholders = ", ".join(["%s"] * (len(given) + len(rest)))
    sql = (
        f"INSERT INTO {quote(meta.db_table)} ({names}) VALUES ({placeholders}) "  # noqa: S608
        "ON CONFLICT DO NOTHING"
    )
    with connection.cursor() as cursor:
        cursor.executemany(sql, [row + tail for row in rows])


# Below this many rows a plain INSERT … VALUES (one round trip) beats the COPY path's four.
COPY_MIN_ROWS = 50
_ITEM_UNIQUE = "workspace_id, external_id"
# Session-lived staging table of the PostgreSQL item upsert (temporary: private to the
# connection, no WAL); emptied after every use.
_ITEM_STAGE = "workroom_item_stage"


def _assignments(updates: Sequence[Any]) -> str:
    quote = connection.ops.quote_name
    return ", ".join(f"{quote(f.column)} = EXCLUDED.{quote(f.column)}" for f in updates)


def _pg_write_items(
    values: Sequence[tuple[Any, ...]],
    fields: Sequence[Any],
    updates: Sequence[Any],
    *,
    fresh: bool,
) -> bool:
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
                return True
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
    return False


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


# SQLite page cache of the sync's connection (KiB; the default is 2 MiB).
SQLITE_SYNC_CACHE_KIB = 32 * 1024


@contextmanager
def larger_cache() -> Iterator[None]:
    """Give SQLite a larger page cache for the sync, then the default again.

    Item ids are random, so every insert lands on a random page of the (workspace,
    external id) index; once the index outgrows the default 2 MiB cache, each of them
    reads its page back from the file. 32 MiB cut the insert CPU of 100,000 items by a
    sixth and stays within the worker's memory budget.
    """
    if connection.vendor != "sqlite":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA cache_size")
        (previous,) = cursor.fetchone()
        cursor.execute(f"PRAGMA cache_size = -{SQLITE_SYNC_CACHE_KIB:d}")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"PRAGMA cache_size = {int(previous):d}")


def _reset_synchronous_commit() -> None:
    try:
        with connection.cursor() as cursor:
            cursor.execute("RESET synchronous_commit")
    except DatabaseError:
        # The connection is broken (and its session, with the setting, is gone).
        logger.debug("could not reset synchronous_commit", exc_info=True)


def analyze_tables() -> None:
    """Refresh the planner statistics of the mirror tables.

    After a first load the statistics still describe a nearly empty workspace, and both
    SQLite and PostgreSQL then answer "this workspace's rows WHERE external_id IN (…)" by
    scanning every row of the workspace through an index on workspace_id alone (0.4 s per
    1,000-id lookup at 1M items instead of a few ms). SQLite never analyzes on its own.
    """
    analyze(Process, ProcessRun, StepRun, WorkItem)


def analyze(*models: type[Model]) -> None:
    """ANALYZE the tables of `models` (on SQLite from a sample: fast on big tables)."""
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("PRAGMA analysis_limit = 1000")
        for model in models:
            cursor.execute(f"ANALYZE {connection.ops.quote_name(model._meta.db_table)}")
