"""Geometry of the insights charts, drawn by the templates as server-side SVG.

No JavaScript and no chart library (the approach of processes/charts.py): positions are
computed here, `templates/insights/_*.html` draw them with `<title>`/`<desc>` and a table of
the same numbers beside each chart, and CSS classes give the colours (CSP: no inline style).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

WIDTH = 720
HEIGHT = 220
LEFT = 52
RIGHT = 44
TOP = 12
BOTTOM = 30


@dataclass(frozen=True)
class Segment:
    css: str  # wr-done | wr-failed | wr-value
    y: float
    h: float


@dataclass(frozen=True)
class Bar:
    label: str
    tooltip: str
    x: float
    width: float
    segments: tuple[Segment, ...]
    show_label: bool

    @property
    def middle(self) -> float:
        return round(self.x + self.width / 2, 2)


@dataclass(frozen=True)
class Tick:
    y: float
    value: str


@dataclass(frozen=True)
class Point:
    x: float
    y: float


@dataclass(frozen=True)
class Chart:
    id: str
    title: str
    summary: str
    bars: tuple[Bar, ...]
    ticks: tuple[Tick, ...]
    right_ticks: tuple[Tick, ...] = ()  # the Pareto's cumulative share
    line: str = ""  # SVG polyline points
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    right_edge: int = WIDTH - RIGHT
    baseline: float = HEIGHT - BOTTOM

    @property
    def empty(self) -> bool:
        return not any(seg.h for bar in self.bars for seg in bar.segments)


def nice_max(value: float) -> float:
    """A round top for the axis: ≥ value, divisible in four ticks."""
    if value <= 4:
        return 4
    magnitude = 10 ** int(math.log10(value))
    for factor in (1, 1.2, 2, 2.5, 4, 5, 8, 10):
        top = factor * magnitude
        if top >= value:
            return top
    return math.ceil(value / 4) * 4


def _fmt(value: float) -> str:
    return f"{value:,.0f}" if value >= 10 or value == int(value) else f"{value:,.1f}"


def bars(
    chart_id: str,
    title: str,
    summary: str,
    labels: Sequence[str],
    tooltips: Sequence[str],
    stacks: Sequence[Sequence[tuple[str, float]]],
) -> Chart:
    """Stacked bars: `stacks[i]` is [(css class, value), …] from the baseline up."""
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    baseline = TOP + plot_h
    top = nice_max(max((sum(v for _, v in s) for s in stacks), default=0))
    slot = plot_w / max(len(stacks), 1)
    gap = min(4.0, slot * 0.2)
    every = max(1, math.ceil(len(stacks) / 12))
    drawn = []
    for i, stack in enumerate(stacks):
        y: float = baseline
        segments = []
        for css, value in stack:
            h = plot_h * float(value) / top
            y -= h
            segments.append(Segment(css, round(y, 2), round(h, 2)))
        drawn.append(
            Bar(
                labels[i],
                tooltips[i],
                round(LEFT + i * slot + gap / 2, 2),
                round(slot - gap, 2),
                tuple(segments),
                i % every == 0,
            )
        )
    ticks = tuple(
        Tick(round(baseline - plot_h * k / 4, 2), _fmt(top * k / 4)) for k in range(5)
    )
    return Chart(chart_id, title, summary, tuple(drawn), ticks, baseline=baseline)


def pareto(
    chart_id: str,
    title: str,
    summary: str,
    labels: Sequence[str],
    counts: Sequence[int],
    cumulative: Sequence[float],
) -> Chart:
    """Bars of counts, largest first, with the cumulative share as a line (right axis)."""
    chart = bars(
        chart_id,
        title,
        summary,
        # Numbered as the rows of the table beside it: code names do not fit under a bar.
        [str(rank) for rank in range(1, len(labels) + 1)],
        [
            f"{rank}. {label}: {n} failures, {c * 100:.0f}% cumulative"
            for rank, (label, n, c) in enumerate(
                zip(labels, counts, cumulative, strict=True), start=1
            )
        ],
        [[("wr-failed", n)] for n in counts],
    )
    plot_h = chart.baseline - TOP
    points = " ".join(
        f"{bar.middle},{round(chart.baseline - plot_h * share, 2)}"
        for bar, share in zip(chart.bars, cumulative, strict=True)
    )
    right = tuple(
        Tick(round(chart.baseline - plot_h * k / 4, 2), f"{k * 25}%") for k in range(5)
    )
    return Chart(
        chart.id,
        chart.title,
        chart.summary,
        tuple(
            Bar(b.label, b.tooltip, b.x, b.width, b.segments, True) for b in chart.bars
        ),
        chart.ticks,
        right_ticks=right,
        line=points,
        baseline=chart.baseline,
    )


def money(value: Decimal | None) -> str:
    return "—" if value is None else f"{value:,.2f}"
