"""Evaluating a workspace's retry policies after a sync, exactly once per failure.

For every enabled policy of the workspace's team:

    breaker trips? → quiet hours? → open failures it matches, not yet claimed by it
    → attempts left? due (backoff)? → hourly cap → workspace throttle
    → claim (a unique row per policy, item and occurrence) → `actions.apply(RETRY)`
    as "policy <name>" → the claim records the verdict.

A duplicated or redelivered evaluation finds the occurrences claimed and does nothing. A
claim left "claimed" by a killed worker is reconciled once its lease has run out: the item
is re-read from Control Room (`actions.reconcile`); a retry that got through is recorded,
one that did not is released to be sent by a later evaluation. Never sent blindly twice.
"""

from __future__ import annotations

import logging
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from dashboard.audit.services import Actor, record_by
from dashboard.bulk import conf as bulk_conf
from dashboard.lib.leases import LeaseLost
from dashboard.lib.secretbox import SecretUnavailable
from dashboard.mirror.models import FailureOccurrence
from dashboard.mirror.services import occurrences
from dashboard.policies import breaker, conf, throttle
from dashboard.policies.matching import (
    Candidate,
    due_at,
    in_quiet_hours,
    matches,
)
from dashboard.policies.models import PolicyClaim, RetryPolicy
from dashboard.workitems.actions import (
    RETRY,
    Deferred,
    Outcome,
    Target,
    Verdict,
    actor_refusal,
    apply,
    reconcile,
)
from dashboard.workspaces.models import Workspace
from dashboard.workspaces.services import build_client
from robocorp_api.client import ControlRoomClient

logger = logging.getLogger(__name__)

# Open failures read (and decided) per batch; an evaluation stops reading once it has as
# many due as the policy may send this hour.
CANDIDATE_BATCH = 500

# Narrow which open failures policies may act on, e.g. leave out items a reviewer has
# verified: each filter takes and returns a FailureOccurrence queryset. Registered by an
# app's AppConfig.ready() (`add_candidate_filter`).
_CANDIDATE_FILTERS: dict[
    str, Callable[[QuerySet[FailureOccurrence]], QuerySet[FailureOccurrence]]
] = {}


def add_candidate_filter(
    name: str,
    narrow: Callable[[QuerySet[FailureOccurrence]], QuerySet[FailureOccurrence]],
) -> None:
    """Let only the failures `narrow` keeps be retried by policies (a name registers once)."""
    _CANDIDATE_FILTERS[name] = narrow


@dataclass
class Evaluation:
    """What one evaluation of a workspace did (counts by claim state, per policy)."""

    sent: int = 0
    skipped: int = 0
    failed: int = 0
    reconciled: int = 0
    notes: list[str] = field(default_factory=list)


def policies_for(workspace: Workspace) -> list[RetryPolicy]:
    """The enabled policies of the workspace's team that cover it (no workspace = all)."""
    return list(
        RetryPolicy.objects.filter(
            team_id=workspace.team_id, state=RetryPolicy.State.ENABLED
        )
        .filter(Q(workspaces=workspace) | Q(workspaces=None))
        .select_related("acting_user")
        .distinct()
        .order_by("name", "pk")
    )


def evaluate_workspace(
    workspace_id: int, *, owner: str | None = None, now: datetime | None = None
) -> Evaluation:
    """Reconcile expired claims and run every enabled policy of one workspace once."""
    result = Evaluation()
    workspace = Workspace.objects.select_related("team").filter(pk=workspace_id).first()
    if workspace is None or not workspace.enabled:
        return result
    policies = policies_for(workspace)
    stale = _stale_claims(workspace, timezone.now())
    if not policies and not stale.exists():
        return result
    owner = owner or uuid.uuid4().hex
    try:
        client = build_client(workspace, max_retries=2, backoff_base=0.2, backoff_max=2)
    except SecretUnavailable as err:
        logger.warning("policies: workspace %s key unavailable (%s)", workspace_id, err)
        return result
    with client:
        try:
            result.reconciled = reconcile_expired(workspace, client, owner)
            for policy in policies:
                _evaluate_policy(policy, workspace, client, owner, now, result)
        except Deferred as deferred:
            result.notes.append(f"Control Room asked to wait: {deferred.message}")
        except LeaseLost:
            result.notes.append("Another evaluation took over.")
    for note in result.notes:
        logger.info("policies: workspace %s: %s", workspace_id, note)
    return result


