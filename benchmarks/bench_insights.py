"""Benchmark the insights rollups and pages on a big mirror (not a test).

Creates its own PostgreSQL database, migrates it, seeds N work items (default 200,000) over
the last 30 days — 2 workspaces x 10 processes, ~10% failed with a failure occurrence each,
~5% of the done items retried to done after a failure, one run per 200 items — builds the
rollups once (`rebuild_workspace`, the full GROUP BY), then:

- simulates syncs that touch K items (new done and failed items, failed items retried to
  done with their state change and settled occurrence) and times `update_workspace` after
  each: it must read about K rows, whatever the mirror's size;
- times the insights pages through Django's test Client (server time: routing, middleware,
  queries, templates) for each period, and counts their queries.

    .venv/bin/python benchmarks/bench_insights.py [--items 200000] [--runs 20] [--db NAME]

Targets: page p95 <= 100 ms; an update after a sync touching K items reads <= 3 K + 100 rows.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from django_setup import setup_django
from results import TARGET_MISSED, report
from world import bench_team, bench_workspace

REPO = Path(__file__).resolve().parent.parent
PG_ADMIN_URL = "postgres://postgres@127.0.0.1:5432/postgres"
PAGE_P95_MS = 100
CODES = [("application", f"APP_{k:02d}") for k in range(12)] + [
    ("business", f"BIZ_{k:02d}") for k in range(18)
]


def say(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def _database(name: str, drop: bool = False) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        if not drop:
            conn.execute(f"CREATE DATABASE {name}")


def _setup_django(name: str) -> None:
    setup_django(None, f"postgres://postgres@127.0.0.1:5432/{name}")


def _world() -> tuple[Any, list[Any], list[Any]]:
    from dashboard.accounts.models import Role
    from dashboard.insights.models import ProcessValue
    from dashboard.mirror.models import Process

    user, team = bench_team(Role.ADMIN)
    workspaces, processes = [], []
    for w in range(2):
        ws = bench_workspace(team, w)
        workspaces.append(ws)
        for p in range(10):
            proc = Process.objects.create(
                workspace=ws, external_id=f"p-{w}-{p}", name=f"Process {w}-{p}"
            )
            processes.append(proc)
            ProcessValue.objects.create(
                workspace=ws,
                process_external_id=proc.external_id,
                value_per_item=5 + p,
                currency="EUR",
                sla_hours=24,
            )
    return user, workspaces, processes


def _seed(processes: list[Any], items: int, now: datetime, seed: int = 7) -> None:
    from dashboard.mirror.models import FailureOccurrence, ProcessRun, WorkItem

    rnd = random.Random(seed)
    span = 30 * 24 * 3600
    runs: dict[int, list[Any]] = {}
    run_rows = []
    for proc in processes:
        for r in range(max(1, items // 200 // len(processes))):
            created = now - timedelta(seconds=rnd.uniform(0, span))
            seconds = rnd.lognormvariate(6.5, 0.8)
            run_rows.append(
                ProcessRun(
                    workspace_id=proc.workspace_id,
                    process=proc,
                    process_external_id=proc.external_id,
                    external_id=f"run-{proc.pk}-{r}",
                    state="completed",
                    created_at=created,
                    started_at=created,
                    ended_at=created + timedelta(seconds=seconds),
                    duration=seconds,
                )
            )
    ProcessRun.objects.bulk_create(run_rows, batch_size=5000)
    for run in ProcessRun.objects.all():
        runs.setdefault(run.process_id, []).append(run)
    batch: list[Any] = []
    failures: list[tuple[int, int, datetime, tuple[str, str], bool]] = []
    for k in range(items):
        proc = processes[k % len(processes)]
        created = now - timedelta(seconds=rnd.uniform(0, span))
        updated = created + timedelta(seconds=rnd.uniform(5, 600))
        roll = rnd.random()
        state = "failed" if roll < 0.10 else "done"
        code = rnd.choice(CODES) if state == "failed" or roll < 0.15 else ("", "")
        batch.append(
            WorkItem(
                workspace_id=proc.workspace_id,
                process=proc,
                process_external_id=proc.external_id,
                process_run=rnd.choice(runs[proc.pk]),
                external_id=f"item-{k}",
                state=state,
                state_updated_at=updated,
                created_at=created,
                exception_type=code[0] if state == "failed" else "",
                exception_code=code[1] if state == "failed" else "",
            )
        )
        if len(batch) == 5000:
            _flush(batch, failures)
    _flush(batch, failures)
    occurrences = [
        FailureOccurrence(
            workspace_id=ws,
            work_item_id=pk,
            number=1,
            seen_at=when,
            failed_at=when,
            exception_type=code[0],
            exception_code=code[1],
            **(
                {
                    "retried_by": "bench",
                    "retried_at": when + timedelta(minutes=30),
                    "outcome": "done",
                    "outcome_at": when + timedelta(hours=1),
                    "left_failed_at": when + timedelta(minutes=30),
                }
                if retried
                else {}
            ),
        )
        for ws, pk, when, code, retried in failures
    ]
    FailureOccurrence.objects.bulk_create(occurrences, batch_size=5000)


def _flush(batch: list[Any], failures: list[Any]) -> None:
    from dashboard.mirror.models import WorkItem

    made = WorkItem.objects.bulk_create(batch, batch_size=5000)
    for item in made:
        assert item.state_updated_at is not None  # seeded
        if item.state == "failed":
            failures.append(
                (
                    item.workspace_id,
                    item.pk,
                    item.state_updated_at,
                    (item.exception_type, item.exception_code),
                    False,
                )
            )
        elif item.exception_code == "" and item.pk % 20 == 0:
            # Done after a retry: failed an hour before it turned done.
            failures.append(
                (
                    item.workspace_id,
                    item.pk,
                    item.state_updated_at - timedelta(hours=1),
                    CODES[item.pk % len(CODES)],
                    True,
                )
            )
    batch.clear()


def _simulate_sync(
    workspace: Any, processes: list[Any], touched: int, tag: str
) -> None:
    """What a sync of `touched` items writes: new done / failed items (with occurrences) and
    failed items retried to done (state change, occurrence settled)."""
    from dashboard.mirror.models import (
        FailureOccurrence,
        WorkItem,
        WorkItemStateChange,
    )

    now = datetime.now(UTC)
    mine = [p for p in processes if p.workspace_id == workspace.pk]
    fresh = touched * 8 // 10
    rows = []
    for k in range(fresh):
        proc = mine[k % len(mine)]
        state = "failed" if k % 10 == 0 else "done"
        rows.append(
            WorkItem(
                workspace=workspace,
                process=proc,
                process_external_id=proc.external_id,
                external_id=f"{tag}-{k}",
                state=state,
                state_updated_at=now - timedelta(minutes=k % 50),
                created_at=now - timedelta(minutes=60),
                exception_type="application" if state == "failed" else "",
                exception_code="APP_01" if state == "failed" else "",
            )
        )
    made = WorkItem.objects.bulk_create(rows, batch_size=5000)
    FailureOccurrence.objects.bulk_create(
        [
            FailureOccurrence(
                workspace=workspace,
                work_item=i,
                number=1,
                failed_at=i.state_updated_at,
                exception_type="application",
                exception_code="APP_01",
            )
            for i in made
            if i.state == "failed"
        ],
        batch_size=5000,
    )
    retried = list(
        WorkItem.objects.filter(workspace=workspace, state="failed")
        .exclude(external_id__startswith=tag)
        .order_by("id")
        .values_list("id", flat=True)[: touched - fresh]
    )
    WorkItem.objects.filter(pk__in=retried).update(state="done", state_updated_at=now)
    WorkItemStateChange.objects.bulk_create(
        [
            WorkItemStateChange(
                work_item_id=pk, old_state="failed", new_state="done", observed_at=now
            )
            for pk in retried
        ],
        batch_size=5000,
    )
    FailureOccurrence.objects.filter(work_item_id__in=retried, outcome="").update(
        outcome="done",
        outcome_at=now,
        retried_at=now - timedelta(minutes=5),
        retried_by="bench",
        left_failed_at=now,
    )


def _pages(user: Any, workspaces: list[Any], processes: list[Any], runs: int) -> bool:
    from django.conf import settings
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.urls import reverse

    settings.ALLOWED_HOSTS = ["*"]  # the test Client's "testserver"
    client = Client()
    client.force_login(user)
    urls = {
        "overview": reverse("insights-overview"),
        "workspace": reverse("insights-workspace", args=[workspaces[0].pk]),
        "process": reverse(
            "insights-process", args=[workspaces[0].pk, processes[0].external_id]
        ),
    }
    ok = True
    # Existing pages timed in the same run: what this machine's load does to any page.
    for label, url in (
        ("(ref) processes", reverse("processes-overview")),
        ("(ref) home", reverse("home")),
    ):
        client.get(url)
        times = []
        for _ in range(runs):
            started = time.perf_counter()
            assert client.get(url).status_code == 200
            times.append((time.perf_counter() - started) * 1000)
        p95 = sorted(times)[max(0, int(len(times) * 0.95) - 1)]
        say(
            f"  page {label}: p50 {statistics.median(times):6.1f} ms  p95 {p95:6.1f} ms"
        )
        report(f"insights bench reference {label} p95", round(p95, 1), "ms")
    for label, url in urls.items():
        for period in ("24h", "7d", "30d"):
            client.get(url, {"period": period})  # warm
            times = []
            for _ in range(runs):
                with CaptureQueriesContext(connection) as captured:
                    started = time.perf_counter()
                    response = client.get(url, {"period": period})
                    times.append((time.perf_counter() - started) * 1000)
                assert response.status_code == 200, response.status_code
            p50 = statistics.median(times)
            p95 = sorted(times)[max(0, int(len(times) * 0.95) - 1)]
            say(
                f"  page {label:9} {period:>3}: p50 {p50:6.1f} ms  p95 {p95:6.1f} ms  "
                f"{len(captured)} queries"
            )
            met = report(
                f"insights page {label} {period} p95",
                round(p95, 1),
                "ms",
                target=PAGE_P95_MS,
                higher_is_better=False,
            )
            ok = ok and bool(met)
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--db", default="workroom_bench_insights")
    parser.add_argument("--keep", action="store_true", help="keep the database")
    args = parser.parse_args()
    _database(args.db)
    try:
        _setup_django(args.db)
        return _run(args)
    finally:
        if not args.keep:
            from django.db import connections

            connections.close_all()
            _database(args.db, drop=True)


def _run(args: argparse.Namespace) -> int:
    from django.db import connection

    from dashboard.insights.rollups import rebuild_workspace, update_workspace

    user, workspaces, processes = _world()
    now = datetime.now(UTC)
    started = time.perf_counter()
    _seed(processes, args.items, now)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    say(f"seeded {args.items:,} items in {time.perf_counter() - started:.1f} s")

    started = time.perf_counter()
    for ws in workspaces:
        rebuild_workspace(ws.pk)
    rebuild = time.perf_counter() - started
    say(f"rebuild (full GROUP BY of the mirror): {rebuild:.2f} s")
    report("insights rebuild", round(rebuild, 2), "s", note=f"{args.items:,} items")

    ok = True
    ws = workspaces[0]
    for touched in (100, 1_000, 10_000):
        _simulate_sync(ws, processes, touched, tag=f"sync{touched}")
        started = time.perf_counter()
        result = update_workspace(ws.pk)
        ms = (time.perf_counter() - started) * 1000
        say(
            f"  update after a sync touching {touched:>6,} items: {ms:8.1f} ms, "
            f"{result.rows_read:,} rows read, {result.item_hours} item hours, "
            f"{result.failure_hours} failure hours recomputed"
        )
        report(f"insights update after {touched} items", round(ms, 1), "ms")
        met = report(
            f"insights update rows read / items touched ({touched})",
            round(result.rows_read / touched, 2),
            "x",
            target=3 + 100 / touched,
            higher_is_better=False,
        )
        ok = ok and bool(met)
    ok = _pages(user, workspaces, processes, args.runs) and ok
    return 0 if ok else TARGET_MISSED


if __name__ == "__main__":
    sys.exit(main())
