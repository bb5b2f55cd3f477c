"""Sync bookkeeping: requesting, running, scheduling and sweeping `SyncRun`s.

The database is the source of truth for work to do; the broker only carries wake-ups
(ARCHITECTURE.md "Reliability rules"): a SyncRun row is created first and its task is
enqueued after commit; `sweep` re-enqueues rows whose message was lost or whose worker died.
"""

from __future__ import annotations

import logging
import random
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded
from django.contrib.auth.models import AnonymousUser
from django.db import DatabaseError, IntegrityError, transaction
from django.db.models import Exists, F, OuterRef, Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from dashboard.accounts.models import User, signed_in
from dashboard.audit.services import record
from dashboard.lib import leases
from dashboard.lib.leases import LeaseLost
from dashboard.lib.secretbox import SecretUnavailable
from dashboard.mirror import conf
from dashboard.mirror.models import (
    ITEM_ACTIVE_STATES,
    MirrorCheck,
    ProcessRun,
    SyncRun,
    WorkItem,
    WorkspaceSyncState,
)
from dashboard.mirror.services import occurrences
from dashboard.mirror.services.sync import SyncResult, WorkspaceSync
from dashboard.mirror.signals import sync_finished
from dashboard.workspaces.models import Workspace
from dashboard.workspaces.services import build_client
from robocorp_api.errors import (
    AuthenticationFailed,
    ControlRoomError,
    PermissionDenied,
    RateLimited,
    TransientError,
)

logger = logging.getLogger(__name__)

ATTENTION_PREFIX = "Sync: "


# --- the lease ------------------------------------------------------------------------------


class Lease(leases.Lease):
    """An expiring claim on a workspace's sync (dashboard.lib.leases on its sync state)."""

    @classmethod
    def acquire(cls, workspace_id: int, owner: str) -> Lease | None:
        WorkspaceSyncState.objects.get_or_create(workspace_id=workspace_id)
        return cls.take(
            WorkspaceSyncState.objects.filter(pk=workspace_id),
            owner,
            conf.lease_seconds(),
            what="the sync lease of this workspace",
        )


# --- requesting a sync ----------------------------------------------------------------------


def sync_request(
    *,
    workspace: Workspace,
    trigger: str,
    run_external_id: str = "",
    requested_by: User | AnonymousUser | None = None,
    enqueue: bool = True,
    due_at: datetime | None = None,
) -> SyncRun:
    """Create a queued SyncRun (or return the one already queued/running) and enqueue it.

    Two triggers at once make one sync: a partial unique constraint allows one active
    SyncRun per (workspace, target). `due_at`: when the schedule wanted it (default now). The task is enqueued after commit; if the broker is
    down the row stays queued and `sweep` enqueues it later.
    """
    WorkspaceSyncState.objects.get_or_create(workspace=workspace)
    if not run_external_id:
        _schedule_next(workspace)
    elif trigger == SyncRun.Trigger.WEBHOOK and (
        waiting := _queued_webhook_sync(workspace, run_external_id)
    ):
        # It reads every mirrored run a webhook flagged, this one included
        # (`WorkspaceSync.run_one`): a burst of webhooks makes a few syncs, not one per run.
        return waiting
    try:
        with transaction.atomic():
            sync_run = SyncRun.objects.create(
                workspace=workspace,
                trigger=trigger,
                target_run_external_id=run_external_id,
                requested_by=signed_in(requested_by),
                due_at=due_at or timezone.now(),
            )
    except IntegrityError:
        active = _active_sync(workspace, run_external_id)
        if active is not None:
            return active
        sync_run = SyncRun.objects.create(
            workspace=workspace, trigger=trigger, target_run_external_id=run_external_id
        )
    if enqueue:
        enqueue_on_commit(sync_run.pk)
    return sync_run