# --- candidates ---------------------------------------------------------------------------


def open_failures(workspace: Workspace) -> QuerySet[FailureOccurrence]:
    """The workspace's failures still open: the item is failed, present, not yet retried."""
    rows = FailureOccurrence.objects.filter(
        workspace=workspace,
        outcome=FailureOccurrence.Outcome.OPEN,
        left_failed_at__isnull=True,
        work_item__state="failed",
        work_item__gone_at__isnull=True,
    )
    for narrow in _CANDIDATE_FILTERS.values():
        rows = narrow(rows)
    return rows


def candidate_of(occ: FailureOccurrence) -> Candidate:
    item = occ.work_item
    return Candidate(
        workspace_id=occ.workspace_id,
        work_item_id=item.pk,
        external_id=item.external_id,
        process_id=item.process_id,
        process_name=item.process.name,
        number=occ.number,
        exception_type=occ.exception_type,
        exception_code=occ.exception_code,
        exception_message=occ.exception_message,
        failed_at=occ.failed_at,
        seen_at=occ.seen_at,
        item_created_at=item.created_at,
        occurrence_id=occ.pk,
    )


def unclaimed_candidates(
    policy: RetryPolicy, workspace: Workspace, now: datetime | None = None
) -> Iterator[list[Candidate]]:
    """Open failures of the workspace the policy matches and has not decided on yet, oldest
    first, in batches. With `now`, failures too recent for even the shortest backoff are
    left out in SQL (a big outage is not re-read whole by every evaluation)."""
    claimed = PolicyClaim.objects.filter(
        policy=policy,
        work_item=OuterRef("work_item"),
        occurrence_number=OuterRef("number"),
    )
    rows = open_failures(workspace).exclude(Exists(claimed))
    if policy.exception_codes:
        rows = rows.filter(exception_code__in=policy.exception_codes)
    if policy.process_names:
        rows = rows.filter(work_item__process__name__in=policy.process_names)
    if now is not None:
        ready = now - timedelta(minutes=min(policy.backoff_minutes or [0]))
        rows = rows.filter(Q(seen_at__lte=ready) | Q(failed_at__lte=ready))
    workspace_ids = list(policy.workspaces.values_list("pk", flat=True))
    batch: list[Candidate] = []
    ordered = rows.select_related("work_item", "work_item__process").order_by(
        "seen_at", "pk"
    )
    for occ in ordered.iterator(chunk_size=CANDIDATE_BATCH):
        candidate = candidate_of(occ)
        if matches(policy, candidate, workspace_ids):
            batch.append(candidate)
        if len(batch) >= CANDIDATE_BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def attempts_used(policy: RetryPolicy, work_item_ids: list[int]) -> Counter[int]:
    """Retries this policy sent per item (a claim still in flight counts as sent)."""
    rows = PolicyClaim.objects.filter(
        policy=policy,
        work_item_id__in=work_item_ids,
        state__in=(PolicyClaim.State.SENT, PolicyClaim.State.CLAIMED),
    ).values_list("work_item_id", flat=True)
    return Counter(rows)


def sent_last_hour(policy: RetryPolicy, now: datetime) -> int:
    return PolicyClaim.objects.filter(
        policy=policy,
        state__in=(PolicyClaim.State.SENT, PolicyClaim.State.CLAIMED),
        created_at__gte=now - timedelta(hours=1),
    ).count()


# --- one policy ----------------------------------------------------------------------------


def _evaluate_policy(
    policy: RetryPolicy,
    workspace: Workspace,
    client: ControlRoomClient,
    owner: str,
    now: datetime | None,
    result: Evaluation,
) -> None:
    moment = now or timezone.now()
    reason = breaker.trip_reason(policy, moment)
    if reason:
        breaker.open_breaker(policy, reason)
        result.notes.append(f"{policy.name}: breaker opened — {reason}")
        return
    if in_quiet_hours(policy, moment):
        return
    if not _may_act(policy, workspace, result):
        return
    room = max(0, policy.max_items_per_hour - sent_last_hour(policy, moment))
    due: list[Candidate] = []
    used: Counter[int] = Counter()
    for batch in unclaimed_candidates(policy, workspace, moment):
        used.update(attempts_used(policy, [c.work_item_id for c in batch]))
        exhausted = [c for c in batch if used[c.work_item_id] >= policy.max_attempts]
        _skip(policy, workspace, exhausted, owner, moment)
        result.skipped += len(exhausted)
        due += [
            c
            for c in batch
            if used[c.work_item_id] < policy.max_attempts
            and due_at(policy, c, used[c.work_item_id] + 1) <= moment
        ]
        if len(due) >= room:
            break
    due = due[: throttle.take(workspace.pk, min(len(due), room), moment)]
    if not due:
        return
    claims = _claim(policy, workspace, due, used, owner, moment)
    if claims:
        _send(policy, workspace, client, claims, owner, result)


