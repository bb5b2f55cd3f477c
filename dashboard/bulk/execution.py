"""Running a confirmed bulk operation: enqueueing chunks, executing one chunk, cancelling,
finishing, and the sweeper that re-enqueues chunks whose message was lost.

Every transition is a conditional UPDATE whose row count decides who won, so a duplicated or
redelivered task, a sweeper racing a worker, or two operators never apply an action twice:
- a chunk is claimed (queued and due, or running with an expired lease) before any work;
- items go queued → in_flight just before the batch call, under a renewed lease;
- an item found in_flight by a later delivery is re-read from Control Room, never re-sent blindly;
- operation counters move by the row counts of those UPDATEs (F() expressions).
"""

from __future__ import annotations

import logging
import random
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded
from django.contrib.auth.models import AnonymousUser
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone

from dashboard.accounts.models import Team, User
from dashboard.audit import services as audit
from dashboard.audit.services import Actor
from dashboard.bulk import conf, freshness
from dashboard.bulk.models import BulkChunk, BulkItem, BulkOperation
from dashboard.bulk.patching import send_patched_payload
from dashboard.lib import leases
from dashboard.lib.leases import LeaseLost
from dashboard.lib.secretbox import SecretUnavailable
from dashboard.workitems.actions import (
    BATCH_ACTIONS,
    RETRY,
    Deferred,
    Outcome,
    Target,
    Verdict,
    actor_refusal,
    apply,
    reconcile,
    refresh_counts,
)
from dashboard.workspaces.errors import describe
from dashboard.workspaces.models import Workspace
from dashboard.workspaces.services import build_client
from robocorp_api.client import ControlRoomClient

logger = logging.getLogger(__name__)

_COUNTER: dict[str, str] = {
    BulkItem.State.DONE: "done_count",
    BulkItem.State.SKIPPED: "skipped_count",
    BulkItem.State.FAILED: "failed_count",
    BulkItem.State.CANCELLED: "cancelled_count",
}


class Release(Exception):
    """Stop this delivery; the chunk goes back to queued and is retried in `delay` seconds."""

    def __init__(
        self, delay: float, note: str, *, transient: bool, counted: bool = True
    ) -> None:
        super().__init__(note)
        self.delay = delay
        self.note = note
        self.transient = transient
        # False: waiting on our own work (another chunk reading the failed list), neither
        # Control Room's trouble nor a rate limit.
        self.counted = counted


@dataclass(frozen=True)
class ChunkOutcome:
    status: str  # noop | done | released | failed | cancelled
    retry_in: float | None = None


# --- enqueueing --------------------------------------------------------------------------------


def enqueue_chunks_on_commit(chunk_ids: Sequence[int]) -> None:
    """Enqueue the chunks' tasks once the transaction commits.

    Not `delay_on_commit`: its callback is not robust, so a broker outage would turn into a 500
    AFTER the operation was saved (ECOSYSTEM.md B9). Here a failed publish is logged; the chunks
    stay queued with no `enqueued_at`, the page says "waiting for a worker", and the sweeper
    enqueues them when the broker is back.
    """
    ids = list(chunk_ids)
    transaction.on_commit(lambda: enqueue_due(ids), robust=True)


def enqueue_due(chunk_ids: Iterable[int]) -> int:
    """Publish the tasks of those chunks that are due within the countdown cap; return how many."""
    from kombu.exceptions import OperationalError

    from dashboard.bulk.tasks import run_chunk as run_chunk_task

    now = timezone.now()
    horizon = now + timedelta(seconds=conf.retry_cap_seconds())
    chunks = BulkChunk.objects.filter(
        pk__in=list(chunk_ids), state=BulkChunk.State.QUEUED, not_before__lte=horizon
    ).values_list("pk", "not_before")
    options: dict[str, Any] = {"retry_policy": {"max_retries": 1, "interval_start": 0}}
    if queue := conf.bulk_queue():
        options["queue"] = queue
    sent: list[int] = []
    try:
        for pk, not_before in chunks:
            countdown = max(0.0, (not_before - now).total_seconds())
            if countdown:
                options["countdown"] = countdown
            else:
                options.pop("countdown", None)
            run_chunk_task.apply_async(args=(pk,), **options)
            sent.append(pk)
    except (OperationalError, ConnectionError, OSError) as err:
        logger.warning(
            "bulk: broker unavailable, %d chunk(s) left for the sweeper (%s)",
            len(list(chunk_ids)) - len(sent),
            type(err).__name__,
        )
    if sent:
        BulkChunk.objects.filter(pk__in=sent).update(enqueued_at=now)
    return len(sent)