def _queued_webhook_sync(workspace: Workspace, run_external_id: str) -> SyncRun | None:
    """A queued webhook sync that will read `run_external_id` too (a run the mirror does
    not hold yet cannot be flagged, so it gets a sync of its own)."""
    if not ProcessRun.objects.filter(
        workspace=workspace, external_id=run_external_id, needs_refresh=True
    ).exists():
        return None
    return (
        SyncRun.objects.filter(
            workspace=workspace,
            trigger=SyncRun.Trigger.WEBHOOK,
            status=SyncRun.Status.QUEUED,
        )
        .exclude(target_run_external_id="")
        .order_by("pk")
        .first()
    )


def _active_sync(workspace: Workspace, run_external_id: str) -> SyncRun | None:
    return SyncRun.objects.filter(
        workspace=workspace,
        target_run_external_id=run_external_id,
        status__in=SyncRun.ACTIVE_STATUSES,
    ).first()


def _schedule_next(workspace: Workspace, *, delay: float | None = None) -> None:
    seconds = workspace.sync_interval_seconds if delay is None else delay
    WorkspaceSyncState.objects.filter(pk=workspace.pk).update(
        next_sync_at=timezone.now() + timedelta(seconds=seconds)
    )


def enqueue_on_commit(sync_run_id: int, *, countdown: float = 0) -> None:
    # robust=True: a broker outage is logged, not raised after the row committed (ECOSYSTEM B9).
    transaction.on_commit(lambda: _enqueue(sync_run_id, countdown), robust=True)


def _enqueue(sync_run_id: int, countdown: float) -> None:
    from dashboard.mirror.tasks import sync_workspace as sync_workspace_task

    # The limits travel in the message (Celery takes them from the sender): read them now,
    # so the settings of the process that enqueues decide, not the task's import-time ones.
    options: dict[str, Any] = {
        "soft_time_limit": conf.soft_time_limit(),
        "time_limit": conf.time_limit(),
    }
    if queue := conf.sync_queue():
        options["queue"] = queue
    if countdown:
        options["countdown"] = countdown
    sync_workspace_task.apply_async(args=(sync_run_id,), **options)
    SyncRun.objects.filter(pk=sync_run_id).update(enqueued_at=timezone.now())


def dispatch_due_syncs() -> int:
    """Request a scheduled sync of every enabled workspace that is due; return how many.

    Most overdue first, so a burst of due workspaces is served in the order they fell due
    (the queue is FIFO). A workspace whose full sync is still queued or running is left out:
    it stays due and is dispatched again once that sync ends, never stacked behind itself.
    Each SyncRun's `due_at` is when the workspace fell due, so finished_at - due_at is the
    schedule's lag.
    """
    now = timezone.now()
    busy = SyncRun.objects.filter(
        workspace=OuterRef("pk"),
        target_run_external_id="",
        status__in=SyncRun.ACTIVE_STATUSES,
    )
    due = (
        Workspace.objects.filter(enabled=True, needs_attention=False)
        .filter(
            Q(sync_state__isnull=True)
            | Q(sync_state__next_sync_at__isnull=True)
            | Q(sync_state__next_sync_at__lte=now)
        )
        .exclude(Exists(busy))
        .annotate(fell_due=F("sync_state__next_sync_at"))
        .order_by(F("fell_due").asc(nulls_first=True), "pk")
    )
    count = 0
    for workspace in due:
        sync_request(
            workspace=workspace,
            trigger=SyncRun.Trigger.BEAT,
            due_at=getattr(workspace, "fell_due", None) or now,
        )
        count += 1
    return count