def _may_act(policy: RetryPolicy, workspace: Workspace, result: Evaluation) -> bool:
    """Check the acting member's role and the workspace's key before claiming anything, so
    no failure is used up by a retry that could not be sent. A member who lost the right to
    act pauses the policy (an admin re-enables it, becoming its acting member)."""
    refusal = actor_refusal(policy_actor(policy), workspace)
    if refusal:
        breaker.pause(policy, f"Paused: {refusal} A team admin can enable it again.")
        result.notes.append(f"{policy.name}: {refusal}")
        return False
    blocked = workspace.why_not(RETRY.feature)
    if blocked:
        result.notes.append(f"{policy.name}: {blocked}")
        return False
    return True


def _skip(
    policy: RetryPolicy,
    workspace: Workspace,
    candidates: list[Candidate],
    owner: str,
    now: datetime,
) -> None:
    """Record, once per failure, that the policy has used all its attempts on the item."""
    if not candidates:
        return
    reason = f"All {policy.max_attempts} attempts used; left for a person."
    PolicyClaim.objects.bulk_create(
        [
            PolicyClaim(
                policy=policy,
                workspace=workspace,
                work_item_id=c.work_item_id,
                occurrence_number=c.number,
                occurrence_id=c.occurrence_id,
                failed_at=c.failed_at,
                exception_code=c.exception_code,
                state=PolicyClaim.State.SKIPPED,
                reason=reason,
                created_at=now,
                finished_at=now,
            )
            for c in candidates
        ],
        ignore_conflicts=True,
    )


def _claim(
    policy: RetryPolicy,
    workspace: Workspace,
    due: list[Candidate],
    used: Counter[int],
    owner: str,
    now: datetime,
) -> list[PolicyClaim]:
    """Insert a claim per failure; return the ones this evaluation won."""
    lease_until = timezone.now() + timedelta(seconds=conf.lease_seconds())
    PolicyClaim.objects.bulk_create(
        [
            PolicyClaim(
                policy=policy,
                workspace=workspace,
                work_item_id=c.work_item_id,
                occurrence_number=c.number,
                occurrence_id=c.occurrence_id,
                failed_at=c.failed_at,
                exception_code=c.exception_code,
                attempt=used[c.work_item_id] + 1,
                lease_owner=owner,
                lease_until=lease_until,
                created_at=now,
            )
            for c in due
        ],
        ignore_conflicts=True,  # a duplicate: another evaluation has that failure
    )
    return list(
        PolicyClaim.objects.filter(
            policy=policy,
            lease_owner=owner,
            state=PolicyClaim.State.CLAIMED,
            work_item_id__in=[c.work_item_id for c in due],
        ).select_related("work_item")
    )


def _target(claim: PolicyClaim) -> Target:
    item = claim.work_item
    return Target(
        item.pk,
        item.external_id,
        item.process_id,
        seen_updated_at=claim.failed_at,
        key=claim.pk,
    )


def policy_actor(policy: RetryPolicy) -> Actor:
    """The policy acts with its acting member's rights, under its own name."""
    return Actor(user=policy.acting_user, label=policy.actor_label)


def _send(
    policy: RetryPolicy,
    workspace: Workspace,
    client: ControlRoomClient,
    claims: list[PolicyClaim],
    owner: str,
    result: Evaluation,
) -> None:
    def renew(to_send: list[Target]) -> None:
        renewed = PolicyClaim.objects.filter(
            pk__in=[t.key for t in to_send],
            lease_owner=owner,
            state=PolicyClaim.State.CLAIMED,
        ).update(lease_until=timezone.now() + timedelta(seconds=conf.lease_seconds()))
        if renewed != len(to_send):
            raise LeaseLost("claims changed under this evaluation")

    size = bulk_conf.chunk_size()  # ids per Control Room batch call, as bulk sends them
    for start in range(0, len(claims), size):
        chunk = claims[start : start + size]
        try:
            verdicts = apply(
                RETRY,
                [_target(c) for c in chunk],
                policy_actor(policy),
                workspace=workspace,
                client=client,
                fresh_within=timedelta(seconds=conf.stale_after_seconds()),
                before_send=renew,
                read_back=False,
            )
        except Deferred as deferred:
            # Decided items are recorded; the undecided keep their claim until the lease
            # runs out, then `reconcile_expired` reads them back. Later chunks were never
            # sent: their failures go back to a later evaluation.
            _record(deferred.decided, owner, result)
            PolicyClaim.objects.filter(
                pk__in=[c.pk for c in claims[start + size :]],
                lease_owner=owner,
                state=PolicyClaim.State.CLAIMED,
            ).delete()
            raise
        _record(verdicts, owner, result)


