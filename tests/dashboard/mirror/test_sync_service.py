"""The sync algorithm against the emulator over real HTTP (no Celery): full, incremental,
resumable, and cheap when nothing changed."""

from __future__ import annotations

from typing import Any

import pytest
from django.utils import timezone

from dashboard.mirror.models import (
    ITEM_ACTIVE_STATES,
    FailureOccurrence,
    Process,
    ProcessRun,
    WorkItem,
    WorkItemStateChange,
    WorkspaceSyncState,
)
from dashboard.mirror.normalise import message_signature
from dashboard.mirror.services import sync
from dashboard.mirror.services.sync import WorkspaceSync
from dashboard.workspaces.services import build_client
from tests.dashboard.mirror.helpers import (
    add_runs,
    assert_converged,
    client_for,
    mirror_items,
    truth_items,
)
from tests.dashboard.support.sync import full_sync

pytestmark = [pytest.mark.django_db, pytest.mark.emulator]


def test_a_full_sync_equals_the_emulator(emu, ws):
    add_runs(emu, processes=3, runs=2, items=15)
    result, _ = full_sync(ws)
    assert_converged(emu, ws)
    total = WorkItem.objects.filter(workspace=ws).count()
    assert total == 3 * 2 * 15
    assert result.counts.created >= total
    assert result.runs_read == 6
    # Field by field on a failed item (the kind people triage).
    failed = WorkItem.objects.filter(workspace=ws, state="failed").first()
    assert failed is not None
    with client_for(emu) as client:
        api_item = client.work_items.get(failed.external_id)
    assert api_item.exception is not None and api_item.process_run is not None
    assert failed.process_run is not None
    assert failed.exception_type == api_item.exception.type
    assert failed.exception_code == api_item.exception.code
    assert failed.exception_message == api_item.exception.message
    assert failed.message_signature == message_signature(api_item.exception.message)
    assert failed.process_run.external_id == api_item.process_run.id
    assert failed.process.external_id == api_item.process.id
    assert failed.payload == api_item.payload  # failed items get their payload read
    assert failed.payload_synced_at is not None
    # Per-process counts are maintained for the overview.
    for process in ws.mirror_processes.all():
        assert sum(process.item_counts.values()) == 2 * 15


def test_a_sync_without_changes_writes_nothing_and_its_requests_do_not_grow_with_history(
    emu, ws, settings
):
    settings.WORKROOM_SYNC_PAGE_SIZE = 50
    settings.WORKROOM_SYNC_PAYLOAD_BUDGET = (
        10_000  # read every failed payload in the same sync
    )
    # The failed list is read by every sync only while it is short; here: never by this rule.
    settings.WORKROOM_SYNC_FAILED_SWEEP_ALWAYS_BELOW = 0
    add_runs(emu, processes=1, runs=2, items=10)
    full_sync(ws)
    baseline, baseline_requests = full_sync(ws)
    assert (baseline.counts.created, baseline.counts.updated, baseline.counts.gone) == (
        0,
        0,
        0,
    )
    assert baseline.runs_read == 0

    add_runs(emu, processes=2, runs=40, items=10)  # lots of completed history
    grown, _ = full_sync(ws)
    assert grown.runs_read == 80
    after, after_requests = full_sync(ws)
    assert (after.counts.created, after.counts.updated, after.counts.gone) == (0, 0, 0)
    assert after_requests == baseline_requests
    # processes + first page of runs + the lists of the active states (new, pending,
    # in progress); the failed sweep is not due.
    assert after_requests == 2 + len(ITEM_ACTIVE_STATES)


