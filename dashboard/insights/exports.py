"""The CSV behind each insights chart and table (same filters as the page)."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable
from typing import Any

from django.http import HttpResponse

from dashboard.insights.selectors import Insights


def _pct(value: float | None) -> str:
    return "" if value is None else f"{value * 100:.1f}"


def _secs(value: float | None) -> str:
    return "" if value is None else f"{value:.0f}"


def _throughput(data: Insights) -> tuple[list[str], Iterable[list[Any]]]:
    currencies = data.currencies
    header = ["bucket_start", "done", "failed", "failure_rate_pct"]
    header += [f"value_delivered_{c}" for c in currencies]
    rows = (
        [b.start.isoformat(), b.done, b.failed, _pct(b.failure_rate)]
        + [b.value.get(c, "") for c in currencies]
        for b in data.buckets
    )
    return header, rows


def _processes(data: Insights) -> tuple[list[str], Iterable[list[Any]]]:
    header = [
        "workspace",
        "process",
        "process_id",
        "done",
        "failed",
        "failure_rate_pct",
        "retried_done",
        "retried_failed_again",
        "retry_success_pct",
        "failed_now",
        "over_sla",
        "sla_hours",
        "value_per_item",
        "currency",
        "value_delivered",
        "value_at_risk",
    ]
    rows = (
        [
            r.process.workspace.name,
            r.process.name,
            r.process.external_id,
            r.done,
            r.failed,
            _pct(r.failure_rate),
            r.retried_done,
            r.retried_failed,
            _pct(r.retry_success),
            r.failed_now,
            r.over_sla,
            r.value.sla_hours or "",
            "" if r.value.per_item is None else r.value.per_item,
            r.value.currency,
            "" if r.value_delivered is None else r.value_delivered,
            "" if r.value_at_risk is None else r.value_at_risk,
        ]
        for r in data.processes
    )
    return header, rows


def _codes(data: Insights) -> tuple[list[str], Iterable[list[Any]]]:
    header = [
        "exception_type",
        "exception_code",
        "failures",
        "share_pct",
        "cumulative_pct",
        "retried_done",
        "retried_failed_again",
        "retry_success_pct",
    ]
    rows = (
        [
            c.exception_type,
            c.exception_code,
            c.failed,
            _pct(c.share),
            _pct(c.cumulative),
            c.retried_done,
            c.retried_failed,
            _pct(c.retry_success),
        ]
        for c in data.codes
    )
    return header, rows


def _durations(data: Insights) -> tuple[list[str], Iterable[list[Any]]]:
    header = [
        "workspace",
        "process",
        "runs",
        "run_p50_s",
        "run_p95_s",
        "resolved_items",
        "first_failure_to_done_p50_s",
        "first_failure_to_done_p95_s",
    ]
    rows = (
        [
            r.process.workspace.name,
            r.process.name,
            r.runs,
            _secs(r.run_p50),
            _secs(r.run_p95),
            r.resolved,
            _secs(r.resolution_p50),
            _secs(r.resolution_p95),
        ]
        for r in data.processes
    )
    return header, rows


TABLES: dict[str, Callable[[Insights], tuple[list[str], Iterable[list[Any]]]]] = {
    "throughput": _throughput,
    "processes": _processes,
    "codes": _codes,
    "durations": _durations,
}


def safe(value: Any) -> Any:
    """A cell a spreadsheet will not run as a formula (= + - @ first, or a tab / CR)."""
    if not isinstance(value, str):
        return value
    first = value.lstrip(" \t\r\n\f\v\u00a0\u3000")[:1]
    if first in ("=", "+", "-", "@") or value[:1] in ("\t", "\r", "\n"):
        return "'" + value
    return value


def response(data: Insights, table: str, name: str) -> HttpResponse:
    """The CSV of one table (`table` must be in TABLES)."""
    header, rows = TABLES[table](data)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    for row in rows:
        writer.writerow([safe(v) for v in row])
    out = HttpResponse(buffer.getvalue(), content_type="text/csv; charset=utf-8")
    out["Content-Disposition"] = (
        f'attachment; filename="insights-{name}-{table}-{data.period.key}.csv"'
    )
    return out
