"""Beat entries of the work-item pages; settings merge them like the mirror's and bulk's."""

from __future__ import annotations

from typing import Any

WORKITEMS_BEAT_SCHEDULE: dict[str, dict[str, Any]] = {
    "workitems-send-held-actions": {
        "task": "dashboard.workitems.tasks.sweep_pending_actions",
        "schedule": 15.0,
        "options": {"expires": 14.0},
    },
}