# --- claiming ----------------------------------------------------------------------------------


def _claim(chunk_id: int, owner: str) -> leases.Lease:
    """The claim of one delivery on a chunk (dashboard.lib.leases)."""
    return leases.Lease(
        BulkChunk.objects.filter(pk=chunk_id),
        owner,
        conf.lease_seconds(),
        f"the claim on chunk {chunk_id}",
    )


def claim_chunk(chunk_id: int, owner: str) -> BulkChunk | None:
    """Take the chunk for this delivery, or return None (done, someone else's, not yet due)."""
    now = timezone.now()
    claimable = Q(state=BulkChunk.State.QUEUED, not_before__lte=now) | Q(
        state=BulkChunk.State.RUNNING, lease_until__lt=now
    )
    taken = leases.Lease.take(
        BulkChunk.objects.filter(pk=chunk_id, attempts__lt=conf.max_attempts()),
        owner,
        conf.lease_seconds(),
        claimable=claimable,
        state=BulkChunk.State.RUNNING,
        attempts=F("attempts") + 1,
        started_at=now,
    )
    if taken is None:
        return None
    chunk = BulkChunk.objects.select_related(
        "operation", "operation__created_by", "workspace", "workspace__team"
    ).get(pk=chunk_id)
    _claim_items(chunk)
    BulkOperation.objects.filter(
        pk=chunk.operation_id, state=BulkOperation.State.QUEUED
    ).update(state=BulkOperation.State.RUNNING, started_at=now)
    return chunk


def _unclaimed(chunk: BulkChunk) -> QuerySet[BulkItem]:
    """The chunk's items its first delivery has yet to claim (none for a chunk written
    with its items claimed)."""
    if chunk.first_item_id is None or chunk.last_item_id is None:
        return BulkItem.objects.none()
    # Read by primary key range alone, then picked here: with the operation and state in
    # the WHERE clause PostgreSQL chose the (operation, state) index and read every
    # pending item of the operation for each chunk.
    in_range = BulkItem.objects.filter(
        pk__range=(chunk.first_item_id, chunk.last_item_id)
    ).values_list("pk", "operation_id", "workspace_id", "state")
    pks = [
        pk
        for pk, operation_id, workspace_id, state in in_range
        if operation_id == chunk.operation_id
        and workspace_id == chunk.workspace_id
        and state == BulkItem.State.PENDING
    ]
    return BulkItem.objects.filter(pk__in=pks, state=BulkItem.State.PENDING)


def _claim_items(chunk: BulkChunk) -> None:
    """Claim the chunk's items (pending → queued) under its lease; an item another
    operation claimed since the confirm is skipped, as the confirm would have skipped it.

    The partial unique index is the arbiter: a claim that collides rolls back whole, the
    items held elsewhere are skipped, and the rest is claimed again."""
    for attempt in range(5):
        try:
            with transaction.atomic():
                _unclaimed(chunk).update(state=BulkItem.State.QUEUED, chunk=chunk)
            return
        except IntegrityError:
            if attempt == 4:
                raise
            _skip_held_elsewhere(chunk)


def _skip_held_elsewhere(chunk: BulkChunk) -> None:
    pending = _unclaimed(chunk)
    held = (
        BulkItem.objects.filter(
            state__in=BulkItem.CLAIM_STATES,
            work_item_id__in=pending.values("work_item_id"),
        )
        .exclude(operation_id=chunk.operation_id)
        .values_list("work_item_id", "operation_id")
    )
    by_operation: dict[int, list[int]] = defaultdict(list)
    for work_item_id, other in held:
        by_operation[other].append(work_item_id)
    for other, work_item_ids in by_operation.items():
        finish_items(
            chunk.operation_id,
            pending.filter(work_item_id__in=work_item_ids).values_list("pk", flat=True),
            BulkItem.State.SKIPPED,
            f"Already being processed by bulk operation #{other}.",
            from_states=(BulkItem.State.PENDING,),
        )


