"""Which mirror rows a chunk may trust without re-reading each item first.

A chunk re-reads the items whose mirror row was not seen within WORKROOM_BULK_STALE_SECONDS
(one GET each), because Control Room's batch skips items that are not failed without saying
so. On a large failed list the sync does not touch unchanged failed rows on every pass, so
at 100,000 items nearly every row was stale: 100 GETs per chunk, 100,000 in all.

Instead the operation reads the workspace's failed list once (1,000 items per page) and
marks seen the mirror rows it shows unchanged (still failed, same state_updated_at). A row
seen by that listing is trusted for the rest of the operation: its items are
claimed by the operation, so no other Workroom action moves them meanwhile; a row the listing
did not see (no longer failed, or gone) is still re-read on its own.

One chunk per (operation, workspace) reads the list (`cache.add` elects it); the others
wait for it, released for a moment without counting an attempt. The listing is on every
large operation's path before its first item is sent, so a page costs one decode into lean
rows (`list_rows`) and one UPDATE that compares in the database: the page's (id,
state_updated_at) pairs go as two arrays (PostgreSQL) or one JSON text (SQLite), never as
a thousand query parameters or model rows.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from django.core.cache import cache
from django.db import connection
from django.utils import timezone

from dashboard.bulk import conf
from dashboard.bulk.models import BulkItem, BulkOperation
from dashboard.mirror.models import WorkItem
from dashboard.mirror.services.dbwrite import datetime_param
from dashboard.workspaces.models import Workspace
from robocorp_api.client import ControlRoomClient
from robocorp_api.errors import ControlRoomError
from robocorp_api.rows import WorkItemRow

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
        for page in client.work_items.list_rows(state="failed", limit=PAGE).pages():
            _confirm_unchanged(workspace, page.data)
            renew()
        cache.set(key, started.isoformat(), timeout=KEEP_SECONDS)
    except ControlRoomError as err:
        logger.info("bulk: could not list failed items of %s: %s", workspace.pk, err)
        return None
    finally:
        # Also on a time limit or a lost lease: the next chunk reads it again.
        cache.delete(key + ":reading")
    return started


def _confirm_unchanged(workspace: Workspace, listed: Sequence[WorkItemRow]) -> int:
    """Mark seen now the mirror rows the page shows failed with the same state_updated_at
    (one UPDATE a page); return how many. A row that differs is left stale: it is re-read
    on its own, the sync's upsert stays the one writer of item content."""
    pairs = [
        (i.id, i.state_updated_at)
        for i in listed
        if i.state == "failed" and i.state_updated_at is not None
    ]
    if not pairs:
        return 0
    table = connection.ops.quote_name(WorkItem._meta.db_table)
    when = datetime_param()
    params: list[Any]
    # The table name comes from the model; every value is a parameter.
    if connection.vendor == "postgresql":
        sql = (
            f"UPDATE {table} AS w SET last_seen_at = %s "  # noqa: S608
            "FROM unnest(%s::text[], %s::timestamptz[]) AS l(ext, updated) "
            "WHERE w.workspace_id = %s AND w.external_id = l.ext "
            "AND w.state = 'failed' AND w.state_updated_at = l.updated"
        )
        params = [
            when(timezone.now()),
            [p[0] for p in pairs],
            [p[1] for p in pairs],
            workspace.pk,
        ]
    else:
        sql = (
            f"UPDATE {table} SET last_seen_at = %s "  # noqa: S608
            "WHERE workspace_id = %s AND state = 'failed' "
            "AND (external_id, state_updated_at) IN ("
            "SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]') "
            "FROM json_each(%s))"
        )
        params = [
            when(timezone.now()),
            workspace.pk,
            json.dumps([(ext, when(updated)) for ext, updated in pairs]),
        ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount
