"""Settings of the mirror tests' worker subprocesses: the project settings plus the mirror's
beat entries and short sync limits taken from the environment, so that kill / lease / retry
tests finish in seconds."""

from __future__ import annotations

import os

from dashboard.mirror.schedule import MIRROR_BEAT_SCHEDULE
from dashboard.settings import *  # noqa: F403
from dashboard.settings import CELERY_BEAT_SCHEDULE

CELERY_BEAT_SCHEDULE = {**CELERY_BEAT_SCHEDULE, **MIRROR_BEAT_SCHEDULE}

for _name in (
    "WORKROOM_SYNC_LEASE_SECONDS",
    "WORKROOM_SYNC_TIME_BUDGET",
    "WORKROOM_SYNC_RETRY_BASE",
    "WORKROOM_SYNC_SWEEP_AFTER",
    "WORKROOM_SYNC_PAGE_SIZE",
):
    if _name in os.environ:
        globals()[_name] = int(os.environ[_name])
if "WORKROOM_SYNC_PROGRESS_EVERY" in os.environ:
    WORKROOM_SYNC_PROGRESS_EVERY = float(os.environ["WORKROOM_SYNC_PROGRESS_EVERY"])
if "WORKROOM_SYNC_QUEUE" in os.environ:
    WORKROOM_SYNC_QUEUE = os.environ["WORKROOM_SYNC_QUEUE"]
    # Keep this worker's beat ticks on its own queue too (other workers share the Redis).
    CELERY_BEAT_SCHEDULE = {
        name: {
            **entry,
            "options": {**entry.get("options", {}), "queue": WORKROOM_SYNC_QUEUE},
        }
        for name, entry in CELERY_BEAT_SCHEDULE.items()
    }
