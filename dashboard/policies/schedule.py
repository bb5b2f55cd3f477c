"""Beat entries of retry policies; settings merge them into CELERY_BEAT_SCHEDULE."""

from __future__ import annotations

from typing import Any

POLICY_BEAT_SCHEDULE: dict[str, dict[str, Any]] = {
    "policies-sweep": {
        "task": "dashboard.policies.tasks.sweep_policies",
        "schedule": 60.0,
        "options": {"expires": 55.0},
    },
    "policies-prune": {
        "task": "dashboard.policies.tasks.prune_claims",
        "schedule": 3600.0,
        "options": {"expires": 3000.0},
    },
}
