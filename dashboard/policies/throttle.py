"""The workspace's send throttle, shared with bulk operations (`bulk.models.BulkThrottle`).

Bulk chunks reserve windows of the per-workspace items-per-minute schedule ahead of time;
a policy takes only what is free now, at most one minute's worth per evaluation, and
reserves it, so policies and bulk operations together never exceed the rate.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from dashboard.bulk import conf as bulk_conf
from dashboard.bulk.models import BulkThrottle


def take(workspace_id: int, wanted: int, now: datetime) -> int:
    """Reserve sending up to `wanted` items now; return how many may be sent (maybe 0)."""
    rate = bulk_conf.max_items_per_minute()
    if not rate or wanted <= 0:
        return max(wanted, 0)
    n = min(wanted, rate)
    BulkThrottle.objects.get_or_create(workspace_id=workspace_id)
    while True:
        current = BulkThrottle.objects.get(pk=workspace_id).next_free_at
        if current > now:
            return 0  # a bulk operation (or another policy) holds the window
        span = timedelta(seconds=60.0 * n / rate)
        # Compare-and-set: two evaluations at once get consecutive windows.
        if BulkThrottle.objects.filter(pk=workspace_id, next_free_at=current).update(
            next_free_at=now + span
        ):
            return n
