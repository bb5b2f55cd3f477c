"""From the period's numbers to the charts drawn on the page."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from dashboard.insights import charts
from dashboard.insights.models import ProcessValue
from dashboard.insights.selectors import PARETO_CODES, Insights
from dashboard.mirror.models import Process
from dashboard.workspaces.models import Workspace


def _when(data: Insights) -> tuple[list[str], list[str]]:
    unit = data.period.unit
    labels = [
        b.start.strftime("%H:00" if unit == "hour" else "%b %d") for b in data.buckets
    ]
    exact = [
        b.start.strftime("%Y-%m-%d %H:00" if unit == "hour" else "%Y-%m-%d")
        for b in data.buckets
    ]
    return labels, exact


def throughput(data: Insights) -> charts.Chart:
    labels, exact = _when(data)
    unit = data.period.unit
    if data.done + data.failed:
        busiest = max(data.buckets, key=lambda b: b.done + b.failed)
        rate = data.failure_rate or 0.0
        summary = (
            f"In the last {data.period.label}, {data.done} work items were done and "
            f"{data.failed} failures began ({rate * 100:.1f}% failed). Busiest {unit}: "
            f"{busiest.start:%Y-%m-%d %H:00} with {busiest.done} done and "
            f"{busiest.failed} failed."
        )
    else:
        summary = f"No work item was done or failed in the last {data.period.label}."
    return charts.bars(
        "throughput-chart",
        f"Work items done and failed per {unit}",
        summary,
        labels,
        [
            f"{when}: {b.done} done, {b.failed} failed"
            + (
                f" ({b.failure_rate * 100:.1f}% failed)"
                if b.failure_rate is not None
                else ""
            )
            for when, b in zip(exact, data.buckets, strict=True)
        ],
        [[("wr-done", b.done), ("wr-failed", b.failed)] for b in data.buckets],
    )


def pareto(data: Insights) -> charts.Chart:
    top = data.codes[:PARETO_CODES]
    if top:
        first = top[0]
        summary = (
            f"{len(data.codes)} exception codes; the most frequent, {first.label}, "
            f"caused {first.share * 100:.0f}% of {data.failed} failures"
        )
        covering = next((i + 1 for i, c in enumerate(top) if c.cumulative >= 0.8), None)
        if covering:
            summary += f"; the top {covering} cause 80% or more."
        else:
            summary += "."
    else:
        summary = f"No failure in the last {data.period.label}."
    return charts.pareto(
        "pareto-chart",
        "Failures per exception code, most frequent first, with the cumulative share",
        summary,
        [c.label for c in top],
        [c.failed for c in top],
        [c.cumulative for c in top],
    )


def value(data: Insights) -> charts.Chart | None:
    """Value delivered per bucket in the currency with the most value (None: no value set)."""
    totals = data.value_totals()
    if not totals:
        return None
    currency = max(totals, key=lambda t: t[1])[0]
    labels, exact = _when(data)
    amounts = [b.value.get(currency, Decimal(0)) for b in data.buckets]
    return charts.bars(
        "value-chart",
        f"Value delivered per {data.period.unit} ({currency})",
        f"{sum(amounts):,.2f} {currency} delivered in the last {data.period.label}.",
        labels,
        [
            f"{w}: {charts.money(a)} {currency}"
            for w, a in zip(exact, amounts, strict=True)
        ],
        [[("wr-value", float(a))] for a in amounts],
    )


def charts_for(data: Insights) -> dict[str, Any]:
    return {
        "throughput": throughput(data),
        "pareto": pareto(data),
        "value": value(data),
    }


def value_initial(workspace: Workspace, process: Process) -> dict[str, Any]:
    row = ProcessValue.objects.filter(
        workspace=workspace, process_external_id=process.external_id
    ).first()
    if row is None:
        return {}
    return {
        "value_per_item": row.value_per_item,
        "currency": row.currency,
        "sla_hours": row.sla_hours,
    }
