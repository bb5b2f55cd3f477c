"""Beat entries of the mirror; settings merge them: `CELERY_BEAT_SCHEDULE |= MIRROR_BEAT_SCHEDULE`.

The dispatcher only looks at the database (which workspaces are due), so per-workspace
intervals live in `Workspace.sync_interval_seconds`, not in beat (ECOSYSTEM.md A3).
"""

from __future__ import annotations

from typing import Any

MIRROR_BEAT_SCHEDULE: dict[str, dict[str, Any]] = {
    "mirror-dispatch-due-syncs": {
        "task": "dashboard.mirror.tasks.dispatch_due_syncs",
        # Cheap (one query): a short tick keeps the per-workspace intervals (and the short
        # interval while work is active) accurate to a few seconds.
        "schedule": 5.0,
        "options": {"expires": 4.5},
    },
    "mirror-sweep-syncs": {
        "task": "dashboard.mirror.tasks.sweep_syncs",
        "schedule": 60.0,
        "options": {"expires": 55.0},
    },
}
