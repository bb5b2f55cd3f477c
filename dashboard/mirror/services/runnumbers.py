"""Run numbers: "run 42 of Invoice processing", as people call runs.

Control Room's v1 API gives a run no number (only the deprecated process-v1 API had `runNo`), so
Workroom numbers each process's runs itself: the runs it sees for the first time are numbered
after the ones it already numbered, oldest first. A number never changes once given; a run that
turns up late (created before runs already numbered) gets the next free number, not a gap.
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Case, IntegerField, Max, Value, When

from dashboard.mirror.models import ProcessRun, SyncRun

logger = logging.getLogger(__name__)


def number_new_runs(workspace_id: int) -> int:
    """Give every unnumbered run of the workspace its number; return how many were numbered.

    Safe to run twice or concurrently: the unique (process, number) constraint refuses a
    duplicate, and the loser leaves its runs for the next call.
    """
    unnumbered = list(
        ProcessRun.objects.filter(workspace_id=workspace_id, number__isnull=True)
        .order_by("process_id", "created_at", "id")
        .values_list("pk", "process_id")
    )
    if not unnumbered:
        return 0
    process_ids = {process_id for _, process_id in unnumbered}
    highest = dict(
        ProcessRun.objects.filter(process_id__in=process_ids, number__isnull=False)
        .values_list("process_id")
        .annotate(top=Max("number"))
        .order_by()
    )
    numbers: dict[int, int] = {}
    for pk, process_id in unnumbered:
        highest[process_id] = (highest.get(process_id) or 0) + 1
        numbers[pk] = highest[process_id]
    try:
        with transaction.atomic():
            return sum(_write(chunk) for chunk in _chunks(list(numbers.items()), 500))
    except IntegrityError:
        logger.info(
            "run numbering of workspace %s raced another; left for later", workspace_id
        )
        return 0


def _write(numbers: list[tuple[int, int]]) -> int:
    # Only runs still unnumbered: a number, once given, never changes.
    whens = [When(pk=pk, then=Value(number)) for pk, number in numbers]
    return ProcessRun.objects.filter(
        pk__in=[pk for pk, _ in numbers], number__isnull=True
    ).update(number=Case(*whens, output_field=IntegerField()))


def _chunks(rows: list[tuple[int, int]], size: int) -> list[list[tuple[int, int]]]:
    return [rows[i : i + size] for i in range(0, len(rows), size)]


def number_runs_after_sync(sender: Any, sync_run: SyncRun, **kwargs: Any) -> None:
    """Receiver of `sync_finished`: number the runs the sync brought in."""
    number_new_runs(sync_run.workspace_id)
