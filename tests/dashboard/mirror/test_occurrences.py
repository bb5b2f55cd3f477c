"""Attempt history: the sync opens a failure occurrence when an item fails, settles it when the
item leaves failed, and the action core marks who retried. Against the emulator's robots."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.utils import timezone

from dashboard.audit.services import Actor
from dashboard.mirror.models import FailureOccurrence, WorkItem
from dashboard.mirror.services.syncruns import prune_history
from dashboard.workitems.actions import RETRY, Target, apply
from dashboard.workspaces.services import build_client
from tests.dashboard.support.sync import full_sync

pytestmark = [pytest.mark.emulator]

HTTP_502 = (
    "application",
    "HTTP_ERROR",
    "HTTP 502 from https://erp.example.com/api/orders/1",
)


def seed_outage(emu: Any, n: int, *, retry_failure_rate: float) -> Any:
    process = emu.store.add_process(
        "Order Intake",
        steps=["Only"],
        item_seconds=0.01,
        failure_rate=1.0,
        exception=HTTP_502,
        retry_failure_rate=retry_failure_rate,
    )
    emu.store.create_run(process.id, payloads=[{"n": k} for k in range(n)])
    emu.advance(3600)
    return process


def retry_all(ws: Any, user: Any) -> None:
    items = list(WorkItem.objects.filter(workspace=ws, state="failed"))
    with build_client(ws) as client:
        verdicts = apply(
            RETRY,
            [Target.of(i) for i in items],
            Actor.of(user),
            workspace=ws,
            client=client,
        )
    assert {v.outcome.value for v in verdicts} == {"done"}


def test_a_failure_opens_an_occurrence_with_its_exception(db, ws, emu):
    seed_outage(emu, 3, retry_failure_rate=1.0)
    full_sync(ws)
    occ = list(FailureOccurrence.objects.filter(workspace=ws))
    assert len(occ) == 3
    assert {o.number for o in occ} == {1}
    assert {o.exception_code for o in occ} == {"HTTP_ERROR"}
    assert all(o.is_open and o.failed_at is not None for o in occ)
    full_sync(ws)  # nothing changed: no new occurrence
    assert FailureOccurrence.objects.filter(workspace=ws).count() == 3


def test_a_retry_that_fails_again_opens_the_next_occurrence(db, ws, emu, bob):
    seed_outage(emu, 2, retry_failure_rate=1.0)
    full_sync(ws)
    retry_all(ws, bob)
    first = FailureOccurrence.objects.filter(workspace=ws, number=1)
    assert set(first.values_list("retried_by", flat=True)) == {"bob"}
    assert all(o.left_failed_at is not None for o in first)
    emu.advance(3600)
    full_sync(ws)
    assert set(first.values_list("outcome", flat=True)) == {"failed_again"}
    second = FailureOccurrence.objects.filter(workspace=ws, number=2)
    assert second.count() == 2 and all(o.is_open for o in second)


def test_a_retry_that_succeeds_settles_done(db, ws, emu, bob):
    seed_outage(emu, 2, retry_failure_rate=0.0)
    full_sync(ws)
    retry_all(ws, bob)
    emu.advance(3600)
    full_sync(ws)
    assert set(
        FailureOccurrence.objects.filter(workspace=ws).values_list("outcome", "number")
    ) == {("done", 1)}


def test_settled_occurrences_are_pruned_open_ones_kept(db, ws, emu, bob, settings):
    seed_outage(emu, 2, retry_failure_rate=0.0)
    full_sync(ws)
    retry_all(ws, bob)
    emu.advance(3600)
    full_sync(ws)
    seed_outage(emu, 1, retry_failure_rate=0.0)
    full_sync(ws)
    later = timezone.now() + timedelta(days=settings.WORKROOM_SYNC_HISTORY_DAYS + 1)
    with time_machine.travel(later, tick=False):
        pruned = prune_history()
    assert pruned["occurrences"] == 2
    assert list(FailureOccurrence.objects.values_list("outcome", flat=True)) == [""]


def test_deleting_the_workspace_purges_its_occurrences(db, ws, emu):
    seed_outage(emu, 2, retry_failure_rate=1.0)
    full_sync(ws)
    ws.delete()
    assert not FailureOccurrence.objects.exists()
