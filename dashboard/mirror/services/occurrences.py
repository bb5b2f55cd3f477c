"""Attempt history: each time a work item enters `failed`, and what followed.

The sync's item writes (`upsert.write_items`) pass the rows they changed to `observe`, which
opens an occurrence for a new failure and settles the previous one (left failed, done,
failed again); the action core marks who retried (`mark_retried`) once Control Room accepted
a retry. A handful of set-based statements per page of items, never a query per row.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Max
from django.db.models.functions import Coalesce
from django.utils import timezone

from dashboard.mirror.models import FailureOccurrence, WorkItem
from dashboard.mirror.services.dbwrite import (
    datetime_param,
    insert_new_rows,
)

Outcome = FailureOccurrence.Outcome


@dataclass(frozen=True)
class _Open:
    pk: int
    number: int
    failed_at: datetime | None


def observe(
    workspace_id: int,
    rows: Sequence[dict[str, Any]],
    now: datetime,
    *,
    new_items: bool = False,
) -> None:
    """Record the failures and exits of failed of work-item rows just written.

    `rows` are column dicts (by attname) as `upsert` writes them: external_id, state,
    state_updated_at and the exception columns. `new_items`: the rows were all inserted
    new in this transaction (a first load), so none has an occurrence yet and none can
    meet a concurrent writer's.
    """
    if not rows:
        return
    by_ext = {r["external_id"]: r for r in rows}
    pks = dict(
        WorkItem.objects.filter(workspace_id=workspace_id, external_id__in=list(by_ext))
        .order_by()
        .values_list("external_id", "pk")
    )
    unresolved = {} if new_items else _unresolved(pks.values())
    failed_pks = [
        pks[e] for e, r in by_ext.items() if e in pks and r["state"] == "failed"
    ]
    last_number = {} if new_items else _last_numbers(failed_pks)
    to_open: list[tuple[Any, ...]] = []
    param = datetime_param()
    again: list[int] = []
    done: list[int] = []
    left: list[int] = []
    for ext, row in by_ext.items():
        pk = pks.get(ext)
        if pk is None:
            continue
        current = unresolved.get(pk)
        if row["state"] == "failed":
            if current is not None and current.failed_at == row["state_updated_at"]:
                continue
            if current is not None:
                again.append(current.pk)
            to_open.append(
                _opened(workspace_id, pk, last_number.get(pk, 0) + 1, row, now, param)
            )
        elif current is not None:
            (done if row["state"] == "done" else left).append(current.pk)
    _settle(again, Outcome.FAILED_AGAIN, now)
    _settle(done, Outcome.DONE, now)
    if left:
        FailureOccurrence.objects.filter(
            pk__in=left, left_failed_at__isnull=True
        ).update(left_failed_at=now)
    # A concurrent writer (a re-read by the action core) may have opened the same one.
    insert_new_rows(FailureOccurrence, _OPENED_COLUMNS, to_open, no_conflict=new_items)


def _unresolved(pks: Iterable[int]) -> dict[int, _Open]:
    rows = (
        FailureOccurrence.objects.filter(
            work_item_id__in=list(pks), outcome=Outcome.OPEN
        )
        .order_by("number")
        .values_list("work_item_id", "pk", "number", "failed_at")
    )
    return {item: _Open(pk, number, failed_at) for item, pk, number, failed_at in rows}


def _last_numbers(pks: list[int]) -> dict[int, int]:
    if not pks:
        return {}
    return dict(
        FailureOccurrence.objects.filter(work_item_id__in=pks)
        .order_by()
        .values("work_item_id")
        .annotate(last=Max("number"))
        .values_list("work_item_id", "last")
    )


_OPENED_COLUMNS = (
    "workspace_id",
    "work_item_id",
    "number",
    "seen_at",
    "failed_at",
    "exception_type",
    "exception_code",
    "exception_message",
    "message_signature",
)


def _opened(
    workspace_id: int,
    pk: int,
    number: int,
    row: dict[str, Any],
    seen_at: datetime,
    param: Callable[[datetime | None], Any],
) -> tuple[Any, ...]:
    """The `_OPENED_COLUMNS` of a new occurrence (datetimes as the database takes them)."""
    return (
        workspace_id,
        pk,
        number,
        param(seen_at),
        param(row["state_updated_at"]),
        row.get("exception_type", ""),
        row.get("exception_code", ""),
        row.get("exception_message", ""),
        row.get("message_signature", ""),
    )


def _settle(pks: list[int], outcome: str, now: datetime) -> None:
    if pks:
        FailureOccurrence.objects.filter(pk__in=pks, outcome=Outcome.OPEN).update(
            outcome=outcome,
            outcome_at=now,
            left_failed_at=Coalesce("left_failed_at", now),
        )


def mark_retried(
    work_item_ids: Sequence[int], label: str, now: datetime | None = None
) -> int:
    """Record that `label` (an actor) retried the items' current failures; return how many."""
    if not work_item_ids:
        return 0
    now = now or timezone.now()
    return FailureOccurrence.objects.filter(
        work_item_id__in=list(work_item_ids),
        outcome=Outcome.OPEN,
        retried_at__isnull=True,
    ).update(
        retried_by=label[:150],
        retried_at=now,
        left_failed_at=Coalesce("left_failed_at", now),
    )


def mark_gone(workspace_id: int, external_ids: Sequence[str], now: datetime) -> int:
    """Settle the unresolved occurrences of items Control Room no longer has."""
    items = WorkItem.objects.filter(
        workspace_id=workspace_id, external_id__in=list(external_ids)
    ).values("pk")
    return FailureOccurrence.objects.filter(
        work_item_id__in=items, outcome=Outcome.OPEN
    ).update(
        outcome=Outcome.GONE,
        outcome_at=now,
        left_failed_at=Coalesce("left_failed_at", now),
    )


def prune(before: datetime) -> int:
    """Delete settled occurrences whose outcome is older than `before`; return how many."""
    deleted, _ = (
        FailureOccurrence.objects.filter(outcome_at__lt=before)
        .exclude(outcome=Outcome.OPEN)
        .delete()
    )
    return deleted


def retry_success_rate(
    occurrences: Iterable[FailureOccurrence],
) -> tuple[int, int]:
    """Return (retries that ended done, retries with a known outcome) among `occurrences`."""
    known = [o for o in occurrences if o.retried_at is not None and o.outcome]
    ok = sum(o.outcome == Outcome.DONE for o in known)
    return ok, len(known)


def since(days: int) -> datetime:
    return timezone.now() - timedelta(days=days)