def _release(chunk: BulkChunk, owner: str, release: Release) -> None:
    """Give the chunk back (queued, due after the delay); a rate limit is not an attempt."""
    now = timezone.now()
    fields: dict[str, Any] = {
        "state": BulkChunk.State.QUEUED,
        "not_before": now + timedelta(seconds=release.delay),
        "enqueued_at": now,
        "attempts": F("attempts") - 1,
        "last_error": release.note[:500],
    }
    if not release.counted:
        pass
    elif release.transient:
        fields["transient_retries"] = F("transient_retries") + 1
    else:
        fields["rate_limited"] = F("rate_limited") + 1
    _claim(chunk.pk, owner).release(**fields)


# --- item transitions --------------------------------------------------------------------------


def finish_items(
    operation_id: int,
    pks: Iterable[int],
    state: str,
    reason: str = "",
    *,
    from_states: Sequence[str] = BulkItem.CLAIM_STATES,
) -> int:
    """Move items to a final state exactly once and count them on the operation."""
    pks = list(pks)
    if not pks:
        return 0
    n = BulkItem.objects.filter(pk__in=pks, state__in=from_states).update(
        state=state, reason=reason[:300], finished_at=timezone.now()
    )
    if n:
        BulkOperation.objects.filter(pk=operation_id).update(
            **{_COUNTER[state]: F(_COUNTER[state]) + n}
        )
    return n


def _finish_grouped(operation_id: int, verdicts: dict[int, tuple[str, str]]) -> None:
    groups: dict[tuple[str, str], list[int]] = defaultdict(list)
    for pk, verdict in verdicts.items():
        groups[verdict].append(pk)
    for (state, reason), pks in groups.items():
        finish_items(operation_id, pks, state, reason)


# --- running a chunk ---------------------------------------------------------------------------


def run_chunk(chunk_id: int, *, owner: str | None = None) -> ChunkOutcome:
    """Execute one chunk; return what the task should do next.

    A chunk that cannot be claimed is a no-op (duplicate or redelivered message). Rate limits
    and unreachable Control Room release the chunk with a countdown; everything else finishes
    its items (done / skipped / failed, each with a reason).
    """
    owner = owner or uuid.uuid4().hex
    chunk = claim_chunk(chunk_id, owner)
    if chunk is None:
        return ChunkOutcome("noop")
    op = chunk.operation
    try:
        if op.cancel_requested_at is None:
            op = _recheck_actor(op, chunk)
        if op.cancel_requested_at is not None:
            _cancel_chunk_items(chunk, op.cancel_reason)
            _claim(chunk.pk, owner).release(
                state=BulkChunk.State.CANCELLED, finished_at=timezone.now()
            )
            return ChunkOutcome("cancelled")
        _work(chunk, op, owner)
        _complete(chunk, owner)
        return ChunkOutcome("done")
    except Release as release:
        if (
            release.transient
            and chunk.transient_retries >= conf.max_transient_retries()
        ):
            _give_up(chunk, owner, f"Control Room kept failing: {release.note}")
            return ChunkOutcome("failed")
        _release(chunk, owner, release)
        return ChunkOutcome("released", retry_in=release.delay)
    except LeaseLost:
        return ChunkOutcome("noop")
    except SoftTimeLimitExceeded:
        _release(chunk, owner, Release(1.0, "time limit reached", transient=True))
        return ChunkOutcome("released", retry_in=1.0)
    finally:
        maybe_finish(op.pk)


def _complete(chunk: BulkChunk, owner: str) -> None:
    left = BulkItem.objects.filter(chunk=chunk, state__in=BulkItem.CLAIM_STATES)
    if left.exists():
        raise Release(_backoff(chunk), "items left to send", transient=True)
    _claim(chunk.pk, owner).release(
        state=BulkChunk.State.DONE, finished_at=timezone.now()
    )