_STATE = {
    Outcome.DONE: PolicyClaim.State.SENT,
    Outcome.SKIPPED: PolicyClaim.State.SKIPPED,
    Outcome.FAILED: PolicyClaim.State.FAILED,
}


def _record(verdicts: list[Verdict], owner: str, result: Evaluation) -> None:
    """Settle this evaluation's claims: one statement per (outcome, message), not per item."""
    now = timezone.now()
    groups: dict[tuple[Outcome, str], list[int]] = defaultdict(list)
    for verdict in verdicts:
        groups[(verdict.outcome, verdict.message[:300])].append(verdict.target.key)
    for (outcome, message), pks in groups.items():
        mine = PolicyClaim.objects.filter(
            pk__in=pks, lease_owner=owner, state=PolicyClaim.State.CLAIMED
        )
        if outcome is Outcome.UNSENT:
            # Certainly not applied: give the failures back to a later evaluation.
            mine.delete()
            continue
        n = mine.update(
            state=_STATE[outcome],
            reason=message,
            finished_at=now,
            lease_owner="",
            lease_until=None,
        )
        if outcome is Outcome.DONE:
            result.sent += n
        elif outcome is Outcome.SKIPPED:
            result.skipped += n
        else:
            result.failed += n


# --- claims of dead evaluations ------------------------------------------------------------


def _stale_claims(workspace: Workspace, now: datetime) -> QuerySet[PolicyClaim]:
    return PolicyClaim.objects.filter(
        workspace=workspace, state=PolicyClaim.State.CLAIMED, lease_until__lt=now
    )


def reconcile_expired(
    workspace: Workspace, client: ControlRoomClient, owner: str
) -> int:
    """Decide claims whose evaluation died, by re-reading their items; return how many.

    Applied → sent (audited now: the dead evaluation could not); unchanged → released for a
    later evaluation; changed otherwise → skipped.
    """
    now = timezone.now()
    lease_until = now + timedelta(seconds=conf.lease_seconds())
    stale = list(_stale_claims(workspace, now).values_list("pk", flat=True))
    if not stale:
        return 0
    # Take them over one conditional UPDATE: a concurrent sweep takes none of the same.
    PolicyClaim.objects.filter(
        pk__in=stale, state=PolicyClaim.State.CLAIMED, lease_until__lt=now
    ).update(lease_owner=owner, lease_until=lease_until)
    claims = list(
        PolicyClaim.objects.filter(
            pk__in=stale, lease_owner=owner, state=PolicyClaim.State.CLAIMED
        ).select_related("work_item", "policy", "policy__acting_user")
    )
    if not claims:
        return 0
    verdicts = reconcile(RETRY, [_target(c) for c in claims], workspace, client)
    by_pk = {c.pk: c for c in claims}
    for verdict in verdicts:
        claim = by_pk[verdict.target.key]
        if verdict.outcome is Outcome.DONE:
            _confirm_sent(claim, workspace)
    _record(verdicts, owner, Evaluation())
    return len(verdicts)


def _confirm_sent(claim: PolicyClaim, workspace: Workspace) -> None:
    actor = policy_actor(claim.policy)
    occurrences.mark_retried([claim.work_item_id], actor.label)
    record_by(
        actor,
        team=workspace.team,
        action="work_item.retry",
        obj=claim.work_item,
        summary=(
            f"Retried work item {claim.work_item.external_id} (confirmed by re-reading "
            "Control Room after an interrupted evaluation)"
        ),
        data={
            "workspace_id": workspace.pk,
            "work_item_id": claim.work_item.external_id,
            "process_id": claim.work_item.process_external_id,
            "outcome": "ok",
            "policy_id": claim.policy_id,
        },
    )
