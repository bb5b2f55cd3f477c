"""The sync algorithm: bring the mirror of one workspace up to date, incrementally.

A full sync, in this order (ARCHITECTURE.md "The local mirror and the sync"):

1. **Processes**: the whole list (it is small); processes no longer listed are marked gone.
2. **Runs, newest first** (the API lists runs by `created_at` descending): runs that are new,
   changed, not terminal or not fully read are written with `needs_refresh`; the listing stops
   at the first page holding a *settled* run (terminal, unchanged, details read) — everything
   older is settled too. Until one listing has reached the end (`history_complete`), or once
   per `WORKROOM_SYNC_FULL_LISTING_HOURS`, the listing goes on to the end; a full listing
   marks runs it did not see as gone (someone deleted them).
   *Initial load*: while the mirror holds no item of the workspace, all items are paged
   workspace-wide in large pages (instead of run by run), then terminal runs get their step
   runs read and are marked read; runs still active stay flagged for step 4.
3. **Watched states**: the complete list of items in each active state (`new`, `pending`,
   `in_progress`: proportional to the work under way, not to history) every sync, and of
   `failed` items. An item the mirror holds in a watched state that was not listed has
   changed since (finished, failed, retried, marked done, deleted): its run is flagged
   `needs_refresh`; an item without a run is re-read on its own (404 → gone). So an item
   stays watched until Control Room reports it terminal or gone, whoever changed it.
   The `failed` list grows with unresolved history: while the mirror holds at most
   `WORKROOM_SYNC_FAILED_SWEEP_ALWAYS_BELOW` failed items it is read every sync, above that
   by manual syncs and at most every `WORKROOM_SYNC_FAILED_SWEEP_SECONDS`; failures of
   active runs are seen in between through step 4, and webhooks flag runs changed elsewhere.
4. **Flagged runs**: for each, the step runs and all work items of the run are read; rows of
   the run not listed are marked gone; then `detail_synced_state` records the state at which
   the run was read completely and the flag is cleared only if the run is *settled*:
   terminal, and none of its mirrored items is still active. Each run is committed on its
   own, so an interrupted sync resumes with the runs still flagged.
5. **Payloads** of failed items not read yet (list rows carry no payload), newest first, up
   to `WORKROOM_SYNC_PAYLOAD_BUDGET` (default 100) GETs per sync; older ones are backfilled
   by the following syncs.
6. **Workers and worker groups**: both lists, at most every `WORKROOM_SYNC_WORKERS_SECONDS`
   (default 60), so they add two requests to one sync a minute, not to every sync.

So a sync where nothing changed costs: 1 (processes) + 1 (first page of runs) + 3 (the
active states) + 1 per 1,000 failed items while they are few + 2 per still-active run —
independent of how much history there is — plus, when the
failed sweep is due, one request per `WORKROOM_SYNC_PAGE_SIZE` failed items, and while
payloads are being backfilled, up to the payload budget.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from itertools import islice
from typing import Generic, TypeVar

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, Exists, OuterRef, Q, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from dashboard.mirror.models import (
    ITEM_ACTIVE_STATES,
    RUN_TERMINAL_STATES,
    Process,
    ProcessRun,
    StepRun,
    WebhookEvent,
    WorkItem,
    WorkspaceSyncState,
)
from dashboard.mirror.services import upsert, workers
from dashboard.mirror.services.upsert import (
    PreparedItems,
    ProcessResolver,
    WriteCounts,
)
from dashboard.workspaces.models import Workspace
from robocorp_api import models as api
from robocorp_api.client import ControlRoomClient
from robocorp_api.errors import NotFound
from robocorp_api.rows import WorkItemRow, WorkItemRowPage

logger = logging.getLogger(__name__)
T = TypeVar("T")
K = TypeVar("K")

# In lifecycle order, so an item that moves on between two listings is written last in its
# later state; `failed` last (it is not read by every sync).
WATCHED_STATES = (*ITEM_ACTIVE_STATES, "failed")
RUN_FLUSH_ITEMS = 5000
# Small runs written together by `_store_runs`.
RUN_BATCH = 20
# A webhook sync reads what webhooks flagged, then what they flagged meanwhile, … this often.
WEBHOOK_ROUNDS = 10
# Runs fetched ahead by helper threads while the current one is written (`_read_runs`).
FETCH_AHEAD = 4
# A first load on PostgreSQL fetches the step runs of this many runs (in this many threads)
# while it writes the items: under 1,000 runs' step lists held at once.
FIRST_LOAD_STEPS_AHEAD = 1000
FIRST_LOAD_STEP_WORKERS = 2
# A first load's transactions (`_load_pages`): up to this many items (under a second's
# writing on an idle machine), committed early once they have waited this long for pages.
FIRST_LOAD_COMMIT_ITEMS = 10_000
FIRST_LOAD_WAIT_SECONDS = 0.5


def page_size() -> int:
    return settings.WORKROOM_SYNC_PAGE_SIZE


def payload_budget() -> int:
    return settings.WORKROOM_SYNC_PAYLOAD_BUDGET


def failed_sweep_interval() -> timedelta:
    return timedelta(seconds=settings.WORKROOM_SYNC_FAILED_SWEEP_SECONDS)


def failed_sweep_always_below() -> int:
    return settings.WORKROOM_SYNC_FAILED_SWEEP_ALWAYS_BELOW


def full_listing_interval() -> timedelta:
    return timedelta(hours=settings.WORKROOM_SYNC_FULL_LISTING_HOURS)


@dataclass
class _RunData:
    """What was fetched of one run; `rest` continues the item pages of a very large run."""

    run_ext: str
    run: api.ProcessRun | None  # None: Control Room no longer has it
    steps: list[api.StepRun]
    items: list[WorkItemRow]
    rest: Iterator[WorkItemRowPage] | None
    started: datetime


class TimeBudgetExhausted(Exception):
    """The sync used its time budget; what is done is committed and the rest is flagged."""


@dataclass
class SyncResult:
    counts: WriteCounts = field(default_factory=WriteCounts)
    runs_read: int = 0
    partial: bool = False


@dataclass
class WorkspaceSync:
    """One sync of one workspace. `checkpoint` is called between units of work (it renews the
    lease and records progress; it raises to abort); `deadline` is a `time.monotonic()` value
    after which the sync stops cleanly and leaves the rest for the next one."""

    workspace: Workspace
    client: ControlRoomClient
    sync_run_id: int | None = None
    checkpoint: Callable[[str, SyncResult], None] = lambda phase, result: None
    deadline: float | None = None
    deep: bool = False
    result: SyncResult = field(default_factory=SyncResult)

    def __post_init__(self) -> None:
        self.now = timezone.now()
        self.processes = ProcessResolver(self.workspace)
        self.state, _ = WorkspaceSyncState.objects.get_or_create(
            workspace=self.workspace
        )
        self._listed: dict[str, api.ProcessRun] = {}
        self._phase = "starting"

    # --- entry points ---------------------------------------------------------------------

    def run_full(self) -> SyncResult:
        """Sync the whole workspace (steps 1-5 of the module docstring)."""
        with upsert.relaxed_commits(), upsert.larger_cache():
            return self._run_full()

    def _run_full(self) -> SyncResult:
        try:
            self._step("processes", self.sync_processes)
            self._step("runs", self.sync_run_list)
            # A first load reads every item moments before: the watched lists would read
            # them again; the next sync watches.
            watched = () if self._is_initial_load() else WATCHED_STATES
            if not watched:
                self._step("initial load", self.initial_load)
            for state in watched:
                if state == "failed" and not self._failed_sweep_due():
                    continue
                self._step(f"{state} items", partial(self.sync_watched_state, state))
            self._step("flagged runs", self.refresh_flagged_runs)
            self._step("payloads", self.fetch_payloads)
            if workers.workers_due(self.workspace, self.state, self.now):
                self._step("workers", self.sync_workers)
        except TimeBudgetExhausted:
            self.result.partial = True
        self._finish()
        return self.result

    def sync_workers(self) -> None:
        """Workers and worker groups (step 6): two requests, at most every
        WORKROOM_SYNC_WORKERS_SECONDS; a key without Workers.read_workers skips it."""
        workers.read_now(self.workspace, self.client)

    def run_one(
        self, run_external_id: str, *, requested_at: datetime | None = None
    ) -> SyncResult:
        """Sync a run a webhook said changed, with every other run webhooks flagged since.

        Webhooks come in bursts (robots finishing many runs at once) and syncs of one
        workspace run one at a time, so each targeted sync reads every run flagged by a
        webhook: the syncs queued behind it then find their run read after they were
        requested (`requested_at`) and end without a request.
        """
        with upsert.relaxed_commits(), upsert.larger_cache():
            return self._run_one(run_external_id, requested_at)

    def _run_one(self, run_ext: str, requested_at: datetime | None) -> SyncResult:
        self.processes.known.update(
            Process.objects.filter(workspace=self.workspace)
            .order_by()
            .values_list("external_id", "pk")
        )
        try:
            if not self._read_since(run_ext, requested_at):
                self._step("run", lambda: self.refresh_run(run_ext))
            self._step("webhook runs", self.refresh_webhook_flagged_runs)
        except TimeBudgetExhausted:
            self.result.partial = True
        self._finish()
        return self.result

    def _read_since(self, run_ext: str, moment: datetime | None) -> bool:
        return (
            moment is not None
            and ProcessRun.objects.filter(
                workspace=self.workspace,
                external_id=run_ext,
                detail_synced_at__gte=moment,
            ).exists()
        )

    def refresh_webhook_flagged_runs(self) -> None:
        """Re-read the runs webhooks flagged and no sync has read since, again while more
        arrive meanwhile (the syncs queued for them then have nothing left to do)."""
        for _ in range(WEBHOOK_ROUNDS):
            run_exts = self._webhook_flagged_runs()
            if not run_exts:
                return
            self._read_runs(run_exts)

    def _webhook_flagged_runs(self) -> list[str]:
        """Runs a webhook named after the last read of them had started (runs flagged by an
        action are followed by the scheduled syncs; reading them here, still running, would
        be wasted)."""
        never = Value(datetime(2000, 1, 1, tzinfo=UTC))
        newer_event = WebhookEvent.objects.filter(
            workspace=self.workspace,
            process_run_external_id=OuterRef("external_id"),
            received_at__gt=Coalesce(OuterRef("detail_synced_at"), never),
        )
        flagged = ProcessRun.objects.filter(
            workspace=self.workspace, needs_refresh=True, gone_at__isnull=True
        ).filter(Exists(newer_event))
        return list(
            flagged.order_by("-created_at", "-id").values_list("external_id", flat=True)
        )

    # --- steps ----------------------------------------------------------------------------

    def sync_processes(self) -> None:
        listed = list(self.client.processes.list())
        self._count(upsert.write_processes(self.workspace, listed, self.now))
        self.processes.known.update(
            Process.objects.filter(workspace=self.workspace)
            .order_by()
            .values_list("external_id", "pk")
        )

    def sync_run_list(self) -> None:
        state = self.state
        to_the_end = not state.history_complete or (
            state.last_full_listing_at is None
            or state.last_full_listing_at < self.now - full_listing_interval()
        )
        seen_all: set[str] | None = set() if to_the_end else None
        reached_end = True
        for page in self.client.process_runs.list(limit=page_size()).pages():
            known = upsert.known_runs(self.workspace, (r.id for r in page.data))
            counts, _ = upsert.write_runs(
                self.workspace, page.data, self.processes, self.now, known
            )
            self._count(counts)
            self._listed.update(
                (r.id, r)
                for r in page.data
                if not (r.id in known and known[r.id].settled(r.state))
            )
            if seen_all is not None:
                seen_all.update(r.id for r in page.data)
            settled_here = any(
                r.id in known and known[r.id].settled(r.state) for r in page.data
            )
            if settled_here and not to_the_end and page.has_more:
                reached_end = False
                break
            self.checkpoint(self._phase, self.result)
            self._check_time()
        if seen_all is not None and reached_end:
            self._mark_unlisted_runs_gone(seen_all)
            WorkspaceSyncState.objects.filter(pk=state.pk).update(
                history_complete=True, last_full_listing_at=self.now
            )

    def sync_watched_state(self, state: str) -> None:
        """Read every item in `state`; flag the runs of items that left it since last time.

        The ids listed are kept in a set (the size of that state's list, not of the
        workspace) to find the mirror rows still in `state` that were not listed. Unchanged
        rows of the (possibly long) failed list are not bumped, see `upsert.write_items`.
        """
        listed: set[str] = set()
        for page in self.client.work_items.list_rows(
            state=state, limit=page_size()
        ).pages():
            with transaction.atomic():
                self._write_items(page.data, touch_unchanged=state != "failed")
            listed.update(i.id for i in page.data)
            self.checkpoint(self._phase, self.result)
            self._check_time()
        departed_runs: set[int] = set()
        unknown_runs: set[str] = set()
        loose: list[str] = []
        rows = (
            WorkItem.objects.filter(
                workspace=self.workspace, state=state, gone_at__isnull=True
            )
            .order_by()
            .values_list("external_id", "process_run_id", "process_run_external_id")
        )
        for ext, run_fk, run_ext in rows.iterator(chunk_size=2000):
            if ext in listed:
                continue
            run_pk: int | None = (
                run_fk  # nullable FK; the stubs type values_list as int
            )
            if run_pk is not None:
                departed_runs.add(run_pk)
            elif run_ext:
                unknown_runs.add(run_ext)
            else:
                loose.append(ext)
        if departed_runs:
            ProcessRun.objects.filter(pk__in=departed_runs).update(needs_refresh=True)
        for run_ext in unknown_runs:
            self.refresh_run(run_ext)
        for ext in loose:
            self._reread_item(ext)
            self.checkpoint(self._phase, self.result)
            self._check_time()
        if state == "failed":
            # From the sweep's end: a first sync longer than the interval must not make the
            # next one sweep again at once.
            WorkspaceSyncState.objects.filter(pk=self.state.pk).update(
                last_failed_sweep_at=timezone.now()
            )

    def _is_initial_load(self) -> bool:
        return not WorkItem.objects.filter(workspace=self.workspace).exists()

    def initial_load(self) -> None:
        """First sync of a workspace: page through all its items at once instead of run by run
        (a few large pages instead of two requests and a dozen queries per run), then write
        the step runs of the runs that were terminal when listed and mark them read. Runs
        still active stay flagged and are read one by one in the next step; if this is
        interrupted, the next sync finds items and takes the per-run path for what is left.

        On PostgreSQL the step runs are fetched by helper threads while the items are
        written (up to `FIRST_LOAD_STEPS_AHEAD` runs' worth): the database server, not
        Control Room, sets the pace of a first load, so their requests cost it little
        (100,000 items: 11,800 instead of 10,350 items/s, medians of four runs each).
        SQLite writes in this process, whose CPU the helper threads would take (17,000
        instead of 17,600 items/s): there they fetch only a few runs ahead.

        The runs are marked read as of the load's start: their items were listed after it,
        so a webhook's request to re-read one of them meanwhile is not lost.
        """
        load_started = timezone.now()
        runs = list(
            ProcessRun.objects.filter(
                workspace=self.workspace,
                needs_refresh=True,
                gone_at__isnull=True,
                state__in=RUN_TERMINAL_STATES,
            )
            .order_by("-created_at", "-id")
            .values_list("pk", "state", "external_id")
        )
        with FetchedInOrder(
            self._fetch_steps,
            [ext for _, _, ext in runs],
            workers=FIRST_LOAD_STEP_WORKERS,
            ahead=None if connection.vendor == "sqlite" else FIRST_LOAD_STEPS_AHEAD,
        ) as fetched:
            self._load_items()
            batch: list[tuple[int, str, list[api.StepRun]]] = []
            for i, ((run_pk, state, _), steps) in enumerate(
                zip(runs, fetched, strict=True)
            ):
                batch.append((run_pk, state, steps))
                if len(batch) >= RUN_BATCH or i == len(runs) - 1:
                    # As of the load's start: the run's items were listed after it.
                    self._store_read_steps(batch, load_started)
                    batch = []

    def _load_items(self) -> None:
        """Page through every item of the workspace and write them (see `_load_pages`)."""
        listing = self.client.work_items.list_rows(limit=page_size()).pages()
        pages = prefetched(map(self._first_load_preparer(), listing))
        analyzed = False
        while self._load_pages(pages):
            if not analyzed:
                # Statistics of an empty table make PostgreSQL look up each page's items
                # (failure occurrences) by scanning all rows loaded so far; once it knows
                # external ids are unique it uses their index for the rest of the load.
                upsert.analyze_tables()
                analyzed = True
            self.checkpoint(self._phase, self.result)
            self._check_time()
        upsert.analyze_tables()
        # Every failed item was just read: the failed list is as good as swept.
        WorkspaceSyncState.objects.filter(pk=self.state.pk).update(
            last_failed_sweep_at=timezone.now()
        )

    def _first_load_preparer(
        self,
    ) -> Callable[[WorkItemRowPage], tuple[WorkItemRowPage, PreparedItems | None]]:
        """Turn a first-load page into its rows without the database, so that the helper
        thread which fetched the page prepares it too while this thread writes the page
        before. On PostgreSQL this thread then mostly waits for the server, without the
        GIL (100,000 items: 11,500 instead of 10,100 items/s, medians of four runs); on
        SQLite, whose engine runs in this process, it neither helps nor hurts.

        Every run of the workspace was written by the run listing just before, so one map
        of them (external id → pk, ~100 bytes a run) resolves every item; a page naming a
        process not known yet is prepared by `write_items` on this thread instead (it
        creates the process).
        """
        write = upsert.ItemWrite(self.workspace.pk, self.now, self.sync_run_id)
        runs = dict(
            ProcessRun.objects.filter(workspace=self.workspace)
            .order_by()
            .values_list("external_id", "pk")
        )

        def prepare(
            page: WorkItemRowPage,
        ) -> tuple[WorkItemRowPage, PreparedItems | None]:
            return page, upsert.prepare_new_items(
                write, page.data, runs, self.processes
            )

        return prepare

    def _load_pages(
        self, pages: Iterator[tuple[WorkItemRowPage, PreparedItems | None]]
    ) -> bool:
        """Write first-load pages in one transaction until it holds `FIRST_LOAD_COMMIT_ITEMS`
        items or has waited `FIRST_LOAD_WAIT_SECONDS` for Control Room; return False once
        `pages` is exhausted.

        Not a commit per page: item ids are random, so each commit writes out nearly every
        page of the (workspace, external id) index again (SQLite's WAL holds whole pages:
        330 MB written for 100,000 items at one page a commit). The bound on waiting keeps
        SQLite's write lock from being held across slow Control Room answers.
        """
        written, waited = 0, 0.0
        with transaction.atomic():
            while True:
                asked = time.monotonic()
                loaded = next(pages, None)
                waited += time.monotonic() - asked
                if loaded is None:
                    return False
                page, prepared = loaded
                if prepared is None:
                    self._write_items(page.data, assume_new=True)
                else:
                    self._count(
                        upsert.store_items(
                            self.workspace.pk, prepared, self.now, fresh=True
                        )
                    )
                written += len(page.data)
                if (
                    written >= FIRST_LOAD_COMMIT_ITEMS
                    or waited > FIRST_LOAD_WAIT_SECONDS
                ):
                    return True

    def _store_read_steps(
        self, batch: list[tuple[int, str, list[api.StepRun]]], read_started: datetime
    ) -> None:
        """Write the step runs of a batch of runs (pk, state, step runs) read after a first
        load, in one transaction, and mark the runs read as of `read_started` (a few
        statements per batch, not per run)."""
        with transaction.atomic():
            steps = {run_pk: run_steps for run_pk, _, run_steps in batch}
            self._count(upsert.write_step_runs(self.workspace, steps, self.now))
            self._mark_runs_read(
                {run_pk: state for run_pk, state, _ in batch}, read_started
            )
        self.result.runs_read += len(batch)
        self.checkpoint(self._phase, self.result)
        self._check_time()

    def _fetch_steps(self, run_ext: str) -> list[api.StepRun]:
        """The run's step runs (HTTP only)."""
        return list(self.client.step_runs.list(run_ext, limit=page_size()))

    def refresh_flagged_runs(self) -> None:
        """Re-read every flagged run, newest first (see `_read_runs`)."""
        flagged = ProcessRun.objects.filter(
            workspace=self.workspace, needs_refresh=True, gone_at__isnull=True
        ).order_by("-created_at", "-id")
        self._read_runs(list(flagged.values_list("external_id", flat=True)))

    def _read_runs(self, run_exts: list[str]) -> None:
        """Read and store runs in order, in batches, the next ones fetched meanwhile.

        Up to `FETCH_AHEAD` runs are fetched from Control Room by helper threads while this
        thread writes the runs fetched before, a batch of up to `RUN_BATCH` small runs in a
        few statements (`_store_runs`), so API latency and DB writes overlap and a burst of
        runs (webhooks after robots finished many at once) costs a few queries per batch,
        not two dozen per run. The helper threads only talk HTTP; every DB access stays on
        this thread.
        """
        with ThreadPoolExecutor(
            max_workers=FETCH_AHEAD, thread_name_prefix="sync-fetch"
        ) as pool:
            pending: deque[Future[_RunData]] = deque()
            upcoming = iter(run_exts)
            batch: list[_RunData] = []
            try:
                while True:
                    # Queued fetches: this batch's and the next one's (memory: two batches).
                    while len(pending) < 2 * RUN_BATCH and (
                        run_ext := next(upcoming, None)
                    ):
                        pending.append(pool.submit(self._fetch_run, run_ext))
                    if not pending:
                        break
                    batch.append(pending.popleft().result())
                    if len(batch) >= RUN_BATCH or not pending:
                        self._store_runs(batch)
                        batch = []
                        self._check_time()
            except BaseException:
                for future in pending:
                    future.cancel()
                raise

    def refresh_run(self, run_ext: str) -> None:
        """Read one run, its step runs and all its work items; mark what vanished gone."""
        self._store_runs([self._fetch_run(run_ext)])

    def _fetch_run(self, run_ext: str) -> _RunData:
        """Fetch a run, its step runs and its items, up to `RUN_FLUSH_ITEMS` (HTTP only)."""
        started = timezone.now()
        run = self._listed.get(run_ext)
        if run is None:
            try:
                run = self.client.process_runs.get(run_ext)
            except NotFound:
                return _RunData(run_ext, None, [], [], None, started)
        steps = list(self.client.step_runs.list(run.id, limit=page_size()))
        pages = self.client.work_items.list_rows(
            process_run_id=run.id, limit=page_size()
        ).pages()
        items: list[WorkItemRow] = []
        for page in pages:
            items.extend(page.data)
            if len(items) >= RUN_FLUSH_ITEMS and page.has_more:
                return _RunData(run_ext, run, steps, items, pages, started)
        return _RunData(run_ext, run, steps, items, None, started)

    def _store_runs(self, batch: list[_RunData]) -> None:
        """Write fetched runs: runs Control Room no longer has are marked gone, a very large
        run is written on its own (`_store_large_run`), the others together — one
        transaction for the runs and their step runs, one for their items (no write lock is
        held while waiting for Control Room)."""
        self._mark_runs_gone([d.run_ext for d in batch if d.run is None])
        for data in batch:
            if data.run is not None and data.rest is not None:
                self._store_large_run(data, data.run)
        small = [(d, d.run) for d in batch if d.run is not None and d.rest is None]
        if not small:
            return
        runs = [run for _, run in small]
        with transaction.atomic():
            counts, ids = upsert.write_runs(
                self.workspace, runs, self.processes, self.now
            )
            self._count(counts)
            # A run left out (an id too long to store) has no pk: so are its items.
            small = [(d, run) for d, run in small if run.id in ids]
            runs = [run for _, run in small]
            run_pks = {run.id: ids[run.id] for run in runs}
            steps = {run_pks[run.id]: d.steps for d, run in small}
            self._count(upsert.write_step_runs(self.workspace, steps, self.now))
        if not small:
            return
        items = [item for d, _ in small for item in d.items]
        with transaction.atomic():
            self._write_run_items(items, run_pks)
            self._mark_vanished_items(set(run_pks.values()), {i.id for i in items})
            self._mark_runs_read(
                {run_pks[run.id]: run.state for run in runs},
                min(d.started for d, _ in small),
            )
        self.result.runs_read += len(small)
        self.checkpoint("runs", self.result)

    def _store_large_run(self, data: _RunData, run: api.ProcessRun) -> None:
        """Write a run of more than `RUN_FLUSH_ITEMS` items, its pages in chunks of that."""
        with transaction.atomic():
            counts, ids = upsert.write_runs(
                self.workspace, [run], self.processes, self.now
            )
            self._count(counts)
            if run.id not in ids:  # left out: an id too long to store
                return
            run_pk = ids[run.id]
            self._count(
                upsert.write_step_runs(self.workspace, {run_pk: data.steps}, self.now)
            )
        listed = {i.id for i in data.items}
        buffer = data.items
        for page in data.rest or ():
            with transaction.atomic():
                self._write_run_items(buffer, {run.id: run_pk})
            buffer = list(page.data)
            listed.update(i.id for i in page.data)
        with transaction.atomic():
            self._write_run_items(buffer, {run.id: run_pk})
            self._mark_vanished_items({run_pk}, listed)
            self._mark_runs_read({run_pk: run.state}, data.started)
        self.result.runs_read += 1
        self.checkpoint("runs", self.result)

    def _mark_vanished_items(self, run_pks: set[int], listed: set[str]) -> None:
        """Mark gone the live items of these runs that their item lists did not show."""
        live = WorkItem.objects.filter(
            workspace=self.workspace,
            process_run_id__in=list(run_pks),
            gone_at__isnull=True,
        )
        vanished = [
            ext
            for ext in live.order_by().values_list("external_id", flat=True).iterator()
            if ext not in listed
        ]
        self.result.counts.gone += upsert.mark_items_gone(
            self.workspace, vanished, self.now
        )

    def _write_run_items(
        self, items: list[WorkItemRow], run_pks: dict[str, int]
    ) -> None:
        size = upsert.batch_size()
        for start in range(0, len(items), size):
            self._write_items(items[start : start + size], run_pks=run_pks)

    def fetch_payloads(self) -> None:
        budget = payload_budget()
        if budget <= 0:
            return
        pending = WorkItem.objects.filter(
            workspace=self.workspace,
            state="failed",
            gone_at__isnull=True,
            payload_synced_at__isnull=True,
        ).order_by("-created_at", "-id")
        exts = list(pending.values_list("external_id", flat=True)[:budget])
        # GETs by helper threads (HTTP only); the writes here, RUN_BATCH items at a time.
        fetched = zip(exts, fetched_in_order(self._get_item, exts), strict=True)
        while batch := list(islice(fetched, RUN_BATCH)):
            gone = [ext for ext, item in batch if item is None]
            if gone:
                self.result.counts.gone += upsert.mark_items_gone(
                    self.workspace, gone, self.now
                )
            items = [item for _, item in batch if item is not None]
            upsert.write_item_details(self.workspace, items, self.processes, self.now)
            self.result.counts.touched_processes.update(
                self.processes.known[item.process.id] for item in items
            )
            self.checkpoint(self._phase, self.result)
            self._check_time()

    # --- helpers --------------------------------------------------------------------------

    def _step(self, phase: str, fn: Callable[[], None]) -> None:
        self._phase = phase
        self.checkpoint(phase, self.result)
        fn()

    def _failed_sweep_due(self) -> bool:
        last = self.state.last_failed_sweep_at
        if self.deep or last is None or last <= self.now - failed_sweep_interval():
            return True
        few = failed_sweep_always_below()
        failed = WorkItem.objects.filter(
            workspace=self.workspace, state="failed", gone_at__isnull=True
        )
        return few > 0 and not failed[few - 1 : few].exists()

    def _check_time(self) -> None:
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise TimeBudgetExhausted

    def _count(self, counts: WriteCounts) -> None:
        self.result.counts.add(counts)

    def _write_items(
        self,
        items: Sequence[WorkItemRow],
        *,
        run_pks: dict[str, int] | None = None,
        assume_new: bool = False,
        touch_unchanged: bool = True,
    ) -> None:
        """Upsert list rows of this sync's workspace (`upsert.write_items`) and count them."""
        self._count(
            upsert.write_items(
                self.workspace,
                items,
                self.processes,
                self.now,
                sync_run_id=self.sync_run_id,
                run_pks=run_pks,
                assume_new=assume_new,
                touch_unchanged=touch_unchanged,
            )
        )

    def _reread_item(self, ext: str) -> None:
        self._store_reread_item(ext, self._get_item(ext))

    def _get_item(self, ext: str) -> api.WorkItem | None:
        """The item with its payload, None if Control Room no longer has it (HTTP only)."""
        try:
            return self.client.work_items.get(ext)
        except NotFound:
            return None

    def _store_reread_item(self, ext: str, item: api.WorkItem | None) -> None:
        if item is None:
            self.result.counts.gone += upsert.mark_items_gone(
                self.workspace, [ext], self.now
            )
            return
        upsert.write_item_detail(self.workspace, item, self.processes, self.now)
        self.result.counts.touched_processes.add(self.processes.known[item.process.id])

    def _mark_runs_read(self, states: dict[int, str], read_started: datetime) -> None:
        """Record that runs {pk: state} were read completely, as of `read_started`; clear
        the flag of those that are settled (`unsettled_runs`)."""
        by_state: dict[str, list[int]] = {}
        for pk, state in states.items():
            by_state.setdefault(state, []).append(pk)
        for state, pks in by_state.items():
            # When the read started: what changed after that may not be in it.
            ProcessRun.objects.filter(pk__in=pks).update(
                detail_synced_state=state, detail_synced_at=read_started
            )
        terminal = [pk for pk, state in states.items() if state in RUN_TERMINAL_STATES]
        settled = set(terminal) - unsettled_runs(terminal)
        if settled:
            # A webhook may have asked for another read while we were reading: keep its flag.
            ProcessRun.objects.filter(pk__in=settled).filter(
                Q(refresh_requested_at__isnull=True)
                | Q(refresh_requested_at__lte=read_started)
            ).update(needs_refresh=False)

    def _mark_unlisted_runs_gone(self, listed: set[str]) -> None:
        live = ProcessRun.objects.filter(workspace=self.workspace, gone_at__isnull=True)
        vanished = [
            ext
            for ext in live.order_by().values_list("external_id", flat=True).iterator()
            if ext not in listed
        ]
        self._mark_runs_gone(vanished)

    def _mark_runs_gone(self, run_exts: list[str]) -> None:
        if not run_exts:
            return
        runs = ProcessRun.objects.filter(
            workspace=self.workspace, external_id__in=run_exts, gone_at__isnull=True
        )
        run_pks = list(runs.order_by().values_list("pk", flat=True))
        counts = self.result.counts
        counts.gone += runs.update(gone_at=self.now, needs_refresh=False)
        counts.gone += StepRun.objects.filter(
            process_run_id__in=run_pks, gone_at__isnull=True
        ).update(gone_at=self.now)
        items = WorkItem.objects.filter(
            process_run_id__in=run_pks, gone_at__isnull=True
        )
        counts.touched_processes.update(
            items.order_by().values_list("process_id", flat=True).distinct()
        )
        counts.gone += items.update(gone_at=self.now)

    def _finish(self) -> None:
        touched = self.result.counts.touched_processes
        if touched:
            refresh_item_counts(self.workspace, touched)


def unsettled_runs(run_pks: list[int]) -> set[int]:
    """The runs among `run_pks` with a mirrored item still active: a run is settled only
    when it is terminal and none of its items is active (a retried item of a finished run
    is processed again, so its run must stay watched)."""
    if not run_pks:
        return set()
    return set(
        WorkItem.objects.filter(
            process_run_id__in=run_pks,
            state__in=ITEM_ACTIVE_STATES,
            gone_at__isnull=True,
        )
        .order_by()
        .values_list("process_run_id", flat=True)
        .distinct()
    )


def prefetched(source: Iterator[T]) -> Iterator[T]:
    """Yield from `source`, fetching the next element in a helper thread meanwhile.

    For API pages: the next page is requested (and the emulator or Control Room produces
    it) while this thread writes the current one to the database. Only the helper thread
    advances `source`; the consumer must not touch the database from it.
    """

    def take() -> list[T]:
        return list(islice(source, 1))

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="sync-fetch") as pool:
        pending = pool.submit(take)
        while values := pending.result():
            pending = pool.submit(take)
            try:
                yield values[0]
            except BaseException:
                pending.cancel()
                raise


