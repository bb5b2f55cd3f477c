# ruff: noqa: T201, S603 - a command-line benchmark: it prints, and runs the emulator and itself.
"""Benchmark the mirror sync (not a test): prints figures for SQLite and PostgreSQL.

For each database, in a child process of its own (Django binds one database per process):
1. full sync of a `large:N` emulator workspace (default 100,000 items): items/s, API requests
   and DB queries per 1,000 items, peak RSS of the syncing process (`--items 1000000` for
   the memory target: <= 200 MB during a 1M-item full sync);
2. the naive baseline against the same emulator: list a page, then GET each of its items, one
   request at a time (no database at all, so it flatters the baseline); its items/s and the
   sync's multiple of it;
3. optionally (`--big`, default 1,000,000 items): a full sync of a big workspace, then a
   no-change incremental sync (requests, seconds), without and with the failed-items sweep.

The emulator runs as a subprocess (`python -m robocorp_api.emulator`), so it does not share
the sync's CPU core through the GIL.

    .venv/bin/python benchmarks/bench_sync.py [--items 100000] [--naive-items 10000]
        [--big 1000000|0] [--db sqlite,postgres]

Targets (issue 17): a full sync >= 10,000 items/s on both databases and >= 10x the naive loop;
peak RSS of the syncing process <= 200 MB. Exits 3 when a target is missed.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import requests
from results import TARGET_MISSED, report

REPO = Path(__file__).resolve().parent.parent
PG_ADMIN_URL = "postgres://postgres@127.0.0.1:5432/postgres"
PG_BENCH_DB = "workroom_bench_sync"


@contextmanager
def emulator(seed: str) -> Iterator[dict[str, str]]:
    argv = [
        sys.executable,
        "-m",
        "robocorp_api.emulator",
        "--host",
        "127.0.0.1",
        "--port",
        "0",
    ]
    argv += ["--seed", seed, "--speed", "1"]
    proc = subprocess.Popen(argv, cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith("{"):
                info: dict[str, str] = json.loads(line)
                break
        else:
            raise SystemExit("the emulator did not start")
        info["pid"] = str(proc.pid)
        yield info
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def process_cpu(pid: int) -> float | None:
    """CPU seconds (user + system) another process has used so far; None where /proc
    cannot tell (not Linux, or not readable)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # Fields after the command name (which may hold spaces): utime and stime are 14 and 15.
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def database_pid() -> int | None:
    """The PostgreSQL backend serving this process's Django connection (None on SQLite)."""
    from django.db import connection

    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (pid,) = cursor.fetchone()
    return int(pid)


class OtherCpu:
    """CPU seconds the emulator subprocess and the PostgreSQL backend spend meanwhile."""

    def __init__(self, info: dict[str, str]) -> None:
        self.pids = {"emulator": int(info["pid"])}
        backend = database_pid()
        if backend is not None:
            self.pids["postgres backend"] = backend
        self.start = {name: process_cpu(pid) for name, pid in self.pids.items()}

    def spent(self) -> dict[str, float]:
        spent = {}
        for name, pid in self.pids.items():
            now, then = process_cpu(pid), self.start[name]
            if now is not None and then is not None:
                spent[name] = now - then
        return spent


def _pg_url(name: str) -> str:
    return f"postgres://postgres@127.0.0.1:5432/{name}"


SYNC_TARGET_ITEMS_PER_S = 10_000
NAIVE_MULTIPLE_TARGET = 10.0
RSS_TARGET_MB = 200
# Whether every figure with a target met it (the child's exit status says so).
MET: list[bool] = []


def child(
    db: str, items: int, big: int, naive_items: int, pg_db: str = PG_BENCH_DB
) -> None:
    os.environ["WORKROOM_DEV"] = "1"
    os.environ["DJANGO_SETTINGS_MODULE"] = "dashboard.settings"
    sqlite_file = REPO / "var" / f"{pg_db}.sqlite3"
    os.environ["DATABASE_URL"] = (
        f"sqlite:///{sqlite_file}" if db == "sqlite" else _pg_url(pg_db)
    )
    if db == "sqlite":
        for suffix in ("", "-wal", "-shm"):
            Path(f"{sqlite_file}{suffix}").unlink(missing_ok=True)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    print(f"== {db} ==", flush=True)
    with emulator(f"large:{items}") as info:
        rate = full_sync(info, items, db)
        if naive_items:
            naive = naive_loop(info, min(naive_items, items))
            multiple = rate / naive
            print(
                f"naive loop (list a page, GET each item; no database): {naive:,.0f} items/s; "
                f"the sync is {multiple:.1f}x faster",
                flush=True,
            )
            _target(
                f"sync vs naive loop ({db})",
                multiple,
                "x",
                target=NAIVE_MULTIPLE_TARGET,
            )
    if big:
        with emulator(f"large:{big}") as info:
            big_workspace(info, big)
    if not all(MET):
        raise SystemExit(TARGET_MISSED)