def test_the_failed_sweep_costs_one_request_per_page_of_failed_items(emu, ws, settings):
    settings.WORKROOM_SYNC_PAGE_SIZE = 10
    add_runs(emu, processes=1, runs=3, items=20, failure_rate=0.5)
    full_sync(ws)
    failed = WorkItem.objects.filter(workspace=ws, state="failed").count()
    settings.WORKROOM_SYNC_FAILED_SWEEP_SECONDS = 0
    _, requests = full_sync(ws)
    assert requests == 2 + len(ITEM_ACTIVE_STATES) + (failed // 10 + 1)


def test_a_short_failed_list_is_read_by_every_sync(emu, ws, settings):
    settings.WORKROOM_SYNC_PAGE_SIZE = 10
    add_runs(emu, processes=1, runs=2, items=10, failure_rate=0.5)
    full_sync(ws)
    failed = WorkItem.objects.filter(workspace=ws, state="failed").count()
    settings.WORKROOM_SYNC_FAILED_SWEEP_ALWAYS_BELOW = failed + 1
    _, requests = full_sync(ws)
    assert requests == 2 + len(ITEM_ACTIVE_STATES) + (failed // 10 + 1)
    settings.WORKROOM_SYNC_FAILED_SWEEP_ALWAYS_BELOW = failed
    _, requests = full_sync(ws)
    assert requests == 2 + len(ITEM_ACTIVE_STATES)  # too many: left to the interval


def test_an_incremental_sync_converges_after_changes_made_elsewhere(emu, ws, settings):
    settings.WORKROOM_SYNC_FAILED_SWEEP_SECONDS = 0
    add_runs(emu, processes=2, runs=2, items=15, failure_rate=0.5)
    full_sync(ws)
    failed = [i for i, v in truth_items(emu).items() if v[0] == "failed"]
    assert len(failed) >= 6
    with client_for(emu) as client:
        client.work_items.retry(failed[0:2])
        client.work_items.mark_as_done(failed[2:4])
        client.work_items.delete(failed[4:6])
    new_runs = add_runs(emu, processes=1, runs=1, items=30, finish=False)
    emu.advance(20)  # the new run is half way through
    result, _ = full_sync(ws)
    assert_converged(emu, ws)
    assert set(
        WorkItem.objects.filter(gone_at__isnull=False).values_list(
            "external_id", flat=True
        )
    ) == set(failed[4:6])
    assert ProcessRun.objects.get(external_id=new_runs[0].id).state == "in_progress"
    assert WorkItemStateChange.objects.filter(
        work_item__external_id=failed[2], new_state="done"
    ).exists()

    emu.advance(3600)  # robots finish the new run and the retried items
    full_sync(ws)
    assert_converged(emu, ws)
    assert ProcessRun.objects.get(external_id=new_runs[0].id).state in (
        "completed",
        "unresolved",
    )
    assert result.counts.gone == 2


def test_a_run_deleted_elsewhere_is_marked_gone_by_the_periodic_full_listing(
    emu, ws, settings
):
    settings.WORKROOM_SYNC_FAILED_SWEEP_ALWAYS_BELOW = 0  # see the test below
    runs = add_runs(emu, processes=1, runs=3, items=5)
    full_sync(ws)
    with client_for(emu) as client:
        client.process_runs.delete(runs[1].id)
    full_sync(
        ws
    )  # the cheap listing stops at the newest settled run and cannot see the deletion
    assert ProcessRun.objects.get(external_id=runs[1].id).gone_at is None
    settings.WORKROOM_SYNC_FULL_LISTING_HOURS = 0
    result, _ = full_sync(ws)
    assert ProcessRun.objects.get(external_id=runs[1].id).gone_at is not None
    assert not WorkItem.objects.filter(
        process_run__external_id=runs[1].id, gone_at__isnull=True
    ).exists()
    assert result.counts.gone == 1 + 5 + 2  # the run, its items, its two step runs
    assert_converged(emu, ws)


def test_a_deleted_run_with_failed_items_is_seen_by_the_next_sync(emu, ws):
    runs = add_runs(emu, processes=1, runs=3, items=10, failure_rate=0.5)
    full_sync(ws)
    assert WorkItem.objects.filter(process_run__external_id=runs[1].id, state="failed")
    with client_for(emu) as client:
        client.process_runs.delete(runs[1].id)
    full_sync(
        ws
    )  # its failed items vanish from the (short) failed list: the run is re-read
    assert ProcessRun.objects.get(external_id=runs[1].id).gone_at is not None
    assert_converged(emu, ws)


class Interrupted(Exception):
    pass


def test_an_interrupted_first_sync_resumes_and_converges(emu, ws, monkeypatch):
    add_runs(emu, processes=2, runs=3, items=8)
    # The step runs of a first load are written (and committed) RUN_BATCH runs at a time.
    monkeypatch.setattr(sync, "RUN_BATCH", 2)

    def stop_after_two_runs(phase: str, result: Any) -> None:
        if result.runs_read >= 2:
            raise Interrupted

    with build_client(ws) as client, pytest.raises(Interrupted):
        WorkspaceSync(ws, client, checkpoint=stop_after_two_runs).run_full()
    assert ProcessRun.objects.filter(workspace=ws, needs_refresh=True).count() == 4
    assert WorkspaceSyncState.objects.get(
        workspace=ws
    ).history_complete  # the listing finished first
    result, _ = full_sync(ws)
    assert result.runs_read == 4  # only the runs not read before
    assert_converged(emu, ws)


def test_a_first_load_meeting_unlisted_processes_creates_them_and_converges(
    emu, ws, monkeypatch
):
    # Pages whose process the process list has not shown are written on the sync's own
    # thread (the helper thread that prepares the others cannot create the process).
    add_runs(emu, processes=2, runs=2, items=10, failure_rate=0.5)
    monkeypatch.setattr(WorkspaceSync, "sync_processes", lambda self: None)
    full_sync(ws)
    assert mirror_items(ws) == truth_items(emu)
    placeholders = set(
        Process.objects.filter(workspace=ws).values_list("external_id", flat=True)
    )
    assert placeholders == {p.id for p in emu.store.live_processes()}
    failed = WorkItem.objects.filter(workspace=ws, state="failed")
    assert failed.exists()
    assert FailureOccurrence.objects.filter(workspace=ws).count() == failed.count()
    monkeypatch.undo()
    full_sync(ws)
    assert_converged(emu, ws)


def test_a_first_load_marks_runs_read_as_of_its_start(emu, ws, monkeypatch):
    # A webhook asking for a run to be re-read while the first load writes its items must
    # keep the run flagged: the load's step runs may be read after it, but the run's
    # items were listed before.
    add_runs(emu, processes=1, runs=3, items=5)
    load_items = WorkspaceSync._load_items
    asked: list[str] = []

    def webhook_during_the_items(self: WorkspaceSync) -> None:
        load_items(self)
        run = ProcessRun.objects.filter(workspace=ws).order_by("pk").first()
        assert run is not None and run.needs_refresh
        run.refresh_requested_at = timezone.now()
        run.save(update_fields=["refresh_requested_at"])
        asked.append(run.external_id)

    monkeypatch.setattr(WorkspaceSync, "_load_items", webhook_during_the_items)
    result, _ = full_sync(ws)
    # So the sync's next step (flagged runs) read that run again, after the request.
    assert asked and result.runs_read == 4
    runs = ProcessRun.objects.filter(workspace=ws)
    asked_run = runs.get(external_id=asked[0])
    asked_at, read_at = asked_run.refresh_requested_at, asked_run.detail_synced_at
    assert asked_at is not None and read_at is not None
    assert read_at > asked_at
    others = runs.exclude(pk=asked_run.pk).values_list("detail_synced_at", flat=True)
    assert all(read is not None and read < asked_at for read in others)
    assert not runs.filter(needs_refresh=True).exists()
    assert_converged(emu, ws)


def test_a_sync_out_of_time_stops_cleanly_and_the_next_one_finishes(emu, ws):
    add_runs(emu, processes=1, runs=3, items=5)
    with build_client(ws) as client:
        result = WorkspaceSync(ws, client, deadline=0.0).run_full()
    assert result.partial
    result, _ = full_sync(ws)
    assert not result.partial
    assert_converged(emu, ws)


def test_faults_do_not_stop_convergence_nor_duplicate_rows(emu, ws, settings):
    settings.WORKROOM_SYNC_PAGE_SIZE = 7
    add_runs(emu, processes=2, runs=2, items=12)
    emu.faults.add(
        kind="error", status=503, path=r"/work-items", method="GET", rate=0.3
    )
    emu.faults.add(
        kind="rate_limit", retry_after=0, path=r"/process-runs", method="GET", rate=0.3
    )
    emu.faults.add(kind="drop", path=r"/step-runs", method="GET", rate=0.3)
    full_sync(ws)
    full_sync(ws)
    emu.faults.clear()
    assert_converged(emu, ws)
    assert WorkItem.objects.filter(workspace=ws).count() == len(truth_items(emu))


def test_a_targeted_run_sync_reads_only_that_run(emu, ws):
    runs = add_runs(emu, processes=1, runs=2, items=6)
    with build_client(ws) as client:
        WorkspaceSync(ws, client).run_one(runs[0].id)
        assert client.requests_made == 3  # the run, its step runs, its items
    assert set(mirror_items(ws)) == {
        i for i, v in truth_items(emu).items() if v[4] == runs[0].id
    }


def test_objects_with_ids_too_long_to_store_are_left_out_not_fatal(emu, ws, caplog):
    runs = add_runs(emu, processes=1, runs=2, items=4)
    with emu.store.lock:
        runs[0].id = "r" * 300  # a hostile or broken Control Room
    result, _ = full_sync(ws)
    assert not result.partial
    stored = set(
        ProcessRun.objects.filter(workspace=ws).values_list("external_id", flat=True)
    )
    assert stored == {runs[1].id}
    assert WorkItem.objects.filter(workspace=ws).count() == 4
    assert "longer than 100 characters" in caplog.text
    full_sync(ws)  # and the next sync is not stuck on it either
