# ruff: noqa: T201, S603 - a command-line benchmark: it prints and runs worker subprocesses.
"""Benchmark: many workspaces on a few workers; the scheduled sync's lag, with and without a
faulty workspace.

    .venv/bin/python benchmarks/bench_scale.py [--workspaces 50] [--items 20000] [--workers 4]
        [--interval 60] [--phase 180] [--fault-latency 20]
        [--database-url postgres://postgres@127.0.0.1:5432/workroom_bench_scale]

One child process serves `--workspaces` Control Room emulators (one workspace each, `--items`
work items: 99 % done, 1 % failed), so their CPU is not this process's. Every workspace is
added through the workspace service and synced every `--interval` seconds by real
`celery worker` processes (`--workers`, prefork, one process each) on a private queue, the
dispatcher ticking every 5 s as beat does. After the first (initial) load, two phases of
`--phase` seconds each:

  A. every workspace healthy;
  B. one workspace's Control Room answers every request `--fault-latency` seconds late.

Lag = finished_at - due_at of each scheduled sync (when the workspace fell due to when its
sync ended; a sync still unfinished at the end counts with the phase's end). Prints the
healthy workspaces' lag p50 / p95 / max in both phases, how many of their syncs missed their
interval, and what PostgreSQL and Redis did per second. Targets (issue 17): every healthy
workspace's no-change sync completes within its interval, with and without the faulty one.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from django_setup import setup_django, start_celery_worker  # noqa: E402
from results import TARGET_MISSED, report  # noqa: E402

PG_DEFAULT = "postgres://postgres@127.0.0.1:5432/workroom_bench_scale"
TICK = 5.0  # seconds between dispatcher runs, as beat's "mirror-dispatch-due-syncs"


def serve_emulators(count: int, items: int) -> None:
    """Child mode: start `count` seeded emulators, print one JSON line each, then wait."""
    from robocorp_api.emulator import EmulatorServer

    servers = []
    for n in range(count):
        emu = EmulatorServer(
            host="127.0.0.1", port=0, seed="empty", workspace_id=f"scale-{n:03d}"
        )
        emu.start()
        emu.pause_robots()
        process = emu.store.add_process(
            f"Scale {n}", steps=["Only"], item_seconds=0.01, failure_rate=0.01
        )
        emu.store.create_run(process.id, payloads=[{"n": k} for k in range(items)])
        emu.advance(3600)
        servers.append(emu)
        info = {
            "url": emu.api_base_url,
            "admin": emu.url,
            "workspace_id": emu.workspace_id,
            "key": emu.api_key,
        }
        print(json.dumps(info), flush=True)
    print("ready", flush=True)
    sys.stdin.read()  # until the parent closes the pipe
    for emu in servers:
        emu.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workspaces", type=int, default=50)
    parser.add_argument("--items", type=int, default=20_000)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--interval", type=int, default=60)
    parser.add_argument("--phase", type=int, default=180)
    parser.add_argument("--fault-latency", type=float, default=20.0)
    parser.add_argument("--database-url", default=PG_DEFAULT)
    parser.add_argument(
        "--serve-emulators", action="store_true", help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.serve_emulators:
        serve_emulators(args.workspaces, args.items)
        return 0

    tmp = Path(tempfile.mkdtemp(prefix="bench-scale-"))
    fresh_database(args.database_url)
    queue = f"bench-scale-{uuid.uuid4().hex[:8]}"
    setup_django(
        tmp,
        args.database_url,
        WORKROOM_SYNC_QUEUE=queue,
        WORKROOM_POLICY_QUEUE=queue,
        WORKROOM_ALERT_QUEUE=queue,
        WORKROOM_BULK_QUEUE=queue,
        WORKROOM_UNDO_QUEUE=queue,
    )
    return run(args, queue, tmp)


def fresh_database(url: str) -> None:
    """Drop and create the benchmark's database: workspaces of an earlier run (their
    emulators gone) would otherwise be dispatched too."""
    import psycopg
    from psycopg import sql

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    admin = urlunsplit(("postgresql", parts.netloc, "/postgres", "", ""))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def start_emulators(
    args: argparse.Namespace, tmp: Path
) -> tuple[Any, list[dict[str, str]]]:
    child = subprocess.Popen(
        [
            sys.executable,
            __file__,
            "--serve-emulators",
            "--workspaces",
            str(args.workspaces),
            "--items",
            str(args.items),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=(tmp / "emulators.log").open("wb"),
        text=True,
        start_new_session=True,
    )
    infos: list[dict[str, str]] = []
    assert child.stdout is not None
    for line in child.stdout:
        if line.strip() == "ready":
            break
        infos.append(json.loads(line))
    if len(infos) != args.workspaces:
        raise SystemExit(f"the emulators did not start; see {tmp / 'emulators.log'}")
    return child, infos


def start_workers(args: argparse.Namespace, queue: str, tmp: Path) -> list[Any]:
    return [
        start_celery_worker(
            queue,
            concurrency=1,
            name=f"bench-scale-{n}-{queue}",
            log=tmp / f"worker-{n}.log",
        )
        for n in range(args.workers)
    ]


def drive(seconds: float, until: Any = None) -> None:
    """Be beat for `seconds` (or until `until()`): dispatch every TICK, sweep every minute."""
    from dashboard.mirror.services.syncruns import dispatch_due_syncs, sweep

    end = time.monotonic() + seconds
    last_sweep = time.monotonic()
    while time.monotonic() < end:
        dispatch_due_syncs()
        if time.monotonic() - last_sweep >= 60:
            sweep()
            last_sweep = time.monotonic()
        if until is not None and until():
            return
        time.sleep(TICK)


class Load:
    """PostgreSQL transactions and rows, Redis commands: deltas per second over a phase."""

    def __init__(self) -> None:
        self.start = self._read()
        self.t0 = time.monotonic()

    @staticmethod
    def _read() -> dict[str, float]:
        import redis
        from django.conf import settings
        from django.db import connection

        out: dict[str, float] = {}
        if connection.vendor == "postgresql":
            with connection.cursor() as cur:
                cur.execute(
                    "SELECT xact_commit, tup_returned + tup_fetched, "
                    "tup_inserted + tup_updated + tup_deleted "
                    "FROM pg_stat_database WHERE datname = current_database()"
                )
                commits, read, written = cur.fetchone()
            out |= {
                "pg_commits": commits,
                "pg_rows_read": read,
                "pg_rows_written": written,
            }
        client = redis.Redis.from_url(settings.REDIS_URL)
        out["redis_commands"] = float(client.info("stats")["total_commands_processed"])
        client.close()
        return out

    def per_second(self) -> dict[str, float]:
        end = self._read()
        seconds = time.monotonic() - self.t0
        return {k: (end[k] - self.start[k]) / seconds for k in end}


def lags(since: Any, until: Any, workspaces: list[int]) -> tuple[list[float], int]:
    """Lag (seconds) of every scheduled sync of `workspaces` due in [since, until)."""
    from dashboard.mirror.models import SyncRun

    out: list[float] = []
    failed = 0
    for due, finished, status in SyncRun.objects.filter(
        workspace_id__in=workspaces,
        trigger=SyncRun.Trigger.BEAT,
        due_at__gte=since,
        due_at__lt=until,
    ).values_list("due_at", "finished_at", "status"):
        end = finished if finished is not None and finished <= until else until
        out.append((end - due).total_seconds())
        failed += status in (SyncRun.Status.FAILED, SyncRun.Status.SKIPPED)
    return out, failed


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def run(args: argparse.Namespace, queue: str, tmp: Path) -> int:
    import requests
    from django.utils import timezone

    from dashboard.accounts.models import Role
    from dashboard.mirror.models import SyncRun, WorkspaceSyncState
    from dashboard.workspaces import services as workspace_services
    from dashboard.workspaces.models import Workspace
    from tests.dashboard.factories import add_member, make_team, make_user

    t0 = time.perf_counter()
    child, infos = start_emulators(args, tmp)
    workers: list[Any] = []
    try:
        print(
            f"{args.workspaces} emulators x {args.items:,} items seeded in "
            f"{time.perf_counter() - t0:.1f} s"
        )
        user = make_user(f"bench-{uuid.uuid4().hex[:6]}")
        team = make_team(f"Scale {uuid.uuid4().hex[:6]}")
        add_member(team, user, Role.ADMIN)
        ids: list[int] = []
        for n, info in enumerate(infos):
            ws = workspace_services.add_workspace(
                team,
                user,
                name=f"Scale {n}",
                base_url=info["url"],
                cr_workspace_id=info["workspace_id"],
                api_key=info["key"],
            )
            ids.append(ws.pk)
        Workspace.objects.filter(pk__in=ids).update(sync_interval_seconds=args.interval)
        workers = start_workers(args, queue, tmp)
        time.sleep(3)  # worker boot

        t1 = time.perf_counter()

        def loaded() -> bool:
            return SyncRun.objects.filter(
                workspace_id__in=ids, status=SyncRun.Status.SUCCEEDED
            ).values("workspace_id").distinct().count() == len(ids)

        drive(3600, until=loaded)
        print(
            f"initial load of {len(ids)} workspaces by {args.workers} workers: "
            f"{time.perf_counter() - t1:.1f} s"
        )
        drive(args.interval + TICK)  # every workspace through one no-change sync

        healthy, faulty = ids[1:], ids[0]
        figures: dict[str, tuple[list[float], int, dict[str, float]]] = {}
        for phase in ("healthy", "faulty"):
            if phase == "faulty":
                requests.post(
                    infos[0]["admin"] + "/__emulator__/faults",
                    json={
                        "kind": "latency",
                        "latency_ms": int(args.fault_latency * 1000),
                        "path": "^/api/",
                    },
                    timeout=10,
                ).raise_for_status()
            since = timezone.now()
            load = Load()
            drive(args.phase)
            until = timezone.now()
            found, failed = lags(since, until, healthy)
            figures[phase] = (found, failed, load.per_second())
        faulty_lags, faulty_failed = lags(since, until, [faulty])
        state = WorkspaceSyncState.objects.get(pk=faulty)
        return summarise(args, figures, faulty_lags, faulty_failed, state)
    finally:
        for worker in workers:
            try:
                os.killpg(worker.pid, signal.SIGTERM)
                worker.wait(timeout=30)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                os.killpg(worker.pid, signal.SIGKILL)
        if child.stdin:
            child.stdin.close()
        try:
            child.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(child.pid, signal.SIGKILL)


def summarise(
    args: argparse.Namespace,
    figures: dict[str, tuple[list[float], int, dict[str, float]]],
    faulty_lags: list[float],
    faulty_failed: int,
    state: Any,
) -> int:
    ok = True
    size = f"{args.workspaces} ws x {args.items:,}, {args.workers} workers"
    for phase, (found, failed, load) in figures.items():
        late = sum(1 for lag in found if lag > args.interval)
        label = "all healthy" if phase == "healthy" else "one workspace faulty"
        print(
            f"{label}: {len(found)} scheduled syncs of healthy workspaces; lag p50 "
            f"{pct(found, 50):.1f} s, p95 {pct(found, 95):.1f} s, max "
            f"{max(found, default=float('nan')):.1f} s; {late} past the {args.interval} s "
            f"interval, {failed} failed or skipped"
        )
        print(
            "  load: "
            + ", ".join(f"{name} {value:,.0f}/s" for name, value in load.items())
        )
        report(
            f"scale lag p50, {label} ({size})",
            pct(found, 50),
            "s",
            higher_is_better=False,
        )
        met = report(
            f"scale lag p95, {label} ({size})",
            pct(found, 95),
            "s",
            target=float(args.interval),
            higher_is_better=False,
        )
        ok = ok and bool(met) and late == 0 and bool(found)
    print(
        f"the faulty workspace ({args.fault_latency:.0f} s per request): "
        f"{len(faulty_lags)} scheduled syncs due, {faulty_failed} failed; lease held "
        f"until {state.lease_until}"
    )
    return 0 if ok else TARGET_MISSED


if __name__ == "__main__":
    raise SystemExit(main())
