"""Beat entries of bulk operations; settings merge them: `CELERY_BEAT_SCHEDULE |= BULK_BEAT_SCHEDULE`."""

from __future__ import annotations

from typing import Any

BULK_BEAT_SCHEDULE: dict[str, dict[str, Any]] = {
    "bulk-sweep": {
        "task": "dashboard.bulk.tasks.sweep_bulk",
        "schedule": 30.0,
        "options": {"expires": 25.0},
    },
    "bulk-purge-drafts": {
        "task": "dashboard.bulk.tasks.purge_drafts",
        "schedule": 3600.0,
        "options": {"expires": 3000.0},
    },
}
