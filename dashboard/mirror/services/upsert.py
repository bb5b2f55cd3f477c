"""Batched writes of API objects into the mirror tables: what changed, and what to write.

One page of API rows becomes: one SELECT of the matching mirror rows (external id, pk, row
fingerprint), one INSERT … ON CONFLICT DO UPDATE for the new and changed rows, one UPDATE of
`last_seen_at` for the unchanged ones, and one INSERT of observed state changes. Never a
query per row. `bulk_create(update_conflicts=True)` works the same on SQLite and PostgreSQL.
How the rows travel (executemany, multi-row VALUES, COPY on PostgreSQL) is `dbwrite.py`'s.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from dashboard.mirror.models import (
    RUN_TERMINAL_STATES,
    Process,
    ProcessRun,
    StepRun,
    WorkItem,
    WorkItemStateChange,
)
from dashboard.mirror.normalise import message_signature
from dashboard.mirror.services import occurrences
from dashboard.mirror.services.dbwrite import (
    ITEM_COLUMNS,
    ItemRow,
    analyze_tables,
    batch_size,
    datetime_param,
    larger_cache,
    relaxed_commits,
    sqlite_text_from_iso,
    upsert_item_rows,
)
from dashboard.workspaces.models import Workspace
from robocorp_api import models as api
from robocorp_api.rows import WorkItemExceptionRow, WorkItemRow

logger = logging.getLogger(__name__)
T = TypeVar("T")

ITEM_UPDATE_FIELDS = [
    "process",
    "process_run",
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
    "last_seen_at",
    "gone_at",
]
RUN_UPDATE_FIELDS = [
    "process",
    "process_external_id",
    "state",
    "created_at",
    "started_at",
    "ended_at",
    "duration",
    "started_by_type",
    "started_by",
    "needs_refresh",
    "last_seen_at",
    "gone_at",
]
STEP_UPDATE_FIELDS = [
    "process_run",
    "step_external_id",
    "step_name",
    "state",
    "state_updated_at",
    "error_code",
    "started_at",
    "ended_at",
    "duration",
    "last_seen_at",
    "gone_at",
]


# The mirror's id columns (external ids and the ids an object refers to) hold this many
# characters; Control Room's ids are UUIDs.
ID_MAX = 100


def storable(objects: Sequence[T], ids: Callable[[T], Iterable[str | None]]) -> list[T]:
    """The objects whose ids fit the mirror's columns. One with a longer id, or one holding a
    NUL, is left out (and logged) instead of failing the sync of the whole workspace
    (PostgreSQL refuses the row; SQLite would store it)."""
    kept = [obj for obj in objects if _all_storable(ids(obj))]
    if len(kept) < len(objects):
        logger.warning(
            "left out %d %s(s) whose id is longer than %d characters or holds a NUL",
            len(objects) - len(kept),
            type(objects[0]).__name__,
            ID_MAX,
        )
    return kept


def _all_storable(values: Iterable[str | None]) -> bool:
    # A loop, not all() over a generator: this runs for every item the sync writes.
    for value in values:
        if value is not None and (len(value) > ID_MAX or "\x00" in value):
            return False
    return True


def _storable_id(value: str | None) -> bool:
    return value is None or (len(value) <= ID_MAX and "\x00" not in value)


def clean_text(value: str) -> str:
    """`value` without NUL characters, which PostgreSQL text (and jsonb) cannot hold: one
    in an exception message would fail every sync of the workspace."""
    return value.replace("\x00", "\ufffd") if "\x00" in value else value


def clean_json(value: Any) -> Any:
    """A JSON value with NUL characters replaced in every string and key (see clean_text)."""
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, list):
        return [clean_json(v) for v in value]
    if isinstance(value, dict):
        return {clean_text(str(k)): clean_json(v) for k, v in value.items()}
    return value


def _item_ids(item: api.WorkItem | WorkItemRow) -> tuple[str | None, ...]:
    return (
        item.id,
        item.process.id,
        item.process_run.id if item.process_run else None,
        item.step.id if item.step else None,
        item.step_run.id if item.step_run else None,
    )


def _run_ids(run: api.ProcessRun) -> tuple[str | None, ...]:
    return (run.id, run.process.id)


def _step_ids(step: api.StepRun) -> tuple[str | None, ...]:
    return (step.id, step.step.id if step.step else None)


@dataclass
class WriteCounts:
    created: int = 0
    updated: int = 0
    gone: int = 0
    touched_processes: set[int] = field(default_factory=set)

    def add(self, other: WriteCounts) -> None:
        self.created += other.created
        self.updated += other.updated
        self.gone += other.gone
        self.touched_processes |= other.touched_processes


def fingerprint(*parts: Any) -> str:
    """Return a short stable hash of `parts` (compared to skip rewriting unchanged rows)."""
    return hashlib.blake2b(repr(parts).encode(), digest_size=12).hexdigest()


def row_fingerprint(*values: Any) -> str:
    """Like `fingerprint`, for values read back from the database as well as from the API:
    datetimes compare as UTC instants (their tzinfo objects differ), JSON by content (jsonb
    reorders keys)."""
    return fingerprint(*(_comparable(v) for v in values))


def _comparable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True)
    return value


class ProcessResolver:
    """Map Control Room process ids to mirror pks, creating a placeholder row for a process
    the process list has not shown yet (it is named properly by the next process sync)."""

    def __init__(
        self, workspace: Workspace, known: dict[str, int] | None = None
    ) -> None:
        self.workspace = workspace
        self.known: dict[str, int] = dict(known or {})

    def resolve(
        self, refs: Iterable[tuple[str, str | None]], now: datetime
    ) -> dict[str, int]:
        missing = {ext: name for ext, name in refs if ext not in self.known}
        if missing:
            Process.objects.bulk_create(
                [
                    Process(
                        workspace=self.workspace,
                        external_id=ext,
                        name=clean_text(name or ext),
                        first_seen_at=now,
                        last_seen_at=now,
                    )
                    for ext, name in missing.items()
                ],
                ignore_conflicts=True,
            )
            rows = Process.objects.filter(
                workspace=self.workspace, external_id__in=list(missing)
            )
            self.known.update(rows.order_by().values_list("external_id", "pk"))
        return self.known


# --- processes ----------------------------------------------------------------------------


def write_processes(
    workspace: Workspace, listed: Sequence[api.Process], now: datetime
) -> WriteCounts:
    """Upsert the full process list; processes no longer listed are marked gone."""
    counts = WriteCounts()
    listed = storable(listed, lambda proc: (proc.id,))
    existing = {p.external_id: p for p in Process.objects.filter(workspace=workspace)}
    rows = []
    for proc in listed:
        old = existing.get(proc.id)
        if (
            old is not None
            and old.name == clean_text(proc.name)
            and old.created_at == proc.created_at
            and old.gone_at is None
        ):
            continue
        counts.created += old is None
        counts.updated += old is not None
        rows.append(
            Process(
                workspace=workspace,
                external_id=proc.id,
                name=clean_text(proc.name),
                created_at=proc.created_at,
                first_seen_at=now,
                last_seen_at=now,
                gone_at=None,
            )
        )
    if rows:
        Process.objects.bulk_create(
            rows,
            update_conflicts=True,
            unique_fields=["workspace", "external_id"],
            update_fields=["name", "created_at", "last_seen_at", "gone_at"],
        )
    listed_ids = {p.id for p in listed}
    Process.objects.filter(workspace=workspace, external_id__in=listed_ids).update(
        last_seen_at=now
    )
    vanished = [
        p.pk
        for ext, p in existing.items()
        if ext not in listed_ids and p.gone_at is None
    ]
    if vanished:
        counts.gone += Process.objects.filter(pk__in=vanished).update(gone_at=now)
    return counts


# --- process runs -------------------------------------------------------------------------


@dataclass(frozen=True)
class KnownRun:
    pk: int
    state: str
    detail_synced_state: str
    needs_refresh: bool
    gone: bool
    row_hash: str = ""

    def settled(self, state: str) -> bool:
        """Return True if the run is terminal, unchanged and its details were fully read
        (a run with items still active keeps `needs_refresh`, see `sync.unsettled_runs`)."""
        return (
            not self.gone
            and not self.needs_refresh
            and self.state == state
            and state in RUN_TERMINAL_STATES
            and self.detail_synced_state == state
        )


_RUN_HASHED = (
    "process_external_id",
    "state",
    "created_at",
    "started_at",
    "ended_at",
    "duration",
    "started_by_type",
    "started_by",
)


def _run_values(run: api.ProcessRun) -> tuple[Any, ...]:
    return (
        run.process.id,
        run.state,
        run.created_at,
        run.started_at,
        run.ended_at,
        run.duration,
        clean_text(run.started_by.type) if run.started_by else "",
        clean_json(run.started_by.model_dump(mode="json")) if run.started_by else None,
    )


def known_runs(
    workspace: Workspace, external_ids: Iterable[str]
) -> dict[str, KnownRun]:
    rows = (
        ProcessRun.objects.filter(
            workspace=workspace,
            external_id__in=[i for i in external_ids if _storable_id(i)],
        )
        .order_by()
        .values_list(
            "external_id",
            "pk",
            "state",
            "detail_synced_state",
            "needs_refresh",
            "gone_at",
            *_RUN_HASHED,
        )
    )
    return {
        ext: KnownRun(
            pk, state, synced, refresh, gone is not None, row_fingerprint(*rest)
        )
        for ext, pk, state, synced, refresh, gone, *rest in rows
    }


def write_runs(
    workspace: Workspace,
    runs: Sequence[api.ProcessRun],
    processes: ProcessResolver,
    now: datetime,
    known: dict[str, KnownRun] | None = None,
) -> tuple[WriteCounts, dict[str, int]]:
    """Upsert listed runs; every run that is not settled is flagged `needs_refresh`.

    Settled runs (terminal, unchanged, details read) are not rewritten, so a flag set
    concurrently (by a webhook) is never cleared here; nor are unchanged runs already
    flagged. Only rows whose data changed count as updated. Returns the counts and ext → pk.
    """
    counts = WriteCounts()
    runs = storable(runs, _run_ids)
    if known is None:
        known = known_runs(workspace, (r.id for r in runs))
    proc_map = processes.resolve(((r.process.id, r.process.name) for r in runs), now)
    rows = []
    seen = []
    for run in runs:
        old = known.get(run.id)
        if old is not None and old.settled(run.state):
            continue
        values = _run_values(run)
        unchanged = (
            old is not None
            and not old.gone
            and old.row_hash == row_fingerprint(*values)
        )
        if unchanged and old is not None and old.needs_refresh:
            seen.append(old.pk)
            continue
        counts.created += old is None
        counts.updated += old is not None and not unchanged
        rows.append(
            ProcessRun(
                workspace=workspace,
                external_id=run.id,
                process_id=proc_map[run.process.id],
                needs_refresh=True,
                first_seen_at=now,
                last_seen_at=now,
                gone_at=None,
                **dict(zip(_RUN_HASHED, values, strict=True)),
            )
        )
    if rows:
        ProcessRun.objects.bulk_create(
            rows,
            update_conflicts=True,
            unique_fields=["workspace", "external_id"],
            update_fields=RUN_UPDATE_FIELDS,
            batch_size=batch_size(),
        )
    if seen:
        ProcessRun.objects.filter(pk__in=seen).update(last_seen_at=now)
    ids = dict(
        ProcessRun.objects.filter(
            workspace=workspace, external_id__in=[r.id for r in runs]
        )
        .order_by()
        .values_list("external_id", "pk")
    )
    return counts, ids


# --- step runs ----------------------------------------------------------------------------


_STEP_HASHED = (
    "step_external_id",
    "step_name",
    "state",
    "state_updated_at",
    "error_code",
    "started_at",
    "ended_at",
    "duration",
)


def write_step_runs(
    workspace: Workspace,
    steps_by_run: Mapping[int, Sequence[api.StepRun]],
    now: datetime,
) -> WriteCounts:
    """Upsert the complete step-run lists of runs {run pk: step runs}; step runs of those runs
    no longer listed are gone. Unchanged rows only get `last_seen_at` bumped (and do not
    count as updated)."""
    counts = WriteCounts()
    if not steps_by_run:
        return counts
    existing = {
        ext: (gone, row_fingerprint(*rest))
        for ext, gone, *rest in StepRun.objects.filter(
            workspace=workspace, process_run_id__in=list(steps_by_run)
        )
        .order_by()
        .values_list("external_id", "gone_at", *_STEP_HASHED)
    }
    rows = []
    unchanged = []
    for run_pk, steps in steps_by_run.items():
        for step in storable(steps, _step_ids):
            values = _step_values(step)
            old = existing.get(step.id)
            if (
                old is not None
                and old[0] is None
                and old[1] == row_fingerprint(*values)
            ):
                unchanged.append(step.id)
                continue
            counts.created += old is None
            counts.updated += old is not None
            rows.append(
                StepRun(
                    workspace=workspace,
                    external_id=step.id,
                    process_run_id=run_pk,
                    first_seen_at=now,
                    last_seen_at=now,
                    gone_at=None,
                    **dict(zip(_STEP_HASHED, values, strict=True)),
                )
            )
    if rows:
        StepRun.objects.bulk_create(
            rows,
            update_conflicts=True,
            unique_fields=["workspace", "external_id"],
            update_fields=STEP_UPDATE_FIELDS,
        )
    if unchanged:
        StepRun.objects.filter(workspace=workspace, external_id__in=unchanged).update(
            last_seen_at=now
        )
    listed = {s.id for steps in steps_by_run.values() for s in steps}
    vanished = [
        ext for ext, (gone, _) in existing.items() if ext not in listed and gone is None
    ]
    if vanished:
        counts.gone = StepRun.objects.filter(
            workspace=workspace, external_id__in=vanished
        ).update(gone_at=now)
    return counts


def _step_values(step: api.StepRun) -> tuple[Any, ...]:
    return (
        step.step.id if step.step else "",
        clean_text(step.step.name or "") if step.step else "",
        step.state,
        step.state_updated_at,
        clean_text(step.error.code or "") if step.error else "",
        step.started_at,
        step.ended_at,
        step.duration,
    )


# --- work items ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _KnownItem:
    pk: int
    row_hash: str
    state: str
    payload_synced_at: datetime | None
    gone: bool


# What an item write reads: the pydantic model of a GET (payload and files) or the lean list
# row of the sync's listings (the same attributes).
AnyItem = api.WorkItem | WorkItemRow


def _item_hash(
    item: AnyItem, run_pk: int | None, updated_iso: str | None, created_iso: str
) -> str:
    """`fingerprint` of the item's columns, its datetimes given as their `isoformat()` (the
    caller reuses those strings for the row). Changing what is hashed rewrites every row of
    every mirror on its next sync."""
    exc = item.exception
    parts = (
        item.state,
        updated_iso,
        created_iso,
        item.process.id,
        item.process_run.id if item.process_run else None,
        run_pk,
        item.step.id if item.step else None,
        item.step_run.id if item.step_run else None,
        (exc.type, exc.code, exc.message) if exc else None,
    )
    # fingerprint(*parts), without a call and a tuple more per item.
    return hashlib.blake2b(repr(parts).encode(), digest_size=12).hexdigest()


def write_items(
    workspace: Workspace,
    items: Sequence[AnyItem],
    processes: ProcessResolver,
    now: datetime,
    *,
    sync_run_id: int | None = None,
    run_pks: dict[str, int] | None = None,
    assume_new: bool = False,
    touch_unchanged: bool = True,
) -> WriteCounts:
    """Upsert one page of work items (list rows: no payload).

    Unchanged rows only get `last_seen_at` bumped (unless `touch_unchanged` is false: the
    failed-items sweep does not, because rewriting rows scattered over a big table costs
    far more than the information is worth); state changes of known rows are recorded
    as `WorkItemStateChange`s. An item that turns failed loses its `payload_synced_at` so the
    sync reads its (possibly edited) payload again.
    """
    items = storable(items, _item_ids)
    if not items:
        return WriteCounts()
    # assume_new: the caller knows the mirror holds none of these (first load); the upsert
    # still resolves a conflict correctly, only the created/updated split would be off.
    existing = {} if assume_new else _known_items(workspace, items)
    prepared = prepare_items(
        ItemWrite(workspace.pk, now, sync_run_id),
        items,
        existing,
        _resolve_runs(workspace, items, run_pks),
        processes.resolve(((i.process.id, None) for i in items), now),
    )
    return store_items(
        workspace.pk, prepared, now, fresh=assume_new, touch_unchanged=touch_unchanged
    )


def _known_items(
    workspace: Workspace, items: Sequence[AnyItem]
) -> dict[str, _KnownItem]:
    return {
        ext: _KnownItem(pk, h, state, synced, gone is not None)
        for ext, pk, h, state, synced, gone in WorkItem.objects.filter(
            workspace=workspace, external_id__in=[i.id for i in items]
        )
        .order_by()
        .values_list(
            "external_id", "pk", "row_hash", "state", "payload_synced_at", "gone_at"
        )
    }


class ItemWrite:
    """What the rows of one sync's item writes share: the workspace, the moment, the sync
    run, and how datetimes are adapted — decided on the database's thread, so that
    `prepare_items` can then run on any thread."""

    def __init__(
        self, workspace_pk: int, now: datetime, sync_run_id: int | None
    ) -> None:
        self.workspace_pk = workspace_pk
        self.now = now
        self.sync_run_id = sync_run_id
        self.build = _RowBuilder(workspace_pk, now)


@dataclass
class PreparedItems:
    """One page of items turned into what `store_items` writes."""

    rows: list[ItemRow] = field(default_factory=list)
    failures: list[dict[str, Any]] = field(default_factory=list)
    changes: list[WorkItemStateChange] = field(default_factory=list)
    unchanged: list[int] = field(default_factory=list)
    counts: WriteCounts = field(default_factory=WriteCounts)


def prepare_items(
    write: ItemWrite,
    items: Sequence[AnyItem],
    existing: Mapping[str, _KnownItem],
    run_map: Mapping[str, int],
    proc_map: Mapping[str, int],
) -> PreparedItems:
    """Decide what to write of storable `items`, given the mirror rows they match
    (`existing`) and the pks of their runs and processes. No database access: the sync's
    first load runs it on a helper thread while the database writes the page before."""
    out = PreparedItems()
    counts, build, now = out.counts, write.build, write.now
    for item in items:
        run_pk = run_map.get(item.process_run.id) if item.process_run else None
        updated = item.state_updated_at
        updated_iso = None if updated is None else updated.isoformat()
        created_iso = item.created_at.isoformat()
        row_hash = _item_hash(item, run_pk, updated_iso, created_iso)
        old = existing.get(item.id)
        if old is not None and old.row_hash == row_hash and not old.gone:
            out.unchanged.append(old.pk)
            continue
        process_pk = proc_map[item.process.id]
        counts.touched_processes.add(process_pk)
        if old is None:
            counts.created += 1
        else:
            counts.updated += 1
            if old.state != item.state:
                out.changes.append(
                    _state_change(old.pk, old.state, item, write.sync_run_id, now)
                )
        row = build(item, process_pk, run_pk, row_hash, old, updated_iso, created_iso)
        out.rows.append(row)
        # Rows that may open or settle a failure occurrence (attempt history).
        if item.state == "failed" or (old is not None and old.state != item.state):
            out.failures.append(_occurrence_row(item, row))
    return out


def prepare_new_items(
    write: ItemWrite,
    items: Sequence[AnyItem],
    run_map: Mapping[str, int],
    processes: ProcessResolver,
) -> PreparedItems | None:
    """`prepare_items` for items the mirror does not hold yet (a first load), without the
    database: None when one of their processes is not known yet (the caller then writes
    them with `write_items`, which creates it)."""
    items = storable(items, _item_ids)
    known = processes.known
    if any(i.process.id not in known for i in items):
        return None
    return prepare_items(write, items, {}, run_map, known)


def store_items(
    workspace_pk: int,
    prepared: PreparedItems,
    now: datetime,
    *,
    fresh: bool = False,
    touch_unchanged: bool = True,
) -> WriteCounts:
    """Write what `prepare_items` decided; return its counts."""
    if prepared.rows:
        inserted = upsert_item_rows(prepared.rows, ITEM_UPDATE_FIELDS, fresh=fresh)
        occurrences.observe(workspace_pk, prepared.failures, now, new_items=inserted)
    if prepared.unchanged and touch_unchanged:
        WorkItem.objects.filter(pk__in=prepared.unchanged).update(last_seen_at=now)
    if prepared.changes:
        WorkItemStateChange.objects.bulk_create(
            prepared.changes, batch_size=batch_size()
        )
    return prepared.counts


def _resolve_runs(
    workspace: Workspace, items: Sequence[AnyItem], run_pks: dict[str, int] | None
) -> dict[str, int]:
    wanted = {i.process_run.id for i in items if i.process_run is not None}
    known = {ext: pk for ext, pk in (run_pks or {}).items() if ext in wanted}
    missing = wanted - known.keys()
    if missing:
        known.update(
            ProcessRun.objects.filter(
                workspace=workspace, external_id__in=list(missing)
            )
            .order_by()
            .values_list("external_id", "pk")
        )
    return known


def _state_change(
    pk: int, old_state: str, item: AnyItem, sync_run_id: int | None, now: datetime
) -> WorkItemStateChange:
    return WorkItemStateChange(
        work_item_id=pk,
        sync_run_id=sync_run_id,
        old_state=old_state,
        new_state=item.state,
        exception_code=(item.exception.code or "") if item.exception else "",
        observed_at=now,
    )


# Positions in a row tuple (dbwrite.ITEM_COLUMNS) that `_occurrence_row` reads.
_EXC_COLUMNS = slice(
    ITEM_COLUMNS.index("exception_type"), ITEM_COLUMNS.index("message_signature") + 1
)


class _RowBuilder:
    """Builds the row tuples (`dbwrite.ITEM_COLUMNS` order) of one write straight from the
    API rows: no dict and no per-value field machinery, `now` adapted once per write."""

    def __init__(self, workspace_pk: int, now: datetime) -> None:
        self.workspace_pk = workspace_pk
        self.param = datetime_param()
        self.now = self.param(now)
        self.from_iso = sqlite_text_from_iso() or _keep_datetime

    def __call__(
        self,
        item: AnyItem,
        process_pk: int,
        run_pk: int | None,
        row_hash: str,
        old: _KnownItem | None,
        updated_iso: str | None,
        created_iso: str,
    ) -> ItemRow:
        exc = item.exception
        payload_synced_at = old.payload_synced_at if old is not None else None
        if item.state == "failed" and (old is None or old.state != "failed"):
            payload_synced_at = None
        run, step, step_run = item.process_run, item.step, item.step_run
        param, now, from_iso = self.param, self.now, self.from_iso
        return (
            self.workspace_pk,
            item.id,
            process_pk,
            run_pk,
            item.process.id,
            run.id if run else "",
            step.id if step else "",
            step_run.id if step_run else "",
            item.state,
            from_iso(item.state_updated_at, updated_iso),
            from_iso(item.created_at, created_iso),
            *(_exception_columns(exc) if exc else _NO_EXCEPTION),
            param(payload_synced_at),
            row_hash,
            now,
            now,
            None,
        )


def _keep_datetime(value: datetime | None, iso: str | None) -> datetime | None:
    return value


_NO_EXCEPTION = ("", "", "", "")


def _exception_columns(
    exc: api.WorkItemException | WorkItemExceptionRow,
) -> tuple[str, ...]:
    """(type, code, message, message signature) of an item's exception."""
    return (
        clean_text(exc.type or ""),
        clean_text(exc.code or ""),
        clean_text(exc.message or ""),
        clean_text(message_signature(exc.message)),
    )


