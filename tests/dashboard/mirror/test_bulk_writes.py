"""The bulk write paths of work items: on PostgreSQL a page of items travels by COPY (straight
into the table on a first load, through a staging table otherwise). The threshold is lowered
so the small pages of these tests take those paths; on SQLite the same invariants hold for the
INSERT path."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from datetime import timezone as dt_timezone

import pytest
from django.db.models import Count
from django.utils import timezone

from dashboard.mirror.models import FailureOccurrence, WorkItem, WorkItemStateChange
from dashboard.mirror.services import dbwrite, upsert
from robocorp_api.rows import RowRef, WorkItemExceptionRow, WorkItemRow
from tests.dashboard.mirror.helpers import (
    add_runs,
    assert_converged,
    client_for,
    truth_items,
)
from tests.dashboard.support.sync import full_sync

pytestmark = [pytest.mark.django_db, pytest.mark.emulator]


@pytest.fixture(autouse=True)
def copy_every_batch(monkeypatch):
    monkeypatch.setattr(dbwrite, "COPY_MIN_ROWS", 1)


def timezone_offset(**offset: int) -> dt_timezone:
    return dt_timezone(timedelta(**offset))


def _no_duplicates(ws) -> None:
    dupes = (
        WorkItem.objects.filter(workspace=ws)
        .values("external_id")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
    )
    assert not dupes.exists()


def test_a_first_load_and_an_incremental_sync_converge_through_the_bulk_path(
    emu, ws, settings
):
    settings.WORKROOM_SYNC_FAILED_SWEEP_SECONDS = 0
    add_runs(emu, processes=2, runs=2, items=40, failure_rate=0.5)
    full_sync(ws)
    assert_converged(emu, ws)
    failed = [i for i, v in truth_items(emu).items() if v[0] == "failed"]
    assert len(failed) >= 20
    with client_for(emu) as client:
        client.work_items.mark_as_done(failed)
    full_sync(ws)
    assert_converged(emu, ws)
    _no_duplicates(ws)
    recorded = WorkItemStateChange.objects.filter(
        work_item__external_id__in=failed, new_state="done"
    ).count()
    assert recorded == len(failed)


def test_a_first_load_that_meets_existing_rows_falls_back_to_the_upsert(emu, ws):
    add_runs(emu, processes=1, runs=1, items=60, failure_rate=0.3)
    full_sync(ws)
    failed = [i for i, v in truth_items(emu).items() if v[0] == "failed"]
    assert len(failed) >= 2
    done, still_failed = failed[: len(failed) // 2], failed[len(failed) // 2 :]
    with client_for(emu) as client:
        client.work_items.mark_as_done(done)
        listed = list(client.work_items.list(limit=1000))
    # Written again as if the mirror were empty: the plain insert (COPY on PostgreSQL)
    # must hit the unique constraint, and the batch must then be upserted (the changed
    # states land).
    resolver = upsert.ProcessResolver(ws)
    upsert.write_items(ws, listed, resolver, timezone.now(), assume_new=True)
    _no_duplicates(ws)
    assert (
        WorkItem.objects.filter(workspace=ws, external_id__in=done)
        .exclude(state="done")
        .count()
        == 0
    )
    assert WorkItem.objects.filter(workspace=ws).count() == 60
    # The rows were not new: the items still failed keep their one occurrence (a first
    # load's shortcut would open each a second one).
    occurrences = FailureOccurrence.objects.filter(workspace=ws)
    assert occurrences.count() == len(failed)
    assert set(
        occurrences.filter(work_item__external_id__in=still_failed).values_list(
            "number", "outcome"
        )
    ) == {(1, "")}


def test_a_first_load_opens_one_occurrence_per_failed_item(emu, ws):
    add_runs(emu, processes=1, runs=2, items=60, failure_rate=0.4)
    full_sync(ws)
    failed = WorkItem.objects.filter(workspace=ws, state="failed")
    assert failed.count() >= 20
    occurrences = FailureOccurrence.objects.filter(workspace=ws)
    assert sorted(occurrences.values_list("work_item_id", flat=True)) == sorted(
        failed.values_list("pk", flat=True)
    )
    assert set(occurrences.values_list("number", "outcome")) == {(1, "")}
    by_item = {o.work_item_id: o for o in occurrences}
    for item in failed:
        opened = by_item[item.pk]
        assert opened.failed_at == item.state_updated_at
        assert opened.exception_code == item.exception_code
        assert opened.message_signature == item.message_signature


def test_the_row_hash_of_an_item_is_the_one_mirrors_already_hold(ws):
    # The hash main computed before the write path was made cheaper: a different one would
    # rewrite every row of every mirror on its next sync.
    row = WorkItemRow(
        id="item-1",
        created_at=datetime(2026, 3, 4, 5, 0, 0, tzinfo=UTC),
        state="failed",
        state_updated_at=datetime(2026, 3, 4, 5, 6, 7, 123456, tzinfo=UTC),
        process=RowRef("proc-1"),
        exception=WorkItemExceptionRow("BUSINESS", "ERR_1", "Order 42 failed"),
    )
    upsert.write_items(ws, [row], upsert.ProcessResolver(ws), timezone.now())
    stored = WorkItem.objects.get(workspace=ws, external_id="item-1")
    assert stored.row_hash == "8c3de363004e1aa1e1b121ed"
    assert stored.created_at == row.created_at
    assert stored.state_updated_at == row.state_updated_at


@pytest.mark.parametrize(
    "value",
    [
        datetime(2026, 3, 4, 5, 6, 7, 123456, tzinfo=UTC),
        datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC),
        datetime(2026, 3, 4, 5, 6, 7, 1, tzinfo=timezone_offset(hours=2)),
        datetime(2026, 3, 4, 0, 30, tzinfo=timezone_offset(hours=-5, minutes=-30)),
        None,
    ],
)
def test_sqlite_text_cut_from_the_iso_string_is_what_the_adapter_makes(value):
    from_iso = dbwrite.sqlite_text_from_iso()
    if from_iso is None:
        pytest.skip("PostgreSQL takes the datetime itself")
    iso = None if value is None else value.isoformat()
    assert from_iso(value, iso) == dbwrite.datetime_param()(value)
