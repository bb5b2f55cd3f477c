"""How retry policies plug into the floors below (registered in PoliciesConfig.ready()):
evaluation after every finished sync, the item page's history, the explorer's rows."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.db.models import Exists, OuterRef, QuerySet
from django.utils import timezone

from dashboard.mirror import conf as mirror_conf
from dashboard.mirror.models import FailureOccurrence, SyncRun
from dashboard.mirror.signals import sync_finished
from dashboard.policies import conf
from dashboard.policies.execution import add_candidate_filter
from dashboard.policies.models import PolicyClaim, RetryPolicy
from dashboard.workitems.models import ItemHandling, ReviewStatus

logger = logging.getLogger(__name__)


def register() -> None:
    from dashboard.alerts.extensions import add_digest_section
    from dashboard.policies import alerting, selectors
    from dashboard.policies.signals import breaker_opened
    from dashboard.workitems.extensions import (
        ItemSection,
        add_history_section,
        add_row_notes,
    )

    sync_finished.connect(
        _after_sync, sender=SyncRun, dispatch_uid="policies-evaluate-after-sync"
    )
    add_history_section(
        ItemSection("policies", "policies/_item_history.html", selectors.item_history)
    )
    add_row_notes("policies", selectors.next_retry_notes)
    breaker_opened.connect(
        alerting.on_breaker_opened, dispatch_uid="policies-breaker-alert"
    )
    add_digest_section("policies", alerting.digest_section)
    add_candidate_filter("not-verified", leave_out_verified)


def leave_out_verified(
    failures: QuerySet[FailureOccurrence],
) -> QuerySet[FailureOccurrence]:
    """A person marked these items verified (the data is right, do not retry): policies
    leave them alone, as bulk retries do unless someone ticks them in."""
    verified = ItemHandling.objects.filter(
        work_item=OuterRef("work_item"), review_status=ReviewStatus.VERIFIED
    )
    return failures.exclude(Exists(verified))


def _after_sync(sender: Any, sync_run: SyncRun, **kwargs: Any) -> None:
    if sync_run.status != SyncRun.Status.SUCCEEDED:
        return
    workspace_id = sync_run.workspace_id
    if not _has_work(workspace_id):
        return
    transaction.on_commit(lambda: enqueue(workspace_id), robust=True)


def _has_work(workspace_id: int) -> bool:
    return (
        RetryPolicy.objects.filter(
            team__workspaces=workspace_id, state=RetryPolicy.State.ENABLED
        ).exists()
        or PolicyClaim.objects.filter(
            workspace_id=workspace_id, state=PolicyClaim.State.CLAIMED
        ).exists()
    )


def enqueue(workspace_id: int) -> None:
    """Publish one evaluation of the workspace's policies (a broker outage is logged: the
    next sync or the sweep enqueues it again)."""
    from dashboard.policies.tasks import evaluate_workspace

    options: dict[str, Any] = {"retry_policy": {"max_retries": 1, "interval_start": 0}}
    if queue := conf.policy_queue():
        options["queue"] = queue
    try:
        evaluate_workspace.apply_async(args=(workspace_id,), **options)
    except Exception as err:  # kombu / redis errors: never fail the sync's commit
        logger.warning(
            "policies: could not enqueue evaluation of workspace %s (%s)",
            workspace_id,
            type(err).__name__,
        )


def sweep() -> int:
    """Enqueue an evaluation for every workspace with a claim whose lease ran out."""
    stale = (
        PolicyClaim.objects.filter(
            state=PolicyClaim.State.CLAIMED, lease_until__lt=timezone.now()
        )
        .values_list("workspace_id", flat=True)
        .distinct()
    )
    workspaces = list(stale)
    for workspace_id in workspaces:
        enqueue(workspace_id)
    return len(workspaces)


def prune() -> int:
    """Delete decided claims older than the sync history (WORKROOM_SYNC_HISTORY_DAYS) of
    items whose failure story is over (no open failure): they no longer count an item's
    attempts, and the activity list shows the recent ones. Return how many."""
    cutoff = timezone.now() - timedelta(days=mirror_conf.history_days())
    still_failing = FailureOccurrence.objects.filter(
        work_item=OuterRef("work_item"), outcome=FailureOccurrence.Outcome.OPEN
    )
    deleted, _ = (
        PolicyClaim.objects.exclude(state=PolicyClaim.State.CLAIMED)
        .filter(created_at__lt=cutoff)
        .exclude(Exists(still_failing))
        .delete()
    )
    return deleted