def _give_up(chunk: BulkChunk, owner: str, note: str) -> None:
    items = BulkItem.objects.filter(chunk=chunk)
    finish_items(
        chunk.operation_id,
        items.filter(state=BulkItem.State.QUEUED).values_list("pk", flat=True),
        BulkItem.State.FAILED,
        note,
    )
    finish_items(
        chunk.operation_id,
        _unclaimed(chunk).values_list("pk", flat=True),
        BulkItem.State.FAILED,
        f"{note} Not sent.",
        from_states=(BulkItem.State.PENDING,),
    )
    finish_items(
        chunk.operation_id,
        items.filter(state=BulkItem.State.IN_FLIGHT).values_list("pk", flat=True),
        BulkItem.State.FAILED,
        f"{note} (the last attempt's outcome is unknown)",
    )
    BulkChunk.objects.filter(pk=chunk.pk).filter(
        Q(lease_owner=owner) | Q(lease_owner="")
    ).update(
        state=BulkChunk.State.FAILED,
        finished_at=timezone.now(),
        last_error=note[:500],
        lease_owner="",
        lease_until=None,
    )


def _backoff(chunk: BulkChunk) -> float:
    base = conf.retry_base_seconds() * (2 ** min(chunk.transient_retries, 8))
    return min(float(conf.retry_cap_seconds()), random.uniform(base / 2, base) + 0.1)


def _work(chunk: BulkChunk, op: BulkOperation, owner: str) -> None:
    items = list(BulkItem.objects.filter(chunk=chunk, state__in=BulkItem.CLAIM_STATES))
    if not items:
        return
    try:
        client = build_client(
            chunk.workspace, max_retries=2, backoff_base=0.2, backoff_max=2
        )
    except SecretUnavailable as err:
        _finish_grouped(
            op.pk, {i.pk: (BulkItem.State.FAILED, describe(err)) for i in items}
        )
        return
    with client:
        _run_items(client, chunk, op, owner, items)


def _target(item: BulkItem) -> Target:
    # A patched item is judged on its state after our own payload update.
    return Target(
        item.work_item_id,
        item.external_id,
        item.process_id,
        seen_updated_at=item.patched_seen_at or item.preview_state_updated_at,
        key=item.pk,
    )


def _send_patches(
    client: ControlRoomClient, chunk: BulkChunk, op: BulkOperation
) -> None:
    """Retry with patch, first step: every queued item of the chunk not patched yet gets its
    patched payload (sent once, versioned once); items it cannot be sent to are finished.

    Raises:
        Release: Control Room asked to wait or was unreachable.
    """
    actor = Actor.of(op.created_by)
    note = f"bulk operation #{op.pk}"
    todo = BulkItem.objects.filter(
        chunk=chunk, state=BulkItem.State.QUEUED, patched_seen_at__isnull=True
    )
    for item in todo:
        try:
            done = send_patched_payload(
                client,
                chunk.workspace,
                actor,
                Target(
                    item.work_item_id,
                    item.external_id,
                    item.process_id,
                    seen_updated_at=item.preview_state_updated_at,
                    key=item.pk,
                ),
                item.patched_payload,
                operation_note=note,
            )
        except Deferred as deferred:
            delay = (
                _backoff(chunk)
                if deferred.transient
                else _rate_delay(deferred.retry_after)
            )
            raise Release(
                delay, deferred.message, transient=deferred.transient
            ) from None
        if done.seen_at is not None:
            BulkItem.objects.filter(pk=item.pk).update(patched_seen_at=done.seen_at)
        else:
            _finish_grouped(op.pk, {item.pk: (_FINAL[done.outcome], done.message)})


