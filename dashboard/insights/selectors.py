"""Reads of the insights pages: sums of the rollups over a period, in the reader's time zone.

A page costs a fixed handful of queries whatever the mirror's size: the processes and their
values, the hourly rollups grouped by process and bucket, the exception codes, the duration
histograms, and (when a process has an SLA) one count of its items failed for too long.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from django.db.models import Count, Q, QuerySet, Sum
from django.db.models.functions import TruncDay
from django.utils import timezone

from dashboard.insights import histogram
from dashboard.insights.models import (
    CodeRollup,
    DurationRollup,
    HourRollup,
    ProcessValue,
)
from dashboard.lib.errors import WorkroomError
from dashboard.mirror.models import Process, WorkItem
from dashboard.workitems.selectors import failure_advice

# key → (span, bucket unit, label)
PERIODS: dict[str, tuple[timedelta, str, str]] = {
    "24h": (timedelta(hours=24), "hour", "24 h"),
    "7d": (timedelta(days=7), "day", "7 d"),
    "30d": (timedelta(days=30), "day", "30 d"),
}
DEFAULT_PERIOD = "7d"
PARETO_CODES = 12  # codes shown in the Pareto chart (the table lists them all)


class PeriodError(WorkroomError):
    """An unknown period; `message` is safe to show."""


@dataclass(frozen=True)
class Period:
    key: str
    unit: str  # hour | day
    label: str
    starts: tuple[datetime, ...]  # bucket starts, aware, in the reader's zone
    step: timedelta

    @property
    def start(self) -> datetime:
        return self.starts[0]

    @property
    def end(self) -> datetime:
        """The end of the last bucket (rows stamped later, a clock ahead, are left out)."""
        return _shift(self.starts[-1], self.step, 1)

    def bucket_of(self, when: datetime) -> datetime:
        """The start of the bucket `when` falls in (the reader's zone)."""
        local = timezone.localtime(when, self.starts[0].tzinfo)
        if self.unit == "hour":
            return local.replace(minute=0, second=0, microsecond=0)
        return local.replace(hour=0, minute=0, second=0, microsecond=0)


def period(
    key: str | None, now: datetime | None = None, tz: tzinfo | None = None
) -> Period:
    """The buckets of a period ending now: 24 hours, or 7 / 30 days (today included).

    Raises:
        PeriodError: `key` is not one of PERIODS.
    """
    key = key or DEFAULT_PERIOD
    if key not in PERIODS:
        raise PeriodError(
            f"“{key[:20]}” is not a period Workroom knows: choose 24 h, 7 d or 30 d."
        )
    span, unit, label = PERIODS[key]
    local = timezone.localtime(
        now or timezone.now(), tz or timezone.get_current_timezone()
    )
    if unit == "hour":
        last, step = (
            local.replace(minute=0, second=0, microsecond=0),
            timedelta(hours=1),
        )
    else:
        last, step = (
            local.replace(hour=0, minute=0, second=0, microsecond=0),
            timedelta(days=1),
        )
    count = int(span / step)
    starts = tuple(_shift(last, step, i - count + 1) for i in range(count))
    return Period(key, unit, label, starts, step)


def _shift(start: datetime, step: timedelta, n: int) -> datetime:
    # Calendar days across a DST change: shift the wall clock, then re-resolve the offset.
    naive = start.replace(tzinfo=None) + step * n
    return timezone.make_aware(naive, start.tzinfo) if step.days else start + step * n


@dataclass
class Value:
    per_item: Decimal | None = None
    currency: str = ""
    sla_hours: int | None = None

    @property
    def label(self) -> str:
        return self.currency or "value"


@dataclass
class ProcessRow:
    process: Process
    value: Value
    done: int = 0
    failed: int = 0
    retried_done: int = 0
    retried_failed: int = 0
    failed_now: int = 0
    over_sla: int = 0
    over_sla_link: str = ""
    run_bins: dict[int, int] = field(default_factory=dict)
    resolution_bins: dict[int, int] = field(default_factory=dict)

    @property
    def failure_rate(self) -> float | None:
        total = self.done + self.failed
        return self.failed / total if total else None

    @property
    def retry_success(self) -> float | None:
        tried = self.retried_done + self.retried_failed
        return self.retried_done / tried if tried else None

    @property
    def value_delivered(self) -> Decimal | None:
        return None if self.value.per_item is None else self.value.per_item * self.done

    @property
    def value_at_risk(self) -> Decimal | None:
        return (
            None
            if self.value.per_item is None
            else self.value.per_item * self.failed_now
        )

    def p(self, kind: str, share: float) -> float | None:
        bins = self.run_bins if kind == "run" else self.resolution_bins
        return histogram.percentile(bins, share)

    @property
    def run_p50(self) -> float | None:
        return self.p("run", 0.5)

    @property
    def run_p95(self) -> float | None:
        return self.p("run", 0.95)

    @property
    def runs(self) -> int:
        return sum(self.run_bins.values())

    @property
    def resolution_p50(self) -> float | None:
        return self.p("resolution", 0.5)

    @property
    def resolution_p95(self) -> float | None:
        return self.p("resolution", 0.95)

    @property
    def resolved(self) -> int:
        return sum(self.resolution_bins.values())


@dataclass
class BucketRow:
    start: datetime
    done: int = 0
    failed: int = 0
    value: dict[str, Decimal] = field(default_factory=dict)  # currency → delivered

    @property
    def failure_rate(self) -> float | None:
        total = self.done + self.failed
        return self.failed / total if total else None


@dataclass
class CodeRow:
    exception_type: str
    exception_code: str
    failed: int
    retried_done: int
    retried_failed: int
    share: float = 0.0
    cumulative: float = 0.0

    @property
    def retry_success(self) -> float | None:
        tried = self.retried_done + self.retried_failed
        return self.retried_done / tried if tried else None

    @property
    def retried(self) -> int:
        return self.retried_done + self.retried_failed

    @property
    def advice(self) -> str:
        return failure_advice(self.exception_type, self.exception_code)

    @property
    def label(self) -> str:
        return self.exception_code or "(no code)"


@dataclass
class Insights:
    period: Period
    buckets: list[BucketRow]
    processes: list[ProcessRow]
    codes: list[CodeRow]
    currencies: list[str]

    def _sum(self, name: str) -> int:
        return sum(getattr(p, name) for p in self.processes)

    @property
    def done(self) -> int:
        return self._sum("done")

    @property
    def failed(self) -> int:
        return self._sum("failed")

    @property
    def failure_rate(self) -> float | None:
        total = self.done + self.failed
        return self.failed / total if total else None

    @property
    def retry_success(self) -> float | None:
        ok, bad = self._sum("retried_done"), self._sum("retried_failed")
        return ok / (ok + bad) if ok + bad else None

    @property
    def failed_now(self) -> int:
        return self._sum("failed_now")

    @property
    def over_sla(self) -> int:
        return self._sum("over_sla")

    def _merged(self, kind: str) -> dict[int, int]:
        merged: dict[int, int] = defaultdict(int)
        for row in self.processes:
            for b, n in (
                row.run_bins if kind == "run" else row.resolution_bins
            ).items():
                merged[b] += n
        return merged

    @property
    def run_p50(self) -> float | None:
        return histogram.percentile(self._merged("run"), 0.5)

    @property
    def run_p95(self) -> float | None:
        return histogram.percentile(self._merged("run"), 0.95)

    @property
    def resolution_p50(self) -> float | None:
        return histogram.percentile(self._merged("resolution"), 0.5)

    @property
    def resolution_p95(self) -> float | None:
        return histogram.percentile(self._merged("resolution"), 0.95)

    def value_totals(self) -> list[tuple[str, Decimal, Decimal]]:
        """(currency, delivered in the period, at risk now) per currency label."""
        delivered: dict[str, Decimal] = defaultdict(Decimal)
        risk: dict[str, Decimal] = defaultdict(Decimal)
        for row in self.processes:
            if row.value.per_item is None:
                continue
            delivered[row.value.label] += row.value_delivered or Decimal(0)
            risk[row.value.label] += row.value_at_risk or Decimal(0)
        return [(c, delivered[c], risk[c]) for c in self.currencies]


def insights_for(
    workspace_ids: Sequence[int],
    per: Period,
    *,
    process: Process | None = None,
    now: datetime | None = None,
) -> Insights:
    """Sum the rollups of the workspaces (or one process) over the period."""
    now = now or timezone.now()
    processes = Process.objects.filter(workspace_id__in=list(workspace_ids))
    if process is not None:
        processes = processes.filter(pk=process.pk)
    values = {
        (v.workspace_id, v.process_external_id): Value(
            v.value_per_item, v.currency, v.sla_hours
        )
        for v in ProcessValue.objects.filter(workspace_id__in=list(workspace_ids))
    }
    rows = {
        p.pk: ProcessRow(p, values.get((p.workspace_id, p.external_id), Value()))
        for p in processes.select_related("workspace").order_by(
            "workspace__name", "name", "id"
        )
    }
    buckets = {start: BucketRow(start) for start in per.starts}
    _add_hours(rows, buckets, workspace_ids, per, process)
    codes = _codes(workspace_ids, per, process)
    _add_durations(rows, workspace_ids, per, process)
    for row in rows.values():
        row.failed_now = int(row.process.item_counts.get("failed", 0))
    _add_over_sla(rows, now)
    shown = [
        r
        for r in rows.values()
        if r.process.gone_at is None or r.done or r.failed or r.failed_now
    ]
    currencies = sorted({r.value.label for r in shown if r.value.per_item is not None})
    return Insights(per, list(buckets.values()), shown, codes, currencies)


def _scoped(
    model: type[HourRollup] | type[CodeRollup] | type[DurationRollup],
    workspace_ids: Sequence[int],
    per: Period,
    process: Process | None,
) -> QuerySet[Any]:
    qs = model._default_manager.filter(
        workspace_id__in=list(workspace_ids), hour__gte=per.start, hour__lt=per.end
    )
    return qs.filter(process_id=process.pk) if process is not None else qs


def _add_hours(
    rows: dict[int, ProcessRow],
    buckets: dict[datetime, BucketRow],
    workspace_ids: Sequence[int],
    per: Period,
    process: Process | None,
) -> None:
    qs = _scoped(HourRollup, workspace_ids, per, process)
    if per.unit == "day":
        qs = qs.annotate(bucket=TruncDay("hour", tzinfo=per.start.tzinfo))
        group = ("process_id", "bucket")
    else:
        group = ("process_id", "hour")
    sums = (
        qs.values(*group)
        .annotate(
            d=Sum("done"),
            f=Sum("failed"),
            rd=Sum("retried_done"),
            rf=Sum("retried_failed"),
        )
        .order_by()
    )
    for entry in sums:
        row = rows.get(entry["process_id"])
        if row is None:
            continue
        row.done += entry["d"]
        row.failed += entry["f"]
        row.retried_done += entry["rd"]
        row.retried_failed += entry["rf"]
        bucket = buckets.get(per.bucket_of(entry[group[1]]))
        if bucket is None:
            continue
        bucket.done += entry["d"]
        bucket.failed += entry["f"]
        if row.value.per_item is not None and entry["d"]:
            label = row.value.label
            bucket.value[label] = (
                bucket.value.get(label, Decimal(0)) + row.value.per_item * entry["d"]
            )


def _codes(
    workspace_ids: Sequence[int], per: Period, process: Process | None
) -> list[CodeRow]:
    sums = (
        _scoped(CodeRollup, workspace_ids, per, process)
        .values("exception_type", "exception_code")
        .annotate(f=Sum("failed"), rd=Sum("retried_done"), rf=Sum("retried_failed"))
        .order_by("-f", "exception_code", "exception_type")
    )
    codes = [
        CodeRow(e["exception_type"], e["exception_code"], e["f"], e["rd"], e["rf"])
        for e in sums
        if e["f"]
    ]
    total = sum(c.failed for c in codes)
    running = 0
    for code in codes:
        running += code.failed
        code.share = code.failed / total
        code.cumulative = running / total
    return codes


def _add_durations(
    rows: dict[int, ProcessRow],
    workspace_ids: Sequence[int],
    per: Period,
    process: Process | None,
) -> None:
    sums = (
        _scoped(DurationRollup, workspace_ids, per, process)
        .values("process_id", "kind", "bin")
        .annotate(n=Sum("count"))
        .order_by()
    )
    for entry in sums:
        row = rows.get(entry["process_id"])
        if row is None:
            continue
        bins = row.run_bins if entry["kind"] == "run" else row.resolution_bins
        bins[entry["bin"]] = bins.get(entry["bin"], 0) + entry["n"]


def _add_over_sla(rows: dict[int, ProcessRow], now: datetime) -> None:
    """Count the items failed for longer than their process's SLA (one query)."""
    with_sla = [r for r in rows.values() if r.value.sla_hours]
    if not with_sla:
        return
    condition = Q()
    for row in with_sla:
        cutoff = now - timedelta(hours=row.value.sla_hours or 0)
        condition |= Q(process_id=row.process.pk, state_updated_at__lt=cutoff)
    counts = dict(
        WorkItem.objects.filter(condition, state="failed", gone_at__isnull=True)
        .values("process_id")
        .annotate(n=Count("id"))
        .order_by()
        .values_list("process_id", "n")
    )
    for row in with_sla:
        row.over_sla = counts.get(row.process.pk, 0)
        cutoff = now - timedelta(hours=row.value.sla_hours or 0)
        # The explorer filters by day: the items last updated on or before the cutoff's day.
        row.over_sla_link = urlencode(
            {
                "workspace": row.process.workspace_id,
                "process": row.process.pk,
                "state": "failed",
                "updated_to": timezone.localdate(cutoff).isoformat(),
            }
        )
