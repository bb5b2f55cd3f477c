"""Celery tasks of retry policies: thin wrappers around `execution` (ids only).

`evaluate_workspace` is safe to deliver twice: every retry is claimed by a unique insert
first, so a duplicate evaluation finds the failures claimed and sends nothing.
"""

from __future__ import annotations

from celery import shared_task


@shared_task(acks_late=True, ignore_result=True, soft_time_limit=240, time_limit=300)
def evaluate_workspace(workspace_id: int) -> dict[str, int]:
    """Run the retry policies of one workspace (after its sync, or from the sweep)."""
    from dashboard.policies.execution import evaluate_workspace as evaluate

    result = evaluate(workspace_id)
    return {
        "sent": result.sent,
        "skipped": result.skipped,
        "reconciled": result.reconciled,
    }


@shared_task(ignore_result=True)
def sweep_policies() -> int:
    """Evaluate workspaces holding claims of dead evaluations (beat; idempotent)."""
    from dashboard.policies.hooks import sweep

    return sweep()


@shared_task(ignore_result=True)
def prune_claims() -> int:
    """Delete old decided claims of items no longer failing (beat, hourly; idempotent)."""
    from dashboard.policies.hooks import prune

    return prune()
