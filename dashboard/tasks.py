"""Project-level periodic tasks."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings

from dashboard.lib import heartbeat as hb


@shared_task(name="dashboard.tasks.heartbeat", ignore_result=True, acks_late=False)
def heartbeat() -> str:
    """Record that a worker is alive (beat sends this every WORKROOM_HEARTBEAT_INTERVAL seconds).

    Safe to run twice or late: it only overwrites a timestamp.
    """
    client = hb.connect(settings.REDIS_URL)
    try:
        return hb.write(client, settings.WORKROOM_HEARTBEAT_KEY).isoformat()
    finally:
        client.close()
