"""Triage's failure-group rollup (workitems.rollup) is exactly the GROUP BY of the items:
after a sync, after retry / mark done / delete through actions.apply, after a run re-read,
and when Control Room changed items between syncs."""

from __future__ import annotations

from typing import Any

import pytest

from dashboard.audit.services import Actor
from dashboard.mirror.models import SyncRun, WorkItem
from dashboard.mirror.signals import sync_finished
from dashboard.workitems import actions, rollup, selectors, services
from dashboard.workitems.actions import Target
from dashboard.workitems.models import FailureGroupRollup
from dashboard.workspaces.models import Workspace
from dashboard.workspaces.services import build_client
from tests.dashboard.support.sync import full_sync
from tests.dashboard.workitems.conftest import failing_run, make_items, make_process

pytestmark = pytest.mark.django_db


def _stored(workspace: Workspace) -> set[tuple[Any, ...]]:
    return set(
        FailureGroupRollup.objects.filter(workspace=workspace).values_list(
            "process_id",
            "exception_type",
            "exception_code",
            "signature",
            "count",
            "first_seen",
            "last_seen",
            "sample_id",
            "sample_message",
        )
    )


def _grouped(workspace: Workspace) -> set[tuple[Any, ...]]:
    failed = WorkItem.objects.filter(
        workspace=workspace, state="failed", gone_at__isnull=True
    )
    rows = selectors._grouped_rows(failed)
    messages = dict(
        WorkItem.objects.filter(pk__in=[r.sample_id for r in rows]).values_list(
            "id", "exception_message"
        )
    )
    return {(*r[1:], messages[r.sample_id]) for r in rows}


def assert_consistent(workspace: Workspace) -> None:
    grouped = _grouped(workspace)
    assert _stored(workspace) == grouped


def _failed_items(workspace: Workspace) -> list[WorkItem]:
    return list(
        WorkItem.objects.filter(workspace=workspace, state="failed").order_by("id")
    )


def test_the_refresh_is_the_group_by(alice, ws_a):
    proc, other = make_process(ws_a), make_process(ws_a)
    make_items(proc, 3, state="failed", exception_type="business", exception_code="A")
    make_items(
        proc,
        2,
        state="failed",
        exception_type="application",
        exception_code="T",
        exception_message="Timed out after 300 ms",
    )
    make_items(other, 1, state="failed", exception_code="A")
    make_items(other, 4, state="done")
    assert len(_stored(ws_a)) == 3
    assert_consistent(ws_a)
    # Items moved behind its back (as a sync writes them): a refresh of one group, then
    # of the whole workspace, puts the rollup back in step.
    first = _failed_items(ws_a)[0]
    WorkItem.objects.filter(pk=first.pk).update(state="done")
    rollup.refresh_groups(
        ws_a.pk,
        [rollup.Key(first.process_id, "business", "A", first.message_signature)],
    )
    assert_consistent(ws_a)
    WorkItem.objects.filter(workspace=ws_a, exception_code="T").update(
        exception_code="U"
    )
    rollup.refresh_workspace(ws_a.pk)
    assert_consistent(ws_a)
    assert {r[2] for r in _stored(ws_a)} == {"A", "U"}


def test_triage_from_the_rollup_equals_triage_from_the_group_by(alice, ws_a):
    for n in range(3):
        make_items(
            make_process(ws_a),
            n + 1,
            state="failed",
            exception_type="business",
            exception_code=f"E{n}",
            exception_message=f"Order {n} not found",
        )
    scope = selectors.Scope.for_user(alice)
    from_rollup = selectors.failure_groups(scope)
    failed = WorkItem.objects.filter(workspace=ws_a, state="failed")
    assert [
        (g.process.pk if g.process else None, g.exception_code, g.count)
        for g in from_rollup.groups
    ] == [
        (r.process_id, r.exception_code, r.n) for r in selectors._grouped_rows(failed)
    ]
    assert from_rollup.total_failed == 6
    assert [g.sample_message for g in from_rollup.groups] == [
        "Order 2 not found",
        "Order 1 not found",
        "Order 0 not found",
    ]


@pytest.mark.emulator
def test_a_sync_keeps_the_rollup_through_its_signal(emu, emu_ws):
    assert_consistent(emu_ws)
    assert FailureGroupRollup.objects.filter(workspace=emu_ws).exists()
    # Control Room fails more items; the mirror is written by a sync that does not rebuild
    # the rollup itself: the sync_finished receiver does.
    failing_run(emu, items=3, mix=(1.0, 0.0, 0.0))
    with build_client(emu_ws) as client:
        from dashboard.mirror.services.sync import WorkspaceSync

        WorkspaceSync(emu_ws, client).run_full()
    assert _stored(emu_ws) != _grouped(emu_ws)
    sync_run = SyncRun.objects.create(
        workspace=emu_ws,
        status=SyncRun.Status.SUCCEEDED,
        trigger=SyncRun.Trigger.MANUAL,
    )
    sync_finished.send_robust(sender=SyncRun, sync_run=sync_run)
    assert_consistent(emu_ws)


@pytest.mark.emulator
@pytest.mark.parametrize(
    "action", [actions.RETRY, actions.MARK_AS_DONE, actions.DELETE]
)
def test_actions_keep_the_rollup(emu, emu_ws, bob, action):
    failing_run(emu, items=3, mix=(0.0, 0.0, 1.0))
    full_sync(emu_ws)
    assert_consistent(emu_ws)
    before = sum(r[4] for r in _stored(emu_ws))
    items = _failed_items(emu_ws)[:3]
    with build_client(emu_ws) as client:
        verdicts = actions.apply(
            action,
            [Target.of(i) for i in items],
            Actor.of(bob),
            workspace=emu_ws,
            client=client,
        )
    assert all(v.outcome is actions.Outcome.DONE for v in verdicts)
    assert_consistent(emu_ws)
    assert sum(r[4] for r in _stored(emu_ws)) == before - 3


@pytest.mark.emulator
def test_a_reread_of_a_changed_item_keeps_the_rollup(emu, emu_ws):
    item = _failed_items(emu_ws)[0]
    with build_client(emu_ws) as client:  # someone else retried it in Control Room
        client.work_items.retry([item.external_id])
        services.item_refresh(client, item)
    assert not WorkItem.objects.filter(pk=item.pk, state="failed").exists()
    assert_consistent(emu_ws)