class FetchedInOrder(Generic[K, T]):
    """`fetch(key)` for each key, in order, by helper threads that keep up to `ahead`
    results ready (so memory stays bounded); fetching starts at once, not when iterated.

    For API reads: Control Room's latency overlaps the writes of what came before. `fetch`
    runs in the helper threads, so it must only talk HTTP, never to the database. Use it
    as a context manager: leaving it cancels what was not fetched yet.
    """

    def __init__(
        self,
        fetch: Callable[[K], T],
        keys: Iterable[K],
        *,
        workers: int = FETCH_AHEAD,
        ahead: int | None = None,
    ) -> None:
        self._fetch = fetch
        self._keys = iter(keys)
        self._ahead = ahead or 2 * workers
        self._pending: deque[Future[T]] = deque()
        self._pool = ThreadPoolExecutor(
            max_workers=workers, thread_name_prefix="sync-fetch"
        )
        self._fill()

    def _fill(self) -> None:
        for key in islice(self._keys, self._ahead - len(self._pending)):
            self._pending.append(self._pool.submit(self._fetch, key))

    def __iter__(self) -> Iterator[T]:
        while self._pending:
            result = self._pending.popleft().result()
            self._fill()
            yield result

    def __enter__(self) -> FetchedInOrder[K, T]:
        return self

    def __exit__(self, *exc: object) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


def fetched_in_order(
    fetch: Callable[[K], T], keys: Sequence[K], *, workers: int = FETCH_AHEAD
) -> Iterator[T]:
    """Yield `fetch(key)` for each key in order while helper threads fetch the next ones
    (at most `2 * workers` ahead): a `FetchedInOrder` that starts when first iterated."""
    with FetchedInOrder(fetch, keys, workers=workers) as fetched:
        yield from fetched


def refresh_item_counts(workspace: Workspace, process_pks: set[int]) -> None:
    """Recompute `Process.item_counts` ({state: n} of live items) for the given processes."""
    counts: dict[int, dict[str, int]] = {pk: {} for pk in process_pks}
    rows = (
        WorkItem.objects.filter(process_id__in=process_pks, gone_at__isnull=True)
        .values_list("process_id", "state")
        .annotate(n=Count("id"))
        .order_by()
    )
    for process_pk, state, n in rows:
        counts[process_pk][state] = n
    procs = list(Process.objects.filter(workspace=workspace, pk__in=process_pks))
    for proc in procs:
        proc.item_counts = counts.get(proc.pk, {})
    Process.objects.bulk_update(procs, ["item_counts"])
