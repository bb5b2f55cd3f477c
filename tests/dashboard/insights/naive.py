"""The rollups' definitions recomputed naively from the whole mirror (what the incremental
update must equal)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from dashboard.insights import histogram
from dashboard.insights.models import CodeRollup, DurationRollup, HourRollup
from dashboard.insights.rollups import hour_of, run_seconds
from dashboard.mirror.models import FailureOccurrence, ProcessRun, WorkItem


def naive(workspace_id: int) -> dict[str, Counter[Any]]:
    hours: Counter[Any] = Counter()
    codes: Counter[Any] = Counter()
    bins: Counter[Any] = Counter()
    first: dict[int, Any] = {}
    for occ in FailureOccurrence.objects.filter(
        workspace_id=workspace_id
    ).select_related("work_item"):
        when = occ.failed_at or occ.seen_at
        key = (occ.work_item.process_id, hour_of(when))
        ok = occ.retried_at is not None and occ.outcome == "done"
        bad = occ.retried_at is not None and occ.outcome == "failed_again"
        for col, n in (("failed", 1), ("retried_done", ok), ("retried_failed", bad)):
            if n:
                hours[(*key, col)] += 1
                codes[(*key, occ.exception_type, occ.exception_code, col)] += 1
        if occ.work_item_id not in first or occ.number < first[occ.work_item_id][0]:
            first[occ.work_item_id] = (occ.number, when)
    for item in WorkItem.objects.filter(workspace_id=workspace_id, state="done"):
        if item.state_updated_at is None:
            continue
        key = (item.process_id, hour_of(item.state_updated_at))
        hours[(*key, "done")] += 1
        if item.pk in first:
            seconds = (item.state_updated_at - first[item.pk][1]).total_seconds()
            bins[(*key, "resolution", histogram.bin_of(seconds))] += 1
    for run in ProcessRun.objects.filter(
        workspace_id=workspace_id, ended_at__isnull=False
    ):
        assert run.ended_at is not None
        seconds = run_seconds(run.ended_at, run.started_at, run.duration)
        if seconds is not None:
            bins[
                (
                    run.process_id,
                    hour_of(run.created_at),
                    "run",
                    histogram.bin_of(seconds),
                )
            ] += 1
    return {"hours": hours, "codes": codes, "bins": bins}


def stored(workspace_id: int) -> dict[str, Counter[Any]]:
    hours: Counter[Any] = Counter()
    codes: Counter[Any] = Counter()
    bins: Counter[Any] = Counter()
    cols = ("done", "failed", "retried_done", "retried_failed")
    for row in HourRollup.objects.filter(workspace_id=workspace_id):
        for col in cols:
            if getattr(row, col):
                hours[(row.process_id, row.hour, col)] += getattr(row, col)
    for c in CodeRollup.objects.filter(workspace_id=workspace_id):
        for col in cols[1:]:
            if getattr(c, col):
                codes[
                    (c.process_id, c.hour, c.exception_type, c.exception_code, col)
                ] += getattr(c, col)
    for d in DurationRollup.objects.filter(workspace_id=workspace_id):
        bins[(d.process_id, d.hour, d.kind, d.bin)] += d.count
    return {"hours": hours, "codes": codes, "bins": bins}
