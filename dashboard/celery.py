"""The Celery app: configured from Django settings (CELERY_* names), tasks autodiscovered."""

from __future__ import annotations

import os
from typing import Any

from celery import Celery
from celery.signals import worker_ready

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dashboard.settings")

app = Celery("dashboard")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
# dashboard/tasks.py is not inside an installed app, so name it explicitly.
app.autodiscover_tasks(["dashboard"], related_name="tasks", force=True)


@worker_ready.connect
def _first_heartbeat(**kwargs: Any) -> None:
    # /healthz should turn ok when a worker comes up, not one beat interval later.
    from dashboard.tasks import heartbeat

    try:
        heartbeat.apply()
    except Exception:  # Redis down at start: beat's next tick retries
        import logging

        logging.getLogger(__name__).warning(
            "could not write the first worker heartbeat"
        )