def _target(name: str, figure: float, unit: str, **kwargs: Any) -> None:
    MET.append(report(name, figure, unit, **kwargs) is not False)


class QueryCounter:
    def __init__(self) -> None:
        self.count = 0

    def __call__(
        self, execute: Any, sql: str, params: Any, many: bool, context: Any
    ) -> Any:
        self.count += 1
        return execute(sql, params, many, context)


class PhaseClock:
    """Checkpoint callback of the sync: wall-clock seconds spent in each phase."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._phase, self._since = "", time.perf_counter()

    def __call__(self, phase: str, result: Any) -> None:
        if phase != self._phase:
            self.stop()
            self._phase = phase

    def stop(self) -> None:
        now = time.perf_counter()
        if self._phase:
            self.seconds[self._phase] = (
                self.seconds.get(self._phase, 0.0) + now - self._since
            )
        self._since = now

    def __str__(self) -> str:
        return ", ".join(f"{name} {sec:.1f} s" for name, sec in self.seconds.items())


def _vacuum() -> None:
    """Clear away the previous run's deleted rows on PostgreSQL (the database outlives the
    runs), so every run's first load starts on the same clean tables: without it the
    dead index entries of the runs before cost the server 20-45% more CPU (5.4-6.8 s
    instead of 4.5-4.6 s per 100,000 items) and the figures wandered with them."""
    from django.db import connection

    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute("VACUUM")


def _workspace(info: dict[str, str], name: str) -> Any:
    from dashboard.accounts.models import Team
    from dashboard.lib import secretbox
    from dashboard.workspaces.models import Workspace

    Workspace.objects.all().delete()
    _vacuum()
    team, _ = Team.objects.get_or_create(slug="bench", defaults={"name": "Bench"})
    workspace = Workspace(
        team=team,
        name=name,
        base_url=info["api_base_url"],
        cr_workspace_id=info["workspace_id"],
    )
    workspace.api_key_ciphertext = secretbox.encrypt(
        info["api_key"], context=str(workspace.uid)
    )
    workspace.api_key_key_id = secretbox.primary_key_id()
    workspace.api_key_hint = info["api_key"][-4:]
    workspace.save()
    return workspace


def _sync(workspace: Any, **kwargs: Any) -> tuple[Any, int, int, float, float]:
    from django.db import connection

    from dashboard.mirror.services.sync import WorkspaceSync
    from dashboard.workspaces.services import build_client

    counter = QueryCounter()
    phases = PhaseClock()
    with build_client(workspace) as client, connection.execute_wrapper(counter):
        started, cpu = time.perf_counter(), time.process_time()
        result = WorkspaceSync(
            workspace, client, checkpoint=phases, **kwargs
        ).run_full()
        seconds = time.perf_counter() - started
        phases.stop()
        print(f"  phases: {phases}", flush=True)
        return (
            result,
            client.requests_made,
            counter.count,
            seconds,
            time.process_time() - cpu,
        )


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def naive_loop(info: dict[str, str], items: int) -> float:
    """Items/s of the loop a first integration writes: list a page, then GET every item."""
    base = f"{info['api_base_url']}/workspaces/{info['workspace_id']}/work-items"
    headers = {"Authorization": f"RC-WSKEY {info['api_key']}"}
    url: str | None = base
    params: dict[str, Any] | None = {"limit": 100}
    seen = 0
    started = time.perf_counter()
    with requests.Session() as session:
        while url and seen < items:
            page = session.get(url, params=params, headers=headers, timeout=30)
            page.raise_for_status()
            body = page.json()
            for row in body["data"][: items - seen]:
                one = session.get(f"{base}/{row['id']}", headers=headers, timeout=30)
                one.raise_for_status()
                one.json()
                seen += 1
            url = body["next"] if body.get("has_more") else None
            params = None
    return seen / (time.perf_counter() - started)


def full_sync(info: dict[str, str], items: int, db: str) -> float:
    """Full sync of the emulator's workspace; return its items/s."""
    from dashboard.mirror.models import WorkItem

    workspace = _workspace(info, "bench full")
    others = OtherCpu(info)
    result, calls, queries, seconds, cpu = _sync(workspace)
    other_cpu = others.spent()
    mirrored = WorkItem.objects.filter(workspace=workspace).count()
    per_k = 1000 / max(mirrored, 1)
    print(
        f"full sync of {mirrored:,} items ({items:,} seeded): {seconds:.1f} s = {mirrored / seconds:,.0f} items/s "
        f"(sync process CPU {cpu:.1f} s = {mirrored / cpu:,.0f} items per CPU-second); "
        f"{calls} API calls ({calls * per_k:.1f} per 1,000 items, incl. {result.runs_read} runs' step runs "
        f"and up to 100 payload reads); {queries} DB queries ({queries * per_k:.1f} per 1,000 items); "
        f"peak RSS {_rss_mb():.0f} MB; load average {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    print(
        "  CPU seconds per 100,000 items: sync process "
        + ", ".join(
            f"{name} {sec * 100_000 / max(mirrored, 1):.1f}"
            for name, sec in {"sync process": cpu, **other_cpu}.items()
        ).removeprefix("sync process "),
        flush=True,
    )
    _target(
        f"full sync, {mirrored:,} items ({db})",
        mirrored / seconds,
        "items/s",
        target=SYNC_TARGET_ITEMS_PER_S,
    )
    _target(
        f"sync peak RSS, {mirrored:,} items ({db})",
        _rss_mb(),
        "MB",
        target=RSS_TARGET_MB,
        higher_is_better=False,
    )
    rate = mirrored / seconds
    _, calls, queries, seconds, _ = _sync(workspace)
    print(
        f"  next sync, nothing changed except the payload backfill of failed items (100 per sync): "
        f"{calls} calls, {queries} queries, {seconds:.2f} s",
        flush=True,
    )
    return rate


