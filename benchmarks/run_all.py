# ruff: noqa: T201, S603 - a command-line runner: it prints and runs the benchmarks as children.
"""Run every benchmark and print one table: figure, target, met?

    .venv/bin/python benchmarks/run_all.py            # reduced sizes, a few minutes (make bench)
    .venv/bin/python benchmarks/run_all.py --full     # the issue's sizes (make bench-full; long)
    .venv/bin/python benchmarks/run_all.py --only sync,bulk

Each benchmark runs as a child process with its usual output streamed through; the figures
with a target come back through `results.report` (a JSON-lines file named by
WORKROOM_BENCH_RESULTS). Exits non-zero when a benchmark fails to run (not when a target is
missed: the table says that).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from results import TARGET_MISSED

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PG = "postgres://postgres@127.0.0.1:5432/workroom_bench_bulk"

# name -> (reduced argv, full argv), scripts relative to benchmarks/
BENCHMARKS: dict[str, tuple[list[str], list[str]]] = {
    "sync": (
        # Half the target's 100,000 items: at 20,000 the sync's fixed costs (100 payload
        # reads, two ANALYZEs, the run listing) were a fifth of its time on PostgreSQL.
        ["bench_sync.py", "--items", "50000", "--naive-items", "5000", "--big", "0"],
        ["bench_sync.py", "--items", "100000", "--naive-items", "10000"],
    ),
    "explorer": (
        ["bench_explorer.py", "--items", "100000", "--runs", "15"],
        ["bench_explorer.py", "--items", "1000000", "--runs", "40"],
    ),
    "bulk": (
        ["bench_bulk.py", "--items", "5000"],
        [
            *("bench_bulk.py", "--items", "100000", "--workers", "2"),
            *("--database-url", PG),
        ],
    ),
    "scale": (
        [
            *("bench_scale.py", "--workspaces", "10", "--items", "2000"),
            *("--workers", "4", "--interval", "20", "--phase", "45"),
            *("--fault-latency", "15"),
        ],
        ["bench_scale.py", "--workspaces", "50", "--items", "20000", "--workers", "4"],
    ),
    "insights": (
        ["bench_insights.py", "--items", "200000", "--runs", "15"],
        ["bench_insights.py", "--items", "1000000", "--runs", "30"],
    ),
    "convergence": (
        ["bench_convergence.py", "--webhooks"],
        ["bench_convergence.py", "--webhooks"],
    ),
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="the issue's full sizes")
    parser.add_argument(
        "--only", default="", help=f"comma-separated subset of {','.join(BENCHMARKS)}"
    )
    args = parser.parse_args()
    names = [n for n in args.only.split(",") if n] or list(BENCHMARKS)
    unknown = sorted(set(names) - set(BENCHMARKS))
    if unknown:
        print(f"run_all: unknown benchmark {', '.join(unknown)}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="workroom-bench-") as tmp:
        results = Path(tmp) / "results.jsonl"
        results.touch()
        failed = [name for name in names if not _run(name, args.full, results)]
        figures = [json.loads(line) for line in results.read_text().splitlines()]
    print()
    print(table(figures, full=args.full))
    if failed:
        print(f"run_all: {', '.join(failed)} did not finish", file=sys.stderr)
        return 1
    return 0


def _run(name: str, full: bool, results: Path) -> bool:
    reduced, complete = BENCHMARKS[name]
    script, *options = complete if full else reduced
    argv = [sys.executable, str(HERE / script), *options]
    print(f"\n### {name}: {' '.join(argv[1:])}", flush=True)
    env = {**os.environ, "WORKROOM_BENCH_RESULTS": str(results)}
    started = time.perf_counter()
    answer = subprocess.run(argv, cwd=ROOT, env=env, check=False)
    print(
        f"### {name}: {time.perf_counter() - started:.0f} s, exit {answer.returncode}"
    )
    return answer.returncode in (0, TARGET_MISSED)  # a missed target shows in the table


def table(figures: list[dict[str, object]], *, full: bool) -> str:
    """Render the figures as a fixed-width table."""
    size = (
        "full sizes"
        if full
        else "reduced sizes (make bench-full for the issue's sizes)"
    )
    lines = [
        f"Workroom benchmarks, {size}; load average {os.getloadavg()[0]:.1f}",
        f"{'figure':52} {'value':>14} {'target':>14}  met?",
    ]
    for f in figures:
        unit = str(f["unit"])
        value = f"{_number(f['figure'])} {unit}"
        target = "—"
        if f["target"] is not None:
            sign = ">=" if f["higher_is_better"] else "<="
            target = f"{sign} {_number(f['target'])}"
        met = {True: "yes", False: "NO", None: ""}[f["met"]]  # type: ignore[index]
        note = f"  ({f['note']})" if f["note"] else ""
        lines.append(f"{f['name']:52} {value:>14} {target:>14}  {met}{note}")
    return "\n".join(lines)


def _number(value: object) -> str:
    number = float(value)  # type: ignore[arg-type]
    if number >= 100:
        return f"{number:,.0f}"
    return f"{number:.2f}" if number < 10 else f"{number:.1f}"


if __name__ == "__main__":
    raise SystemExit(main())