def sweep() -> dict[str, int]:
    """Re-enqueue syncs whose message was lost or whose worker died; clear expired leases."""
    now = timezone.now()
    grace = now - timedelta(seconds=conf.sweep_after_seconds())
    requeued = 0
    stale = SyncRun.objects.filter(
        status=SyncRun.Status.QUEUED, due_at__lt=grace
    ).filter(Q(enqueued_at__isnull=True) | Q(enqueued_at__lt=grace))
    for sync_run_id in list(stale.values_list("pk", flat=True)):
        _enqueue_now(sync_run_id)
        requeued += 1
    orphaned = 0
    for sync_run in SyncRun.objects.filter(
        status=SyncRun.Status.RUNNING
    ).select_related("workspace__sync_state"):
        state = getattr(sync_run.workspace, "sync_state", None)
        holder_alive = (
            state is not None
            and state.lease_owner.startswith(f"{sync_run.pk}:")
            and state.lease_until is not None
            and state.lease_until > now
        )
        if not holder_alive and SyncRun.objects.filter(
            pk=sync_run.pk, status=SyncRun.Status.RUNNING
        ).update(
            status=SyncRun.Status.QUEUED, due_at=now, phase="worker lost; re-queued"
        ):
            _enqueue_now(sync_run.pk)
            orphaned += 1
    released = WorkspaceSyncState.objects.filter(lease_until__lt=now).update(
        lease_owner="", lease_until=None
    )
    return {"requeued": requeued, "orphaned": orphaned, "leases_released": released}


def prune_history() -> dict[str, int]:
    """Delete finished syncs and mirror checks older than `WORKROOM_SYNC_HISTORY_DAYS`: a
    workspace with work under way is synced every few seconds, and nobody reads a sync's
    row after a fortnight (the workspace keeps its last one; item history keeps its
    observations, without the sync's id). Settled failure occurrences go with them; open
    ones stay, whatever their age."""
    cutoff = timezone.now() - timedelta(days=conf.history_days())
    keep = WorkspaceSyncState.objects.exclude(last_sync_run=None).values(
        "last_sync_run"
    )
    syncs, _ = (
        SyncRun.objects.filter(finished_at__lt=cutoff)
        .exclude(status__in=SyncRun.ACTIVE_STATUSES)
        .exclude(pk__in=keep)
        .delete()
    )
    checks, _ = MirrorCheck.objects.filter(finished_at__lt=cutoff).delete()
    settled = occurrences.prune(cutoff)
    return {"syncs": syncs, "checks": checks, "occurrences": settled}


def _enqueue_now(sync_run_id: int, *, countdown: float = 0) -> None:
    try:
        _enqueue(sync_run_id, countdown)
    except Exception:
        logger.warning(
            "could not enqueue sync %s; the sweeper will try again",
            sync_run_id,
            exc_info=True,
        )


# --- running a sync -------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """What the task should do next: nothing, or retry after `retry_in` seconds."""

    retry_in: float | None = None


def retry_countdown(err: ControlRoomError, retries: int) -> float:
    """Exponential backoff with full jitter, at least Retry-After, capped (ECOSYSTEM.md B9)."""
    cap = conf.retry_cap_seconds()
    backoff = random.uniform(0, min(cap, conf.retry_base_seconds() * 2**retries))
    if isinstance(err, RateLimited) and err.retry_after:
        backoff = max(backoff, err.retry_after + random.uniform(0, 1))
    return min(cap, backoff)


def sync_run_execute(
    *, sync_run_id: int, can_retry: bool = False, retries: int = 0
) -> Outcome:
    """Run one SyncRun if it is still to do; safe to call twice for the same id (acks_late).

    Returns an Outcome telling the task whether to retry (transient Control Room errors).
    """
    sync_run = (
        SyncRun.objects.select_related("workspace__team").filter(pk=sync_run_id).first()
    )
    if sync_run is None or not sync_run.is_active:
        return Outcome()
    workspace = sync_run.workspace
    blocked = _blocked_reason(sync_run)
    if blocked:
        _finish(sync_run, SyncRun.Status.SKIPPED, error=blocked)
        return Outcome()
    lease = Lease.acquire(workspace.pk, f"{sync_run.pk}:{uuid.uuid4().hex[:16]}")
    if lease is None:
        if sync_run.status == SyncRun.Status.QUEUED:
            _lease_busy(sync_run)
        return Outcome()
    try:
        if not _claim(sync_run):
            return Outcome()
        if sync_run.attempt > conf.max_attempts():
            _finish(
                sync_run,
                SyncRun.Status.FAILED,
                error=f"Gave up after {sync_run.attempt - 1} attempts.",
            )
            return Outcome()
        return _run(sync_run, lease, can_retry=can_retry, retries=retries)
    finally:
        lease.release()
        _announce_if_finished(sync_run)


