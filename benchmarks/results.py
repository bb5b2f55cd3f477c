"""One figure of a benchmark, for the table `make bench` prints (benchmarks/run_all.py).

A benchmark prints its figures for people; it also calls `report` for the few that have a
target. When `WORKROOM_BENCH_RESULTS` names a file (run_all sets it), each figure is appended
there as one JSON line; otherwise `report` does nothing more than return the verdict.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

# Exit status of a benchmark that ran to the end but missed a target (1 is a crash).
TARGET_MISSED = 3


def report(
    name: str,
    figure: float,
    unit: str,
    *,
    target: float | None = None,
    higher_is_better: bool = True,
    note: str = "",
) -> bool | None:
    """Record `figure` (in `unit`) under `name`; return whether it meets `target` (None: no target)."""
    met: bool | None = None
    if target is not None:
        met = figure >= target if higher_is_better else figure <= target
    path = os.environ.get("WORKROOM_BENCH_RESULTS")
    if path:
        line = {
            "name": name,
            "figure": figure,
            "unit": unit,
            "target": target,
            "higher_is_better": higher_is_better,
            "met": met,
            "note": note,
        }
        with Path(path).open("a", encoding="utf-8") as out:
            out.write(json.dumps(line) + "\n")
    return met
