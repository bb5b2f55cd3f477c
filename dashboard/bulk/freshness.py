"""Which mirror rows a chunk may trust without re-reading each item first.

A chunk re-reads the items whose mirror row was not seen within WORKROOM_BULK_STALE_SECONDS
(one GET each), because Control Room's batch skips items that are not failed without saying
so. On a large failed list the sync does not touch unchanged failed rows on every pass, so
at 100,000 items nearly every row was stale: 100 GETs per chunk, 100,000 in all.

Instead the operation reads the workspace's failed list once (1,000 items per page) and
writes it into the mirror the way the sync does (`upsert.write_items`, unchanged rows
touched). A row seen by that listing is trusted for the rest of the operation: its items are
claimed by the operation, so no other Workroom action moves them meanwhile; a row the listing
did not see (no longer failed, or gone) is still re-read on its own.

One chunk per (operation, workspace) reads the list (`cache.add` elects it); the others
wait for it, released for a moment without counting an attempt.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from dashboard.bulk import conf
from dashboard.bulk.models import BulkItem, BulkOperation
from dashboard.mirror.models import WorkItem
from dashboard.mirror.services.upsert import ProcessResolver, write_items
from dashboard.workspaces.models import Workspace
from robocorp_api.client import ControlRoomClient
from robocorp_api.errors import ControlRoomError

logger = logging.getLogger(__name__)

PAGE = 1000
KEEP_SECONDS = 24 * 3600
# Below this many items of one workspace an operation re-reads its stale items one by one:
# a small retry never pages through a long failed list.
MIN_ITEMS = 1000
NOT_WORTH_IT = "-"


class ListingUnderWay(Exception):
    """Another chunk of the operation is reading the workspace's failed list now."""


def _key(operation: BulkOperation, workspace_id: int) -> str:
    # The confirmation time too: an id reused (a restored database) never finds another
    # operation's listing.
    stamp = operation.confirmed_at.timestamp() if operation.confirmed_at else 0
    return f"bulk:listed:{operation.pk}:{stamp}:{workspace_id}"


def _worth_it(operation: BulkOperation, workspace: Workspace) -> bool:
    """Is listing the failed items fewer calls than re-reading the operation's items?"""
    mine = BulkItem.objects.filter(operation=operation, workspace=workspace).count()
    if mine < MIN_ITEMS:
        return False
    failed = WorkItem.objects.filter(
        workspace=workspace, state="failed", gone_at__isnull=True
    ).count()
    return mine >= 2 * (failed // PAGE + 1)


def listed_at(
    operation: BulkOperation,
    workspace: Workspace,
    client: ControlRoomClient,
    renew: Callable[[], object],
) -> datetime | None:
    """When this operation's listing of the workspace's failed items started (reading it
    now if no chunk has); None when it could not be read (the chunk re-reads per item).

    Raises:
        ListingUnderWay: another chunk is reading it; try again in a moment.
    """
    key = _key(operation, workspace.pk)
    if done := cache.get(key):
        return datetime.fromisoformat(done) if done != NOT_WORTH_IT else None
    if not cache.add(key + ":reading", 1, timeout=conf.lease_seconds()):
        raise ListingUnderWay
    if not _worth_it(operation, workspace):
        cache.set(key, NOT_WORTH_IT, timeout=KEEP_SECONDS)
        cache.delete(key + ":reading")
        return None
    started = timezone.now()
    try:
        resolver = ProcessResolver(workspace)
        for page in client.work_items.list(state="failed", limit=PAGE).pages():
            with transaction.atomic():
                write_items(workspace, page.data, resolver, timezone.now())
            renew()
    except ControlRoomError as err:
        logger.info("bulk: could not list failed items of %s: %s", workspace.pk, err)
        cache.delete(key + ":reading")
        return None
    cache.set(key, started.isoformat(), timeout=KEEP_SECONDS)
    cache.delete(key + ":reading")
    return started