def _lease_busy(sync_run: SyncRun) -> None:
    """Another sync holds the workspace. A full sync is redundant then (the running one reads
    the same); a targeted sync (a webhook: a run changed) waits for it, a second at a time,
    so the changed run reaches the mirror seconds after the other sync ends, not a schedule
    interval later. Past `WORKROOM_SYNC_TARGETED_WAIT_SECONDS` it gives up and asks the
    dispatcher for a full sync, which reads the flagged run too."""
    waited = (timezone.now() - sync_run.created_at).total_seconds()
    if sync_run.target_run_external_id and waited < conf.targeted_wait_seconds():
        SyncRun.objects.filter(pk=sync_run.pk, status=SyncRun.Status.QUEUED).update(
            phase="waiting for the running sync"
        )
        _enqueue_now(sync_run.pk, countdown=conf.targeted_retry_seconds())
        return
    _finish(
        sync_run,
        SyncRun.Status.SKIPPED,
        error="Another sync of this workspace was running.",
    )
    if sync_run.target_run_external_id:
        _schedule_next(sync_run.workspace, delay=0)
    else:
        _sync_again_within(sync_run.workspace, conf.active_interval_seconds())


def _blocked_reason(sync_run: SyncRun) -> str:
    workspace = sync_run.workspace
    if not workspace.enabled:
        return "The workspace is disabled."
    if workspace.needs_attention and sync_run.trigger != SyncRun.Trigger.MANUAL:
        return "The workspace needs attention: " + (
            workspace.last_error or "check its API key."
        )
    return ""


def _claim(sync_run: SyncRun) -> bool:
    now = timezone.now()
    claimed = SyncRun.objects.filter(
        pk=sync_run.pk, status__in=SyncRun.ACTIVE_STATUSES
    ).update(
        status=SyncRun.Status.RUNNING,
        started_at=Coalesce(F("started_at"), now),
        attempt=F("attempt") + 1,
        phase="starting",
    )
    if claimed:
        sync_run.refresh_from_db()
    return bool(claimed)


def _run(sync_run: SyncRun, lease: Lease, *, can_retry: bool, retries: int) -> Outcome:
    workspace = sync_run.workspace
    try:
        client = build_client(
            workspace,
            max_retries=conf.client_max_retries(),
            timeout=conf.client_timeout(),
        )
    except SecretUnavailable:
        _needs_attention(
            workspace,
            "The stored API key cannot be decrypted; an admin must replace it.",
        )
        _finish(
            sync_run,
            SyncRun.Status.FAILED,
            error="The stored API key cannot be decrypted.",
        )
        return Outcome()
    progress = _Progress(sync_run, lease, client)
    sync = WorkspaceSync(
        workspace,
        client,
        sync_run_id=sync_run.pk,
        checkpoint=progress,
        deadline=time.monotonic() + conf.time_budget_seconds(),
        deep=sync_run.trigger == SyncRun.Trigger.MANUAL,
    )
    try:
        with client:
            result = (
                sync.run_one(
                    sync_run.target_run_external_id, requested_at=sync_run.created_at
                )
                if sync_run.target_run_external_id
                else sync.run_full()
            )
    except (AuthenticationFailed, PermissionDenied) as err:
        return _blocked_by_key(sync_run, sync.result, progress, err)
    except TransientError as err:
        return _transient(
            sync_run, sync.result, progress, err, can_retry=can_retry, retries=retries
        )
    except ControlRoomError as err:
        _finish(
            sync_run,
            SyncRun.Status.FAILED,
            error=str(err),
            result=sync.result,
            requests=progress.requests(),
        )
        _after_failure(workspace)
        return Outcome()
    except SoftTimeLimitExceeded:
        _finish(
            sync_run,
            SyncRun.Status.FAILED,
            error="Stopped at the time limit; the next sync continues where this one stopped.",
            result=sync.result,
            requests=progress.requests(),
        )
        _schedule_next(workspace, delay=0)
        return Outcome()
    except LeaseLost as err:
        _finish(
            sync_run,
            SyncRun.Status.FAILED,
            error=str(err),
            result=sync.result,
            requests=progress.requests(),
        )
        return Outcome()
    except DatabaseError as err:
        return _transient(
            sync_run, sync.result, progress, err, can_retry=can_retry, retries=retries
        )
    _succeeded(sync_run, result, progress.requests())
    return Outcome()


