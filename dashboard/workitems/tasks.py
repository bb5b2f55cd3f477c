"""Celery tasks of the work-item pages: thin wrappers around `undo` (STYLE.md §3).

`send_pending_action` is safe to deliver twice: the held action is claimed by a conditional
UPDATE, so a duplicate finds it sent (or undone) and does nothing.
"""

from __future__ import annotations

from celery import shared_task


@shared_task(bind=True, acks_late=True, ignore_result=True, max_retries=100)
def send_pending_action(self, pending_id: int) -> str:  # type: ignore[no-untyped-def]
    """Send held action `pending_id` once its undo window ended (a no-op otherwise)."""
    from dashboard.workitems.undo import send

    outcome = send(pending_id)
    if outcome.retry_in is not None:
        raise self.retry(countdown=outcome.retry_in)
    return outcome.status


@shared_task(ignore_result=True)
def sweep_pending_actions() -> int:
    """Send held actions whose window ended but whose task was lost (beat)."""
    from dashboard.workitems.undo import send_overdue

    return send_overdue()