def _run_items(
    client: ControlRoomClient,
    chunk: BulkChunk,
    op: BulkOperation,
    owner: str,
    items: list[BulkItem],
) -> None:
    """Apply the chunk's action to its items through the one pipeline (`workitems.actions`).

    Items found in flight were marked by a delivery that died: they may have been sent, so
    they are reconciled (re-read), never re-sent blindly.
    """
    action = RETRY if op.action == "retry_with_patch" else BATCH_ACTIONS[op.action]
    in_flight = [_target(i) for i in items if i.state == BulkItem.State.IN_FLIGHT]
    if in_flight:
        _decide(
            chunk,
            op,
            lambda: reconcile(action, in_flight, chunk.workspace, client),
        )
    if op.action == "retry_with_patch":
        _send_patches(client, chunk, op)
    if in_flight or op.action == "retry_with_patch":  # states moved: read them again
        items = list(BulkItem.objects.filter(chunk=chunk, state=BulkItem.State.QUEUED))
    targets = [_target(i) for i in items if i.state == BulkItem.State.QUEUED]
    if not targets:
        return
    fresh_within = _fresh_within(client, chunk, op, owner, action.only_failed)

    def take_in_hand(to_send: list[Target]) -> None:
        with transaction.atomic():
            _claim(chunk.pk, owner).renew(state=BulkChunk.State.RUNNING)
            marked = BulkItem.objects.filter(
                pk__in=[t.key for t in to_send], state=BulkItem.State.QUEUED
            ).update(state=BulkItem.State.IN_FLIGHT)
        if marked != len(to_send):
            raise LeaseLost("items changed under this delivery")
        BulkChunk.objects.filter(pk=chunk.pk).update(batch_calls=F("batch_calls") + 1)

    _decide(
        chunk,
        op,
        lambda: apply(
            action,
            targets,
            Actor.of(op.created_by),
            workspace=chunk.workspace,
            client=client,
            fresh_within=fresh_within,
            before_send=take_in_hand,
            # 100 GETs per chunk would halve the throughput; the sync watches the items
            # until they settle. One operation is audited whole (confirm and finish).
            read_back=False,
            audit_each=False,
            include_verified=op.include_verified,
            recount=not _recounts_later(op),
        ),
    )
    if _recounts_later(op):
        _recount_soon(op, chunk.workspace)


# A recount (triage's failure groups, the processes' item counts) reads the workspace's
# failed items, not just the chunk's: after each of 400 chunks it was most of a 100,000-item
# operation's database time. A multi-chunk operation recounts at most this often per
# workspace, and once more when it finishes.
RECOUNT_EVERY_SECONDS = 2


def _recounts_later(op: BulkOperation) -> bool:
    return op.queued_count > conf.chunk_size()


def _recount_soon(op: BulkOperation, workspace: Workspace) -> None:
    """Recount the workspace unless another chunk did within RECOUNT_EVERY_SECONDS."""
    if cache.add(f"bulk:recount:{workspace.pk}", 1, timeout=RECOUNT_EVERY_SECONDS):
        _recount(op, workspace)


def _recount(op: BulkOperation, workspace: Workspace) -> None:
    processes = (
        BulkItem.objects.filter(operation=op, workspace=workspace)
        .order_by()
        .values_list("process_id", flat=True)
        .distinct()
    )
    refresh_counts(workspace, [pk for pk in processes if pk is not None])


def _fresh_within(
    client: ControlRoomClient,
    chunk: BulkChunk,
    op: BulkOperation,
    owner: str,
    only_failed: bool,
) -> timedelta:
    """How recently a mirror row must have been seen to be trusted without a re-read: within
    WORKROOM_BULK_STALE_SECONDS, or by this operation's listing of the failed items
    (`freshness`), whichever reaches further back.

    Raises:
        Release: another chunk is reading the failed list; this one waits a moment.
    """
    window = timedelta(seconds=conf.stale_after_seconds())
    if not only_failed:
        return window
    try:
        since = freshness.listed_at(
            op,
            chunk.workspace,
            client,
            lambda: _claim(chunk.pk, owner).renew(state=BulkChunk.State.RUNNING),
        )
    except freshness.ListingUnderWay:
        raise Release(
            1.0,
            "waiting for the failed list to be read",
            transient=False,
            counted=False,
        ) from None
    if since is None:
        return window
    return max(window, timezone.now() - since)


_FINAL = {
    Outcome.DONE: BulkItem.State.DONE,
    Outcome.SKIPPED: BulkItem.State.SKIPPED,
    Outcome.FAILED: BulkItem.State.FAILED,
}