def _occurrence_row(item: AnyItem, row: ItemRow) -> dict[str, Any]:
    """The columns `occurrences.observe` reads of a row just written."""
    exc_type, exc_code, exc_message, signature = row[_EXC_COLUMNS]
    return {
        "external_id": item.id,
        "state": item.state,
        "state_updated_at": item.state_updated_at,
        "exception_type": exc_type,
        "exception_code": exc_code,
        "exception_message": exc_message,
        "message_signature": signature,
    }


def write_item_detail(
    workspace: Workspace, item: api.WorkItem, processes: ProcessResolver, now: datetime
) -> None:
    """Store a fully read item (with payload and files)."""
    write_item_details(workspace, [item], processes, now)


def write_item_details(
    workspace: Workspace,
    items: Sequence[api.WorkItem],
    processes: ProcessResolver,
    now: datetime,
) -> None:
    """Store fully read items: their rows in one write, then each one's payload and files."""
    write_items(workspace, items, processes, now)
    for item in items:
        WorkItem.objects.filter(workspace=workspace, external_id=item.id).update(
            payload=clean_json(item.payload),
            files=clean_json([f.model_dump(mode="json") for f in item.files]),
            payload_synced_at=now,
        )


def mark_items_gone(
    workspace: Workspace, external_ids: Sequence[str], now: datetime
) -> int:
    """Set `gone_at` on live items; return how many rows changed."""
    gone = 0
    size = batch_size()
    for start in range(0, len(external_ids), size):
        chunk = external_ids[start : start + size]
        gone += WorkItem.objects.filter(
            workspace=workspace, external_id__in=chunk, gone_at__isnull=True
        ).update(gone_at=now)
        occurrences.mark_gone(workspace.pk, chunk, now)
    return gone


__all__ = [
    "ProcessResolver",
    "WriteCounts",
    "analyze_tables",
    "batch_size",
    "known_runs",
    "larger_cache",
    "mark_items_gone",
    "relaxed_commits",
    "write_item_detail",
    "write_item_details",
    "write_items",
    "write_processes",
    "write_runs",
    "write_step_runs",
]