def big_workspace(info: dict[str, str], items: int) -> None:
    from django.conf import settings

    workspace = _workspace(info, "bench big")
    settings.WORKROOM_SYNC_PAYLOAD_BUDGET = 0
    _, calls, _, seconds, cpu = _sync(workspace)
    print(
        f"full sync of the {items:,}-item workspace: {seconds:.0f} s = {items / seconds:,.0f} items/s "
        f"(CPU {cpu:.0f} s), {calls} calls; peak RSS so far {_rss_mb():.0f} MB; "
        f"load average {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    result, calls, queries, seconds, _ = _sync(workspace)
    assert result.counts.created == result.counts.updated == 0
    print(
        f"no-change incremental sync of {items:,} items (failed sweep not due, payloads backfilled): "
        f"{calls} calls, {queries} DB queries, {seconds:.2f} s",
        flush=True,
    )
    result, calls, queries, seconds, _ = _sync(workspace, deep=True)
    print(
        f"no-change sync with the failed-items sweep (manual 'Sync now'): "
        f"{calls} calls, {queries} DB queries, {seconds:.2f} s",
        flush=True,
    )


def ensure_postgres_db(name: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(
        PG_ADMIN_URL.replace("postgres://", "postgresql://"), autocommit=True
    ) as conn:
        exists = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [name]
        ).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument(
        "--big", type=int, default=1_000_000, help="0 skips the big workspace"
    )
    parser.add_argument(
        "--naive-items",
        type=int,
        default=10_000,
        help="items the naive per-item loop reads (its rate is items/s; 0 skips it)",
    )
    parser.add_argument("--db", default="sqlite,postgres")
    parser.add_argument(
        "--db-name",
        default=PG_BENCH_DB,
        help="PostgreSQL database (created if missing) and var/<name>.sqlite3 file to use",
    )
    parser.add_argument(
        "--child", choices=("sqlite", "postgres"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.child:
        child(args.child, args.items, args.big, args.naive_items, args.db_name)
        return
    missed = False
    for db in args.db.split(","):
        if db == "postgres":
            ensure_postgres_db(args.db_name)
        argv = [
            sys.executable,
            __file__,
            "--child",
            db,
            "--items",
            str(args.items),
            "--big",
            str(args.big),
            "--naive-items",
            str(args.naive_items),
            "--db-name",
            args.db_name,
        ]
        answer = subprocess.run(argv, cwd=REPO, check=False)
        if answer.returncode not in (0, TARGET_MISSED):
            raise SystemExit(answer.returncode)
        missed = missed or answer.returncode == TARGET_MISSED
    if missed:
        raise SystemExit(TARGET_MISSED)


if __name__ == "__main__":
    main()
