"""SyncRun bookkeeping without a worker: dedupe, lease, claim, errors, dispatcher, sweeper."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from dashboard.audit.models import AuditEvent
from dashboard.mirror.models import SyncRun, WorkspaceSyncState
from dashboard.mirror.services.syncruns import (
    Lease,
    dispatch_due_syncs,
    prune_history,
    retry_countdown,
    sweep,
    sync_request,
    sync_run_execute,
)
from dashboard.mirror.signals import sync_finished
from robocorp_api.emulator import ALL_PERMISSIONS
from robocorp_api.errors import RateLimited, ServerError
from tests.dashboard.factories import make_workspace_row
from tests.dashboard.mirror.helpers import add_runs, assert_converged, queued_messages
from tests.dashboard.support.workspaces import workspace_on_emulator

pytestmark = [pytest.mark.django_db, pytest.mark.emulator]


def test_two_triggers_make_one_sync(ws):
    first = sync_request(workspace=ws, trigger=SyncRun.Trigger.BEAT)
    second = sync_request(workspace=ws, trigger=SyncRun.Trigger.MANUAL)
    assert first.pk == second.pk
    assert SyncRun.objects.filter(workspace=ws).count() == 1
    # A sync of one run is a different target and may be queued beside it.
    targeted = sync_request(
        workspace=ws, trigger=SyncRun.Trigger.WEBHOOK, run_external_id="run-1"
    )
    assert targeted.pk != first.pk


def test_executing_a_sync_records_what_it_did(emu, ws):
    add_runs(emu, processes=1, runs=2, items=5)
    sync_run = sync_request(workspace=ws, trigger=SyncRun.Trigger.MANUAL)
    outcome = sync_run_execute(sync_run_id=sync_run.pk)
    assert outcome.retry_in is None
    sync_run.refresh_from_db()
    assert sync_run.status == SyncRun.Status.SUCCEEDED
    assert sync_run.attempt == 1
    assert sync_run.requests_made > 0
    assert sync_run.rows_created >= 10
    assert sync_run.runs_read == 2
    assert sync_run.started_at is not None and sync_run.finished_at is not None
    state = WorkspaceSyncState.objects.get(workspace=ws)
    assert state.last_sync_run_id == sync_run.pk
    assert state.last_success_at == sync_run.started_at
    assert state.next_sync_at is not None and state.next_sync_at > timezone.now()
    assert not state.lease_owner  # released
    assert_converged(emu, ws)
    # A second delivery of the same message is a no-op.
    sync_run_execute(sync_run_id=sync_run.pk)
    sync_run.refresh_from_db()
    assert sync_run.attempt == 1


def test_a_sync_finding_the_lease_held_is_skipped(ws):
    assert Lease.acquire(ws.pk, "someone-else") is not None
    sync_run = sync_request(workspace=ws, trigger=SyncRun.Trigger.BEAT)
    sync_run_execute(sync_run_id=sync_run.pk)
    sync_run.refresh_from_db()
    assert sync_run.status == SyncRun.Status.SKIPPED
    assert "Another sync" in sync_run.error


def test_a_targeted_sync_finding_the_lease_held_waits_then_gives_up(
    ws, sync_queue, redis_client
):
    assert Lease.acquire(ws.pk, "someone-else") is not None
    sync_run = sync_request(
        workspace=ws,
        trigger=SyncRun.Trigger.WEBHOOK,
        run_external_id="run-9",
        enqueue=False,
    )
    sync_run_execute(sync_run_id=sync_run.pk)
    sync_run.refresh_from_db()
    assert sync_run.status == SyncRun.Status.QUEUED
    assert sync_run.phase == "waiting for the running sync"
    assert queued_messages(redis_client, sync_queue) == [sync_run.pk]
    # Waited too long: skipped, and a full sync (which reads flagged runs) is due now.
    SyncRun.objects.filter(pk=sync_run.pk).update(
        created_at=timezone.now() - timedelta(hours=1)
    )
    sync_run_execute(sync_run_id=sync_run.pk)
    sync_run.refresh_from_db()
    assert sync_run.status == SyncRun.Status.SKIPPED
    state = WorkspaceSyncState.objects.get(workspace=ws)
    assert state.next_sync_at is not None and state.next_sync_at <= timezone.now()


def test_a_workspace_with_active_work_is_synced_again_soon(ws, emu, settings):
    settings.WORKROOM_SYNC_ACTIVE_INTERVAL = 7
    ws.sync_interval_seconds = 600
    ws.save(update_fields=["sync_interval_seconds"])
    add_runs(emu, processes=1, runs=1, items=5, finish=False)  # pending items
    sync_run = sync_request(workspace=ws, trigger=SyncRun.Trigger.BEAT, enqueue=False)
    sync_run_execute(sync_run_id=sync_run.pk)
    state = WorkspaceSyncState.objects.get(workspace=ws)
    assert state.next_sync_at is not None
    assert state.next_sync_at <= timezone.now() + timedelta(seconds=7)
    emu.advance(
        3600
    )  # robots finish: nothing active any more, the normal interval again
    again = sync_request(workspace=ws, trigger=SyncRun.Trigger.BEAT, enqueue=False)
    sync_run_execute(sync_run_id=again.pk)
    state.refresh_from_db()
    assert state.next_sync_at is not None
    assert state.next_sync_at > timezone.now() + timedelta(seconds=500)


def test_an_expired_lease_can_be_taken_over(ws):
    assert Lease.acquire(ws.pk, "dead-worker") is not None
    assert Lease.acquire(ws.pk, "me") is None
    WorkspaceSyncState.objects.filter(pk=ws.pk).update(
        lease_until=timezone.now() - timedelta(seconds=1)
    )
    lease = Lease.acquire(ws.pk, "me")
    assert lease is not None
    lease.release()
    assert WorkspaceSyncState.objects.get(pk=ws.pk).lease_owner == ""


def test_a_rejected_key_marks_the_workspace_and_is_not_retried(team_a, emu):
    key = emu.create_key(ALL_PERMISSIONS)
    ws = workspace_on_emulator(emu, team_a, name="Revoked", api_key=key)
    emu.store.keys.pop(key)  # revoked in Control Room after it was added
    sync_run = sync_request(workspace=ws, trigger=SyncRun.Trigger.BEAT)
    outcome = sync_run_execute(sync_run_id=sync_run.pk, can_retry=True)
    assert outcome.retry_in is None
    sync_run.refresh_from_db()
    ws.refresh_from_db()
    assert sync_run.status == SyncRun.Status.FAILED
    assert "401" in sync_run.error
    assert ws.needs_attention
    assert ws.last_error.startswith("Sync: ")
    assert (
        AuditEvent.objects.filter(team=team_a, action="workspace.sync_blocked").count()
        == 1
    )
    assert key not in sync_run.error + ws.last_error
    # Scheduled syncs leave it alone until someone fixes the key.
    assert dispatch_due_syncs() == 0
    again = SyncRun.objects.create(workspace=ws, trigger=SyncRun.Trigger.BEAT)
    sync_run_execute(sync_run_id=again.pk)
    again.refresh_from_db()
    assert again.status == SyncRun.Status.SKIPPED
    assert (
        AuditEvent.objects.filter(team=team_a, action="workspace.sync_blocked").count()
        == 1
    )


def test_a_key_missing_a_permission_names_it(team_a, emu):
    ws = workspace_on_emulator(emu, team_a, api_key=emu.create_key(["read_processes"]))
    add_runs(emu, processes=1, runs=1, items=2)
    sync_run = sync_request(workspace=ws, trigger=SyncRun.Trigger.MANUAL)
    sync_run_execute(sync_run_id=sync_run.pk, can_retry=True)
    ws.refresh_from_db()
    assert ws.needs_attention
    assert "403" in ws.last_error and "read_runs" in ws.last_error


def test_transient_errors_ask_the_task_to_retry_then_give_up(emu, ws, settings):
    settings.WORKROOM_SYNC_CLIENT_RETRIES = 1
    emu.faults.add(kind="error", status=503, path=r"/processes$", method="GET")
    sync_run = sync_request(workspace=ws, trigger=SyncRun.Trigger.BEAT)
    outcome = sync_run_execute(sync_run_id=sync_run.pk, can_retry=True, retries=0)
    assert outcome.retry_in is not None and 0 <= outcome.retry_in <= 300
    sync_run.refresh_from_db()
    assert sync_run.status == SyncRun.Status.QUEUED
    assert "503" in sync_run.error
    assert sync_run.requests_made == 2  # the first try and the client's one retry
    sync_run_execute(sync_run_id=sync_run.pk, can_retry=False, retries=5)
    sync_run.refresh_from_db()
    assert sync_run.status == SyncRun.Status.FAILED
    assert sync_run.attempt == 2
    assert "gave up" in sync_run.error
    emu.faults.clear()
    ws.refresh_from_db()
    assert not ws.needs_attention  # transient trouble is not the key's fault


def test_a_long_retry_after_becomes_the_task_countdown(emu, ws):
    emu.faults.add(
        kind="rate_limit", retry_after=120, path=r"/processes$", method="GET"
    )
    sync_run = sync_request(workspace=ws, trigger=SyncRun.Trigger.BEAT)
    outcome = sync_run_execute(sync_run_id=sync_run.pk, can_retry=True)
    assert outcome.retry_in is not None and 120 <= outcome.retry_in <= 121


def test_retry_countdown_is_capped():
    assert (
        retry_countdown(RateLimited("slow down", status=429, retry_after=10_000), 0)
        == 300
    )
    assert 0 <= retry_countdown(ServerError("boom", status=500), 20) <= 300


def test_the_dispatcher_queues_due_workspaces_only(team_a, emu, ws):
    other = make_workspace_row(
        team_a, name="Disabled", cr_workspace_id="other", enabled=False
    )
    assert dispatch_due_syncs() == 1
    assert SyncRun.objects.get().workspace == ws
    assert not SyncRun.objects.filter(workspace=other).exists()
    assert dispatch_due_syncs() == 0  # next_sync_at moved one interval ahead
    WorkspaceSyncState.objects.filter(pk=ws.pk).update(
        next_sync_at=timezone.now() - timedelta(seconds=1)
    )
    # Due again while its sync is still queued: left out, never stacked behind itself.
    assert dispatch_due_syncs() == 0
    assert SyncRun.objects.count() == 1
    SyncRun.objects.update(status=SyncRun.Status.SUCCEEDED, finished_at=timezone.now())
    assert dispatch_due_syncs() == 1
    assert SyncRun.objects.count() == 2


def test_the_dispatcher_serves_the_most_overdue_first_and_records_when_it_fell_due(
    team_a, emu, ws
):
    older = make_workspace_row(team_a, name="Older", cr_workspace_id="older")
    now = timezone.now()
    WorkspaceSyncState.objects.create(
        workspace=older, next_sync_at=now - timedelta(minutes=5)
    )
    WorkspaceSyncState.objects.update_or_create(
        workspace=ws, defaults={"next_sync_at": now - timedelta(minutes=1)}
    )
    assert dispatch_due_syncs() == 2
    first, second = SyncRun.objects.order_by("pk")
    assert (first.workspace, second.workspace) == (older, ws)
    assert abs((first.due_at - (now - timedelta(minutes=5))).total_seconds()) < 0.01
    assert abs((second.due_at - (now - timedelta(minutes=1))).total_seconds()) < 0.01


def test_a_webhook_sync_does_not_hold_back_the_scheduled_one(team_a, emu, ws):
    SyncRun.objects.create(
        workspace=ws, trigger=SyncRun.Trigger.WEBHOOK, target_run_external_id="run-1"
    )
    assert dispatch_due_syncs() == 1
    assert SyncRun.objects.filter(target_run_external_id="").count() == 1


def test_the_sweeper_requeues_lost_and_orphaned_syncs(ws, sync_queue, redis_client):
    old = timezone.now() - timedelta(minutes=5)
    lost = SyncRun.objects.create(
        workspace=ws, trigger=SyncRun.Trigger.BEAT, due_at=old
    )
    orphan = SyncRun.objects.create(
        workspace=ws,
        trigger=SyncRun.Trigger.WEBHOOK,
        target_run_external_id="r",
        status="running",
        due_at=old,
    )
    WorkspaceSyncState.objects.create(
        workspace=ws,
        lease_owner=f"{orphan.pk}:dead",
        lease_until=timezone.now() - timedelta(seconds=1),
    )
    fresh = SyncRun.objects.create(
        workspace=ws, trigger=SyncRun.Trigger.MANUAL, target_run_external_id="s"
    )
    assert sweep() == {"requeued": 1, "orphaned": 1, "leases_released": 1}
    orphan.refresh_from_db()
    assert orphan.status == SyncRun.Status.QUEUED
    assert sorted(queued_messages(redis_client, sync_queue)) == sorted(
        [lost.pk, orphan.pk]
    )
    assert fresh.pk not in queued_messages(redis_client, sync_queue)
    assert sweep()["requeued"] == 0  # enqueued_at is fresh now


def test_a_garbled_answer_fails_the_attempt_clearly_and_the_retry_converges(emu, ws):
    add_runs(emu, processes=1, runs=2, items=4)
    emu.faults.add(kind="malformed", path=r"/process-runs$", method="GET", times=1)
    sync_run = sync_request(workspace=ws, trigger=SyncRun.Trigger.BEAT)
    outcome = sync_run_execute(sync_run_id=sync_run.pk, can_retry=True)
    assert outcome.retry_in is not None
    sync_run.refresh_from_db()
    assert sync_run.status == SyncRun.Status.QUEUED
    assert "process-runs" in sync_run.error
    sync_run_execute(sync_run_id=sync_run.pk, can_retry=True, retries=1)
    sync_run.refresh_from_db()
    assert sync_run.status == SyncRun.Status.SUCCEEDED
    assert_converged(emu, ws)


def test_old_sync_history_is_pruned_but_the_last_sync_is_kept(ws, settings):
    settings.WORKROOM_SYNC_HISTORY_DAYS = 14
    old = timezone.now() - timedelta(days=15)
    done = [
        SyncRun.objects.create(
            workspace=ws, trigger="beat", status="succeeded", finished_at=old
        )
        for _ in range(3)
    ]
    WorkspaceSyncState.objects.update_or_create(
        workspace=ws, defaults={"last_sync_run": done[-1]}
    )
    recent = SyncRun.objects.create(
        workspace=ws, trigger="beat", status="failed", finished_at=timezone.now()
    )
    assert prune_history() == {"syncs": 2, "checks": 0, "occurrences": 0}
    assert set(SyncRun.objects.values_list("pk", flat=True)) == {done[-1].pk, recent.pk}


def test_a_finished_sync_is_announced_once_and_a_failing_receiver_never_fails_it(
    team_a, emu, ws, emulator_factory, caplog
):
    heard: list[tuple[int, str]] = []
    attention: list[bool] = []

    def listen(sender, sync_run, **kwargs):
        heard.append((sync_run.pk, sync_run.status))
        # Announced after the bookkeeping: a rejected key is already marked.
        ws_now = type(sync_run.workspace).objects.get(pk=sync_run.workspace_id)
        attention.append(ws_now.needs_attention)

    def broken(sender, sync_run, **kwargs):
        raise RuntimeError("receiver bug")

    sync_finished.connect(listen, dispatch_uid="test-listen")
    sync_finished.connect(broken, dispatch_uid="test-broken")
    try:
        add_runs(emu, processes=1, runs=1, items=2)
        ok = sync_request(workspace=ws, trigger=SyncRun.Trigger.MANUAL)
        sync_run_execute(sync_run_id=ok.pk)
        sync_run_execute(sync_run_id=ok.pk)  # a redelivery announces nothing new
        other = emulator_factory(workspace_id="another-workspace")
        key = other.create_key(ALL_PERMISSIONS)
        revoked = workspace_on_emulator(other, team_a, name="Revoked", api_key=key)
        other.store.keys.pop(key)
        bad = sync_request(workspace=revoked, trigger=SyncRun.Trigger.BEAT)
        sync_run_execute(sync_run_id=bad.pk)
    finally:
        sync_finished.disconnect(dispatch_uid="test-listen")
        sync_finished.disconnect(dispatch_uid="test-broken")
    assert heard == [
        (ok.pk, SyncRun.Status.SUCCEEDED),
        (bad.pk, SyncRun.Status.FAILED),
    ]
    assert attention == [False, True]
    ok.refresh_from_db()
    assert ok.status == SyncRun.Status.SUCCEEDED
    assert "receiver bug" in caplog.text
