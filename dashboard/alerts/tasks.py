"""Celery tasks of alerts: thin wrappers around `services` and `digest` (ids in, idempotent).

`deliver` is safe to run twice (acks_late): the delivery row is claimed by a conditional UPDATE
first, so a duplicate that finds it sent, or held under a live lease, does nothing.
"""

from __future__ import annotations

from dataclasses import asdict

from celery import shared_task
from django.conf import settings


@shared_task(ignore_result=True, acks_late=True)
def evaluate_workspace(workspace_id: int) -> dict[str, int]:
    """Evaluate the alert rules watching one workspace (after its sync)."""
    from dashboard.alerts import services

    return asdict(services.evaluate_workspace(workspace_id))


@shared_task(ignore_result=True)
def evaluate_all() -> dict[str, int]:
    """Evaluate every enabled rule (beat, every minute: the time-based conditions)."""
    from dashboard.alerts import services

    return asdict(services.evaluate_all())


@shared_task(bind=True, ignore_result=True, acks_late=True, max_retries=None)
def deliver(self, delivery_id: int) -> str:  # type: ignore[no-untyped-def]
    """Send one alert delivery; retry with back-off while the channel fails transiently."""
    from dashboard.alerts import services

    outcome = services.deliver(delivery_id)
    if (
        outcome.retry_in is not None
        and self.request.retries < settings.WORKROOM_ALERT_MAX_RETRIES
    ):
        raise self.retry(countdown=outcome.retry_in)
    return outcome.status


@shared_task(ignore_result=True)
def sweep_deliveries() -> int:
    """Re-enqueue lost or abandoned deliveries (beat)."""
    from dashboard.alerts import services

    return services.sweep_deliveries()


@shared_task(ignore_result=True)
def send_due_digests() -> int:
    """Send each team's daily digest once, at its hour (beat; idempotent per team and day)."""
    from dashboard.alerts import digest

    return digest.send_due_digests()


@shared_task(ignore_result=True)
def prune_history() -> dict[str, int]:
    """Delete recovered alerts and digest records past WORKROOM_ALERT_HISTORY_DAYS (beat)."""
    from dashboard.alerts import services

    return services.prune_history()