class _Progress:
    """Checkpoint callback: renews the lease and records progress, at most once a second."""

    def __init__(self, sync_run: SyncRun, lease: Lease, client: Any) -> None:
        self.sync_run = sync_run
        self.lease = lease
        self.client = client
        self.start_requests = int(client.requests_made)
        self._last = 0.0

    def requests(self) -> int:
        return int(self.client.requests_made) - self.start_requests

    def __call__(self, phase: str, result: SyncResult) -> None:
        if time.monotonic() - self._last < conf.progress_every_seconds():
            return
        self._last = time.monotonic()
        self.lease.renew()
        SyncRun.objects.filter(pk=self.sync_run.pk).update(
            phase=phase, **_count_fields(result, self.requests())
        )


def _count_fields(result: SyncResult, requests: int) -> dict[str, int]:
    counts = result.counts
    return {
        "requests_made": requests,
        "rows_created": counts.created,
        "rows_updated": counts.updated,
        "rows_gone": counts.gone,
        "runs_read": result.runs_read,
    }


def _finish(
    sync_run: SyncRun,
    status: str,
    *,
    error: str = "",
    phase: str = "",
    result: SyncResult | None = None,
    requests: int | None = None,
) -> None:
    now = timezone.now()
    fields: dict[str, Any] = {
        "status": status,
        "finished_at": now,
        "error": error[:2000],
        "phase": phase,
    }
    if result is not None:
        fields.update(_count_fields(result, requests or 0))
    SyncRun.objects.filter(pk=sync_run.pk).update(**fields)
    if status != SyncRun.Status.SKIPPED:
        WorkspaceSyncState.objects.filter(pk=sync_run.workspace_id).update(
            last_sync_run=sync_run
        )
    for name, value in fields.items():
        setattr(sync_run, name, value)


def _announce_if_finished(sync_run: SyncRun) -> None:
    """Tell the floors above a sync ended, once its bookkeeping (the workspace's failure
    count, needs-attention flag, next sync) is written. send_robust logs a receiver's
    exception (django.dispatch) and carries on."""
    if sync_run.status in (SyncRun.Status.SUCCEEDED, SyncRun.Status.FAILED):
        sync_finished.send_robust(sender=SyncRun, sync_run=sync_run)


def _succeeded(sync_run: SyncRun, result: SyncResult, requests: int) -> None:
    workspace = sync_run.workspace
    phase = "partial: the next sync continues" if result.partial else ""
    _finish(
        sync_run,
        SyncRun.Status.SUCCEEDED,
        result=result,
        requests=requests,
        phase=phase,
    )
    state = WorkspaceSyncState.objects.filter(pk=workspace.pk)
    if not sync_run.target_run_external_id:
        state.update(last_success_at=sync_run.started_at, consecutive_failures=0)
    if result.partial:
        _schedule_next(workspace, delay=0)
    elif has_active_work(workspace):
        _sync_again_within(workspace, conf.active_interval_seconds())
    Workspace.objects.filter(
        pk=workspace.pk, last_error__startswith=ATTENTION_PREFIX
    ).update(needs_attention=False, last_error="")


