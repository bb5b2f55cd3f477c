"""The rollups after syncs against the emulator equal a naive recomputation from the whole
mirror: items failing, being retried (some fail again), done; runs ending. Updating twice
changes nothing; a rebuild gives the same; an update reads only what the sync wrote."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from dashboard.audit.services import Actor
from dashboard.insights.models import CodeRollup, Cursor, HourRollup
from dashboard.insights.rollups import rebuild_workspace, update_workspace
from dashboard.lib.leases import Lease
from dashboard.mirror.models import WorkItem
from dashboard.workitems.actions import RETRY, Target, apply
from dashboard.workspaces.services import build_client
from tests.dashboard.insights.naive import naive, stored
from tests.dashboard.support.sync import full_sync

pytestmark = [pytest.mark.emulator]

HTTP_502 = ("application", "HTTP_ERROR", "HTTP 502 from the ERP")
INVALID = ("business", "INVALID_ORDER", "Order has no customer")


def seed(emu: Any, items: int = 20) -> None:
    flaky = emu.store.add_process(
        "Order Intake",
        steps=["Only"],
        item_seconds=30,
        failure_rate=0.5,
        exception=HTTP_502,
        retry_failure_rate=0.5,
    )
    strict = emu.store.add_process(
        "Invoices",
        steps=["Read", "Post"],
        item_seconds=45,
        failure_rate=0.3,
        exception=INVALID,
        retry_failure_rate=1.0,
    )
    for process in (flaky, strict):
        emu.store.create_run(process.id, payloads=[{"n": k} for k in range(items)])


def retry_failed(ws: Any, user: Any) -> int:
    items = list(WorkItem.objects.filter(workspace=ws, state="failed"))
    if not items:
        return 0
    with build_client(ws) as client:
        apply(
            RETRY,
            [Target.of(i) for i in items],
            Actor.of(user),
            workspace=ws,
            client=client,
        )
    return len(items)


def assert_matches(ws: Any) -> None:
    assert stored(ws.pk) == naive(ws.pk)


def test_rollups_follow_syncs_failures_retries_and_runs(db, ws, emu, bob):
    seed(emu)
    emu.advance(600)  # half-way: some items still pending
    full_sync(ws)
    assert update_workspace(ws.pk).updated
    assert_matches(ws)
    emu.advance(3600)
    full_sync(ws)
    update_workspace(ws.pk)
    assert_matches(ws)
    for _ in range(3):  # retries: some end done, some fail again
        assert retry_failed(ws, bob)
        emu.advance(3600)
        full_sync(ws)
        update_workspace(ws.pk)
        assert_matches(ws)
    totals = stored(ws.pk)["hours"]
    done = sum(n for k, n in totals.items() if k[-1] == "done")
    assert done > 0
    assert sum(n for k, n in totals.items() if k[-1] == "retried_done") > 0
    assert sum(n for k, n in totals.items() if k[-1] == "retried_failed") > 0
    assert stored(ws.pk)["bins"], "run durations and resolutions are binned"
    codes = set(CodeRollup.objects.values_list("exception_code", flat=True))
    assert codes == {"HTTP_ERROR", "INVALID_ORDER"}


def test_updating_twice_or_rebuilding_gives_the_same_rollups(db, ws, emu, bob):
    seed(emu)
    emu.advance(3600)
    full_sync(ws)
    update_workspace(ws.pk)
    retry_failed(ws, bob)
    emu.advance(3600)
    full_sync(ws)
    first = update_workspace(ws.pk)
    before = stored(ws.pk)
    again = update_workspace(ws.pk)
    assert again.updated and stored(ws.pk) == before
    assert again.rows_read < first.rows_read  # nothing new since: runs re-read at most
    Cursor.objects.filter(pk=ws.pk).update(
        item_id=0, change_id=0, occurrence_id=0, run_id=0
    )
    update_workspace(ws.pk)  # re-reading everything recomputes the same hours
    assert stored(ws.pk) == before
    HourRollup.objects.filter(workspace=ws).update(done=999)  # damage
    assert rebuild_workspace(ws.pk).updated
    assert stored(ws.pk) == before == naive(ws.pk)


def test_an_update_reads_only_what_the_sync_wrote(db, ws, emu):
    seed(emu, items=30)
    emu.advance(3600)
    full_sync(ws)
    first = update_workspace(ws.pk)
    assert first.rows_read >= 60  # every item is new
    extra = emu.store.add_process(
        "Small", steps=["Only"], item_seconds=5, failure_rate=0.0
    )
    emu.store.create_run(extra.id, payloads=[{"n": 1}, {"n": 2}])
    emu.advance(3600)
    full_sync(ws)
    second = update_workspace(ws.pk)
    assert 2 <= second.rows_read < 15
    assert_matches(ws)


def test_a_second_update_while_one_holds_the_lease_does_nothing(db, ws, emu):
    seed(emu, items=3)
    emu.advance(3600)
    full_sync(ws)
    Cursor.objects.create(workspace=ws)
    held = Lease.take(Cursor.objects.filter(pk=ws.pk), "someone", 60)
    assert held is not None
    assert not update_workspace(ws.pk).updated
    assert not HourRollup.objects.exists()
    held.release()
    assert update_workspace(ws.pk).updated
    assert_matches(ws)


def test_the_rebuild_command_names_a_missing_workspace(db, ws, emu, capsys):
    seed(emu, items=3)
    emu.advance(3600)
    full_sync(ws)
    call_command("rebuild_insights", str(ws.pk))
    assert f"workspace {ws.pk}:" in capsys.readouterr().out
    assert_matches(ws)
    from django.core.management import CommandError

    with pytest.raises(CommandError, match="No workspace with id 999999"):
        call_command("rebuild_insights", "999999")


def test_a_finished_sync_enqueues_an_update(
    db, ws, monkeypatch, django_capture_on_commit_callbacks
):
    from dashboard.insights import receivers
    from dashboard.mirror.models import SyncRun
    from dashboard.mirror.signals import sync_finished

    published: list[tuple[Any, ...]] = []
    monkeypatch.setattr(
        "dashboard.insights.tasks.update_workspace.apply_async",
        lambda args, **kw: published.append(args),
    )
    run = SyncRun.objects.create(workspace=ws, trigger="beat", status="succeeded")
    with django_capture_on_commit_callbacks(execute=True):
        sync_finished.send_robust(sender=SyncRun, sync_run=run)
    assert published == [(ws.pk,)]
    receivers.enqueue(ws.pk)  # what a second sync does: one more update
    assert published == [(ws.pk,), (ws.pk,)]


def test_deleting_the_workspace_deletes_its_rollups_and_values(db, ws, emu):
    from dashboard.insights.models import DurationRollup, ProcessValue

    seed(emu, items=4)
    emu.advance(3600)
    full_sync(ws)
    update_workspace(ws.pk)
    ProcessValue.objects.create(workspace=ws, process_external_id="x", value_per_item=1)
    assert HourRollup.objects.exists() and DurationRollup.objects.exists()
    ws.delete()
    for model in (HourRollup, CodeRollup, DurationRollup, Cursor, ProcessValue):
        assert not model.objects.exists(), model.__name__


def test_an_update_of_a_workspace_that_is_gone_ends_without_retrying(db):
    # Updates queued for a deleted workspace (or left in a shared broker by another
    # database) must not be retried every 15 s: the workspace will never come back.
    from dashboard.insights.tasks import update_workspace as task

    assert update_workspace(999999).gone
    assert task.run(999999) == 0  # self.retry would raise celery's Retry here


def _planner_rows(model: Any) -> float:
    """How many rows the database's planner statistics say `model`'s table holds."""
    table = model._meta.db_table
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT reltuples FROM pg_class WHERE relname = %s", [table])
            return float(cursor.fetchone()[0])
        cursor.execute(
            "SELECT stat FROM sqlite_stat1 WHERE tbl = %s AND idx IS NULL", [table]
        )
        row = cursor.fetchone()
        if row is None:  # only index rows: the first number is the table's row count
            cursor.execute("SELECT stat FROM sqlite_stat1 WHERE tbl = %s", [table])
            row = cursor.fetchone()
        return float(row[0].split()[0]) if row else -1.0


def test_a_rebuild_leaves_statistics_of_the_tables_as_they_are(db, ws, emu):
    # The pages' plans follow the statistics: an empty table's plan read a rebuilt code
    # rollup by random page reads (4x slower at 200,000 items).
    seed(emu, items=30)
    emu.advance(3600)
    full_sync(ws)
    assert rebuild_workspace(ws.pk).updated
    for model in (HourRollup, CodeRollup):
        assert model.objects.count() > 0
        assert _planner_rows(model) == model.objects.count()
    # The incremental update after every sync leaves that to autovacuum: it is cheap.
    with CaptureQueriesContext(connection) as captured:
        assert update_workspace(ws.pk).updated
    assert not [q for q in captured if q["sql"].upper().startswith("ANALYZE")]