def _decide(
    chunk: BulkChunk, op: BulkOperation, step: Callable[[], list[Verdict]]
) -> None:
    """Record the verdicts of a pipeline step; release the chunk when something is left.

    Raises:
        Release: Control Room asked to wait or was unreachable, or items are to be resent.
    """
    try:
        verdicts = step()
    except Deferred as deferred:
        _record(op, deferred.decided)
        delay = (
            _backoff(chunk) if deferred.transient else _rate_delay(deferred.retry_after)
        )
        raise Release(delay, deferred.message, transient=deferred.transient) from None
    _record(op, verdicts)
    unsent = [v for v in verdicts if v.outcome is Outcome.UNSENT]
    if unsent:
        raise Release(_backoff(chunk), unsent[0].message, transient=True)


def _record(op: BulkOperation, verdicts: list[Verdict]) -> None:
    """Finish decided items; items certainly not applied go back to queued."""
    _finish_grouped(
        op.pk,
        {
            v.target.key: (_FINAL[v.outcome], v.message)
            for v in verdicts
            if v.outcome is not Outcome.UNSENT
        },
    )
    BulkItem.objects.filter(
        pk__in=[v.target.key for v in verdicts if v.outcome is Outcome.UNSENT],
        state=BulkItem.State.IN_FLIGHT,
    ).update(state=BulkItem.State.QUEUED)


def _rate_delay(retry_after: float | None) -> float:
    wait = retry_after if retry_after else 5.0
    return min(float(conf.retry_cap_seconds()), wait + random.uniform(0, 1))


# --- cancel and finish ---------------------------------------------------------------------------


def _cancel_chunk_items(chunk: BulkChunk, reason: str = "") -> None:
    note = f"{reason} Not sent." if reason else "Cancelled before it was sent."
    finish_items(
        chunk.operation_id,
        BulkItem.objects.filter(chunk=chunk, state=BulkItem.State.QUEUED).values_list(
            "pk", flat=True
        ),
        BulkItem.State.CANCELLED,
        note,
        from_states=(BulkItem.State.QUEUED,),
    )
    finish_items(
        chunk.operation_id,
        _unclaimed(chunk).values_list("pk", flat=True),
        BulkItem.State.CANCELLED,
        note,
        from_states=(BulkItem.State.PENDING,),
    )


def _recheck_actor(op: BulkOperation, chunk: BulkChunk) -> BulkOperation:
    """Cancel the operation when its creator may no longer act in the chunk's team (demoted,
    removed, account deleted); return the operation as it is now."""
    refusal = actor_refusal(Actor.of(op.created_by), chunk.workspace)
    if refusal:
        _request_cancel(op, "Workroom", f"Stopped: {refusal}")
        op.refresh_from_db()
    return op


def _request_cancel(op: BulkOperation, by_label: str, reason: str = "") -> int:
    """Mark the operation cancelled (once) and cancel its chunks not started; return how many."""
    now = timezone.now()
    BulkOperation.objects.filter(
        pk=op.pk,
        state__in=BulkOperation.ACTIVE_STATES,
        cancel_requested_at__isnull=True,
    ).update(
        cancel_requested_at=now, cancelled_by_label=by_label, cancel_reason=reason[:300]
    )
    reason = (
        BulkOperation.objects.filter(pk=op.pk)
        .values_list("cancel_reason", flat=True)
        .first()
        or ""
    )
    cancelled = 0
    waiting = BulkChunk.objects.filter(
        operation=op, state=BulkChunk.State.QUEUED
    ).exclude(items__state=BulkItem.State.IN_FLIGHT)
    for chunk in list(waiting):
        if BulkChunk.objects.filter(pk=chunk.pk, state=BulkChunk.State.QUEUED).update(
            state=BulkChunk.State.CANCELLED, finished_at=now
        ):
            _cancel_chunk_items(chunk, reason)
            cancelled += 1
    return cancelled


def cancel(op: BulkOperation, user: User | AnonymousUser) -> int:
    """Ask an operation to stop: chunks not started are cancelled, a running one finishes.

    Returns the number of chunks cancelled now.
    """
    cancelled = _request_cancel(op, user.get_username())
    maybe_finish(op.pk)
    return cancelled


