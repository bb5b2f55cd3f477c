"""Settings of the mirror tests' worker subprocesses: the project settings (which read the short
sync limits the tests pass in the environment) with every beat entry routed to the test's own
queue, WORKROOM_SYNC_QUEUE, so other workers sharing the Redis never see this beat's ticks."""

from __future__ import annotations

from dashboard.settings import *  # noqa: F403
from dashboard.settings import CELERY_BEAT_SCHEDULE, WORKROOM_SYNC_QUEUE

if WORKROOM_SYNC_QUEUE:
    CELERY_BEAT_SCHEDULE = {
        name: {
            **entry,
            "options": {**entry.get("options", {}), "queue": WORKROOM_SYNC_QUEUE},
        }
        for name, entry in CELERY_BEAT_SCHEDULE.items()
    }
