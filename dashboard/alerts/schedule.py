"""Beat entries of alerts; settings merge them: `CELERY_BEAT_SCHEDULE |= ALERTS_BEAT_SCHEDULE`."""

from __future__ import annotations

from typing import Any

ALERTS_BEAT_SCHEDULE: dict[str, dict[str, Any]] = {
    # Time-based conditions (a run stuck, a sync failing for T) change without any sync.
    "alerts-evaluate": {
        "task": "dashboard.alerts.tasks.evaluate_all",
        "schedule": 60.0,
        "options": {"expires": 55.0},
    },
    "alerts-sweep-deliveries": {
        "task": "dashboard.alerts.tasks.sweep_deliveries",
        "schedule": 60.0,
        "options": {"expires": 55.0},
    },
    "alerts-prune": {
        "task": "dashboard.alerts.tasks.prune_history",
        "schedule": 3600.0,
        "options": {"expires": 3000.0},
    },
    "alerts-digests": {
        "task": "dashboard.alerts.tasks.send_due_digests",
        "schedule": 300.0,
        "options": {"expires": 280.0},
    },
}