def maybe_finish(operation_id: int) -> bool:
    """Finish the operation if no chunk is left to run; exactly one caller wins and audits."""
    if BulkChunk.objects.filter(
        operation_id=operation_id,
        state__in=(BulkChunk.State.QUEUED, BulkChunk.State.RUNNING),
    ).exists():
        return False
    op = BulkOperation.objects.filter(pk=operation_id).first()
    if op is None or not op.is_active:
        return False
    final = _final_state(op)
    won = BulkOperation.objects.filter(
        pk=operation_id, state__in=BulkOperation.ACTIVE_STATES
    ).update(state=final, finished_at=timezone.now())
    if won:
        op.refresh_from_db()
        if _recounts_later(op):
            for workspace in Workspace.objects.filter(
                pk__in=BulkChunk.objects.filter(operation=op).values("workspace_id")
            ):
                _recount(op, workspace)
        _audit_finished(op)
    return bool(won)


def _final_state(op: BulkOperation) -> str:
    if op.cancel_requested_at is not None:
        return BulkOperation.State.CANCELLED
    if op.failed_count and op.done_count:
        return BulkOperation.State.PARTIALLY_FAILED
    if op.failed_count:
        return BulkOperation.State.FAILED
    return BulkOperation.State.SUCCEEDED


def summary(op: BulkOperation) -> str:
    verb = op.get_action_display().lower()
    parts = [f"{op.done_count} done", f"{op.skipped_count} skipped"]
    parts.append(f"{op.failed_count} failed")
    if op.cancelled_count:
        parts.append(f"{op.cancelled_count} cancelled")
    return (
        f"Bulk {verb} #{op.pk} {op.get_state_display().lower()}: "
        f"{', '.join(parts)} of {op.total} items"
    )


def _audit_finished(op: BulkOperation) -> None:
    for team in Team.objects.filter(pk__in=op.team_ids):
        audit.record(
            None,
            team=team,
            action=f"bulk.{op.action}.finished",
            obj=op,
            summary=f"{summary(op)} — reason: {op.reason}"
            + (f" — {op.cancel_reason}" if op.cancel_reason else ""),
            data={
                "operation_id": op.pk,
                "state": op.state,
                "cancel_reason": op.cancel_reason,
                "done": op.done_count,
                "skipped": op.skipped_count,
                "failed": op.failed_count,
                "cancelled": op.cancelled_count,
            },
            actor=op.created_by,
        )


# --- the sweeper ---------------------------------------------------------------------------------


def sweep_chunks(now: datetime | None = None) -> dict[str, int]:
    """Recover from lost messages and dead workers; the database says what is left to do.

    - running chunks whose lease expired go back to queued (or fail after max attempts);
    - queued chunks never enqueued (broker down at confirm) or enqueued long ago and still not
      started (message lost in a Redis restart) are enqueued again;
    - operations whose chunks all ended are finished.
    """
    now = now or timezone.now()
    stats = {"orphaned": 0, "given_up": 0, "enqueued": 0, "finished": 0}
    for chunk in BulkChunk.objects.filter(
        state=BulkChunk.State.RUNNING, lease_until__lt=now
    ):
        if chunk.attempts >= conf.max_attempts():
            _give_up(
                chunk,
                chunk.lease_owner,
                f"Gave up after {chunk.attempts} attempts: the chunk's worker kept dying.",
            )
            stats["given_up"] += 1
        elif leases.reclaim(
            BulkChunk.objects.filter(pk=chunk.pk, state=BulkChunk.State.RUNNING),
            now,
            state=BulkChunk.State.QUEUED,
            enqueued_at=None,
            not_before=now,
        ):
            stats["orphaned"] += 1
    after = now - timedelta(seconds=conf.sweep_after_seconds())
    horizon = now + timedelta(seconds=conf.retry_cap_seconds())
    lost = BulkChunk.objects.filter(
        state=BulkChunk.State.QUEUED,
        operation__state__in=BulkOperation.ACTIVE_STATES,
    ).filter(
        Q(enqueued_at__isnull=True, not_before__lte=horizon)
        | Q(enqueued_at__lt=after, not_before__lt=after)
    )
    stats["enqueued"] = enqueue_due(list(lost.values_list("pk", flat=True)))
    for op_id in BulkOperation.objects.filter(
        state__in=BulkOperation.ACTIVE_STATES, confirmed_at__lt=after
    ).values_list("pk", flat=True):
        stats["finished"] += int(maybe_finish(op_id))
    return stats
