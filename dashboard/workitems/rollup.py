"""The failure-group rollup triage reads: the GROUP BY of currently failed live items per
(workspace, process, exception type, code, normalised message), kept at write time.

Rewritten, never incremented: a refresh recomputes whole groups from the items (one
GROUP BY over the partial index `op_item_failed_groups`), so the rollup is exactly the
GROUP BY after every refresh, whatever happened in between.
- after each sync of a workspace (`mirror.signals.sync_finished`): that workspace's groups;
- around every write of the action core (`actions.apply`, `actions.reread`) and every
  re-read of one run (`processes.services.refresh_run`): the groups the touched items were
  in before and after.
Refreshes of one workspace are serialised by a row lock on the workspace (PostgreSQL).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any, NamedTuple

from django.db import transaction
from django.db.models import Count, Max, Min, Q, QuerySet

from dashboard.mirror.models import WorkItem
from dashboard.workitems.models import FailureGroupRollup
from dashboard.workspaces.models import Workspace

# Past this many groups a refresh recomputes the whole workspace (one GROUP BY) instead of
# OR-ing the keys together.
MAX_KEYED_GROUPS = 40


class Key(NamedTuple):
    """A group as the GROUP BY names it (process by its mirror id)."""

    process_id: int | None
    exception_type: str
    exception_code: str
    signature: str


def _failed(workspace_id: int) -> Any:
    return WorkItem.objects.filter(
        workspace_id=workspace_id, state="failed", gone_at__isnull=True
    )


def _item_q(key: Key) -> Q:
    return Q(
        process_id=key.process_id,
        exception_type=key.exception_type,
        exception_code=key.exception_code,
        message_signature=key.signature,
    )


def _rollup_q(key: Key) -> Q:
    return Q(
        process_id=key.process_id,
        exception_type=key.exception_type,
        exception_code=key.exception_code,
        signature=key.signature,
    )


def _any(qs: Iterable[Q]) -> Q:
    found = Q(pk__in=[])
    for q in qs:
        found |= q
    return found


def refresh_workspace(workspace_id: int) -> None:
    """Recompute every group of one workspace."""
    _refresh(workspace_id, None)


def refresh_groups(workspace_id: int, keys: Iterable[Key]) -> None:
    """Recompute these groups of one workspace (the whole workspace past MAX_KEYED_GROUPS)."""
    wanted = set(keys)
    if wanted:
        _refresh(workspace_id, wanted if len(wanted) <= MAX_KEYED_GROUPS else None)


def failed_keys(items: QuerySet[WorkItem]) -> dict[int, set[Key]]:
    """Return {workspace id: the groups of these items that are failed and live now}."""
    found: dict[int, set[Key]] = {}
    rows = (
        items.filter(state="failed", gone_at__isnull=True)
        .values_list(
            "workspace_id",
            "process_id",
            "exception_type",
            "exception_code",
            "message_signature",
        )
        .distinct()
        .order_by()
    )
    for workspace_id, process_id, exception_type, code, signature in rows:
        found.setdefault(workspace_id, set()).add(
            Key(process_id, exception_type, code, signature)
        )
    return found


_nesting = threading.local()


@contextmanager
def keeping(work_item_ids: Iterable[int]) -> Iterator[None]:
    """Around a write to these items: afterwards, recompute the groups they were in before
    and the ones they are in after (even when the write raised part-way). Nested uses
    (a re-read inside an apply of the same items) leave it to the outermost."""
    ids = list(work_item_ids)
    with _keeping(WorkItem.objects.filter(pk__in=ids), bool(ids)):
        yield


@contextmanager
def keeping_run(workspace_id: int, run_external_id: str) -> Iterator[None]:
    """Around a re-read of one run: afterwards, recompute the groups of its items."""
    items = WorkItem.objects.filter(
        workspace_id=workspace_id, process_run_external_id=run_external_id
    )
    with _keeping(items, bool(run_external_id)):
        yield


@contextmanager
def _keeping(items: QuerySet[WorkItem], any_items: bool) -> Iterator[None]:
    depth = getattr(_nesting, "depth", 0)
    if depth or not any_items:
        _nesting.depth = depth + 1
        try:
            yield
        finally:
            _nesting.depth = depth
        return
    before = failed_keys(items)
    _nesting.depth = 1
    try:
        yield
    finally:
        _nesting.depth = 0
        after = failed_keys(items)
        for workspace_id in before.keys() | after.keys():
            refresh_groups(
                workspace_id,
                before.get(workspace_id, set()) | after.get(workspace_id, set()),
            )


def _refresh(workspace_id: int, keys: set[Key] | None) -> None:
    with transaction.atomic():
        # One refresh of a workspace at a time: the second waits and then reads the items
        # the first one's transaction wrote.
        list(Workspace.objects.select_for_update().filter(pk=workspace_id).values("pk"))
        failed = _failed(workspace_id)
        stored = FailureGroupRollup.objects.filter(workspace_id=workspace_id)
        if keys is not None:
            failed = failed.filter(_any(_item_q(k) for k in keys))
            stored = stored.filter(_any(_rollup_q(k) for k in keys))
        rows = list(
            failed.values_list(
                "process_id", "exception_type", "exception_code", "message_signature"
            )
            .annotate(
                n=Count("id"),
                first=Min("state_updated_at"),
                last=Max("state_updated_at"),
                sample=Max("id"),
            )
            .order_by()
        )
        messages = dict(
            WorkItem.objects.filter(pk__in=[r[-1] for r in rows]).values_list(
                "id", "exception_message"
            )
        )
        stored.delete()
        FailureGroupRollup.objects.bulk_create(
            [
                FailureGroupRollup(
                    workspace_id=workspace_id,
                    process_id=process_id,
                    exception_type=exception_type,
                    exception_code=exception_code,
                    signature=signature,
                    count=n,
                    first_seen=first,
                    last_seen=last,
                    sample_id=sample,
                    sample_message=messages.get(sample, ""),
                )
                for process_id, exception_type, exception_code, signature, n, first, last, sample in rows
            ],
            batch_size=500,
        )


def on_sync_finished(sender: Any, sync_run: Any, **kwargs: Any) -> None:
    """After a sync (succeeded or failed: a failed one may have written items too)."""
    refresh_workspace(sync_run.workspace_id)
