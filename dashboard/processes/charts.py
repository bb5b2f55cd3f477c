"""Geometry of the server-rendered SVG throughput chart (templates/processes/_chart.html).

No JavaScript and no chart library: the view computes bar positions here, the template
draws them, and a `<title>`/`<desc>` plus a data table describe the chart to screen readers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from dashboard.processes.selectors import Bucket

WIDTH = 720
HEIGHT = 220
LEFT = 44
RIGHT = 8
TOP = 12
BOTTOM = 28


@dataclass(frozen=True)
class Bar:
    label: str
    when: str
    done: int
    failed: int
    tooltip: str
    x: float
    width: float
    done_y: float
    done_h: float
    failed_y: float
    failed_h: float
    show_label: bool


@dataclass(frozen=True)
class Tick:
    y: float
    value: int


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    left: int
    right_edge: int
    baseline: float
    bars: list[Bar]
    ticks: list[Tick]
    total_done: int
    total_failed: int
    summary: str
    unit: str

    @property
    def empty(self) -> bool:
        return self.total_done + self.total_failed == 0


def _nice_max(value: int) -> int:
    if value <= 4:
        return 4
    magnitude = 10 ** int(math.log10(value))
    for factor in (1, 2, 2.5, 5, 10):
        top = int(factor * magnitude)
        if top >= value and top % 4 == 0:
            return top
    return int(math.ceil(value / 4) * 4)


def _label(bucket: Bucket, unit: str) -> str:
    return bucket.start.strftime("%H:00" if unit == "hour" else "%b %d")


def build(buckets: list[Bucket], unit: str) -> Chart:
    """Return stacked bars (done below, failed on top) for the buckets."""
    plot_w = WIDTH - LEFT - RIGHT
    plot_h = HEIGHT - TOP - BOTTOM
    baseline = TOP + plot_h
    top = _nice_max(max((b.done + b.failed for b in buckets), default=0))
    slot = plot_w / max(len(buckets), 1)
    gap = min(4.0, slot * 0.2)
    every = max(1, math.ceil(len(buckets) / 12))
    bars = []
    for i, bucket in enumerate(buckets):
        done_h = plot_h * bucket.done / top
        failed_h = plot_h * bucket.failed / top
        label = _label(bucket, unit)
        when = bucket.start.strftime("%Y-%m-%d %H:00" if unit == "hour" else "%Y-%m-%d")
        bars.append(
            Bar(
                label=label,
                when=when,
                done=bucket.done,
                failed=bucket.failed,
                tooltip=f"{when}: {bucket.done} done, {bucket.failed} failed",
                x=round(LEFT + i * slot + gap / 2, 2),
                width=round(slot - gap, 2),
                done_y=round(baseline - done_h, 2),
                done_h=round(done_h, 2),
                failed_y=round(baseline - done_h - failed_h, 2),
                failed_h=round(failed_h, 2),
                show_label=i % every == 0,
            )
        )
    ticks = [Tick(round(baseline - plot_h * k / 4, 2), top * k // 4) for k in range(5)]
    done = sum(b.done for b in buckets)
    failed = sum(b.failed for b in buckets)
    return Chart(
        width=WIDTH,
        height=HEIGHT,
        left=LEFT,
        right_edge=WIDTH - RIGHT,
        baseline=baseline,
        bars=bars,
        ticks=ticks,
        total_done=done,
        total_failed=failed,
        summary=_summary(buckets, unit, done, failed),
        unit=unit,
    )


def _summary(buckets: list[Bucket], unit: str, done: int, failed: int) -> str:
    span = f"{len(buckets)} {unit}s"
    if not done and not failed:
        return f"No work items finished in the last {span}."
    busiest = max(buckets, key=lambda b: b.done + b.failed)
    rate = failed / (done + failed) * 100
    return (
        f"In the last {span}, {done} work items were done and {failed} failed "
        f"({rate:.1f}% failed). Busiest {unit}: {_label(busiest, unit)} with "
        f"{busiest.done} done and {busiest.failed} failed."
    )