def has_active_work(workspace: Workspace) -> bool:
    """Does the mirror hold anything still moving: an active item, or a run to re-read?"""
    return (
        WorkItem.objects.filter(
            workspace=workspace, state__in=ITEM_ACTIVE_STATES, gone_at__isnull=True
        ).exists()
        or ProcessRun.objects.filter(
            workspace=workspace, needs_refresh=True, gone_at__isnull=True
        ).exists()
    )


def _sync_again_within(workspace: Workspace, seconds: float) -> None:
    """Bring the next scheduled sync forward to at most `seconds` from now."""
    soon = timezone.now() + timedelta(seconds=seconds)
    WorkspaceSyncState.objects.filter(pk=workspace.pk).filter(
        Q(next_sync_at__isnull=True) | Q(next_sync_at__gt=soon)
    ).update(next_sync_at=soon)


def _after_failure(workspace: Workspace) -> None:
    WorkspaceSyncState.objects.filter(pk=workspace.pk).update(
        consecutive_failures=F("consecutive_failures") + 1
    )


def _transient(
    sync_run: SyncRun,
    result: SyncResult,
    progress: _Progress,
    err: Exception,
    *,
    can_retry: bool,
    retries: int,
) -> Outcome:
    message = (
        str(err)
        if isinstance(err, ControlRoomError)
        else f"Database error: {type(err).__name__}"
    )
    if not can_retry:
        _finish(
            sync_run,
            SyncRun.Status.FAILED,
            error=f"{message} (gave up after {retries} retries)",
            result=result,
            requests=progress.requests(),
        )
        _after_failure(sync_run.workspace)
        return Outcome()
    countdown = (
        retry_countdown(err, retries)
        if isinstance(err, ControlRoomError)
        else conf.retry_base_seconds()
    )
    SyncRun.objects.filter(pk=sync_run.pk).update(
        status=SyncRun.Status.QUEUED,
        due_at=timezone.now() + timedelta(seconds=countdown),
        enqueued_at=timezone.now(),
        error=message[:2000],
        phase=f"retrying in {countdown:.0f} s",
        **_count_fields(result, progress.requests()),
    )
    return Outcome(retry_in=countdown)


def _blocked_by_key(
    sync_run: SyncRun, result: SyncResult, progress: _Progress, err: ControlRoomError
) -> Outcome:
    if isinstance(err, AuthenticationFailed):
        reason = "Control Room rejected the API key (401); an admin must replace it."
    else:
        reason = f"The API key lacks a permission the sync needs (403): {err.message}"
    _finish(
        sync_run,
        SyncRun.Status.FAILED,
        error=reason,
        result=result,
        requests=progress.requests(),
    )
    _after_failure(sync_run.workspace)
    _needs_attention(sync_run.workspace, reason, status=err.status, code=err.code)
    return Outcome()


def _needs_attention(
    workspace: Workspace,
    reason: str,
    *,
    status: int | None = None,
    code: str | None = None,
) -> None:
    flipped = Workspace.objects.filter(pk=workspace.pk, needs_attention=False).update(
        needs_attention=True, last_error=(ATTENTION_PREFIX + reason)[:500]
    )
    if flipped:
        record(
            None,
            team=workspace.team,
            action="workspace.sync_blocked",
            obj=workspace,
            summary=f"Syncing {workspace.name} stopped: {reason}"[:500],
            data={"status": status, "code": code},
        )


def next_sync_at(workspace: Workspace) -> datetime | None:
    state = WorkspaceSyncState.objects.filter(pk=workspace.pk).first()
    return state.next_sync_at if state else None
