# ruff: noqa: T201, S603 - a command-line benchmark: it prints and runs worker subprocesses.
"""Benchmark: how long after Control Room changes does the mirror equal it again?

    .venv/bin/python benchmarks/bench_convergence.py [--speed 400] [--webhooks]
        [--database-url postgres://postgres@127.0.0.1:5432/bench_converge]

The demo seed (21,829 items, ~2,000 failed) in an in-process emulator, mirrored by the real
sync into a fresh database (a temp SQLite file by default). A real worker (prefork, 2) and beat
run from a private queue on the local Redis, with the default sync intervals; with
`--webhooks`, `manage.py runserver` receives the emulator's webhooks. Every failed item is
bulk-retried through Workroom, the robots finish them at `--speed`, and the script prints the
seconds from the last change in Control Room until the retried items and their runs are equal
in the mirror, then confirms with a full `mirror_check`. Targets: ≤ 60 s without webhooks,
≤ 5 s with them (the second figure printed: from each webhook's arrival to its run's sync end).
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

from django_setup import setup_django, start_celery_worker
from results import TARGET_MISSED, report

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--speed", type=float, default=400.0)
    parser.add_argument("--webhooks", action="store_true")
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-converge-"))
    queue = f"bench-converge-{uuid.uuid4().hex[:8]}"
    setup_django(
        tmp, args.database_url, WORKROOM_SYNC_QUEUE=queue, WORKROOM_BULK_QUEUE=queue
    )
    return run(args, queue, tmp)


def run(args: argparse.Namespace, queue: str, tmp: Path) -> int:
    from robocorp_api.emulator import EmulatorServer
    from tests.dashboard.mirror.helpers import emulator_idle
    from tests.dashboard.support.workers import wait_until

    emu = EmulatorServer(seed="demo", speed=args.speed, schedule_every=0)
    emu.start()
    processes: list[subprocess.Popen[bytes]] = []
    try:
        wait_until(lambda: emulator_idle(emu), timeout=120)
        ws, user = demo_workspace(emu)
        processes += start_worker_and_beat(queue, tmp)
        if args.webhooks:
            processes.append(start_receiver(ws, user, tmp))
        time.sleep(3)  # the worker boots; not measured
        return measure(emu, ws, user, webhooks=args.webhooks)
    finally:
        for proc in processes:
            proc.terminate()
        for proc in processes:
            proc.wait(timeout=30)
        emu.stop()


def demo_workspace(emu: Any) -> tuple[Any, Any]:
    from dashboard.accounts.models import Role
    from tests.dashboard.factories import add_member, make_team, make_user
    from tests.dashboard.support.sync import full_sync
    from tests.dashboard.support.workspaces import workspace_on_emulator

    user = make_user(f"bench-{uuid.uuid4().hex[:6]}")
    team = make_team("Bench team")
    add_member(team, user, Role.ADMIN)
    ws = workspace_on_emulator(emu, team, name="Demo", added_by=user)
    started = time.perf_counter()
    full_sync(ws)
    print(f"first sync of the demo seed: {time.perf_counter() - started:.1f} s")
    return ws, user


def start_worker_and_beat(queue: str, tmp: Path) -> list[subprocess.Popen[bytes]]:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.dashboard.mirror.mirror_settings",
    }
    worker = start_celery_worker(
        queue, concurrency=2, name=queue, log=tmp / "worker.log", env=env
    )
    beat = subprocess.Popen(
        [
            *(sys.executable, "-m", "celery", "-A", "dashboard", "beat"),
            *("-l", "warning", "-s", str(tmp / "beat"), "--pidfile="),
        ],
        env=env,
        stdout=(tmp / "beat.log").open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    return [worker, beat]


def start_receiver(ws: Any, user: Any, tmp: Path) -> subprocess.Popen[bytes]:
    from dashboard.mirror.services import webhooks

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"],
        cwd=ROOT,
        # Enqueues its webhook syncs on the private queue, as the worker's settings do.
        env={
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "tests.dashboard.mirror.mirror_settings",
        },
        stdout=(tmp / "web.log").open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    time.sleep(3)
    endpoint = f"http://127.0.0.1:{port}/hooks/{ws.uid}/"
    made = webhooks.webhooks_register(ws, user, endpoint=endpoint)
    print(f"webhooks registered for {len(made)} processes -> {endpoint}")
    return server


def measure(emu: Any, ws: Any, user: Any, *, webhooks: bool) -> int:
    from dashboard.bulk import drafts
    from dashboard.bulk.models import BulkOperation
    from dashboard.mirror.models import SyncRun, WebhookEvent
    from dashboard.mirror.services.check import mirror_check
    from tests.dashboard.mirror.helpers import client_for, differences, emulator_idle
    from tests.dashboard.support.workers import wait_until

    op = drafts.create_draft(user, action="retry", filter_query="state=failed")
    op = drafts.confirm(op, user, reason="benchmark")
    print(f"bulk retry of {op.total:,} failed items confirmed")
    started = time.monotonic()
    wait_until(lambda: BulkOperation.objects.get(pk=op.pk).is_terminal, timeout=300)
    wait_until(lambda: emulator_idle(emu), timeout=300, interval=0.02)
    last_change = time.monotonic()
    print(f"robots finished the retried items {last_change - started:.1f} s later")
    ids = list(op.items.values_list("external_id", flat=True))
    while differences(emu, ws, ids) and time.monotonic() - last_change < 300:
        time.sleep(0.1)
    lag = time.monotonic() - last_change
    with client_for(emu) as client:
        check = mirror_check(ws, client)
    print(f"mirror equal to Control Room {lag:.1f} s after the last change")
    print("mirror_check: " + " ".join(check.lines()))
    ok = not check.has_drift and lag <= (5 if webhooks else 60)
    mode = "with webhooks" if webhooks else "polling"
    report(
        f"mirror converged after the last change ({mode})",
        lag,
        "s",
        target=5 if webhooks else 60,
        higher_is_better=False,
    )
    if webhooks:
        lags = [
            (e.sync_run.finished_at - e.received_at).total_seconds()
            for e in WebhookEvent.objects.filter(workspace=ws).select_related(
                "sync_run"
            )
            if e.sync_run is not None and e.sync_run.finished_at is not None
        ]
        answers = Counter(
            d["responses"][-1] if d["responses"] else "none"
            for d in emu.dispatcher.deliveries()
        )
        print(f"webhook deliveries by last answer: {dict(answers)}")
        syncs = Counter(
            f"{trigger} {status}"
            for trigger, status in SyncRun.objects.filter(workspace=ws).values_list(
                "trigger", "status"
            )
        )
        events = WebhookEvent.objects.filter(workspace=ws).count()
        print(f"{events} webhook events stored; syncs: {dict(syncs)}")
        if lags:
            print(
                f"{len(lags)} webhooks: run in the mirror {statistics.median(lags):.2f} s "
                f"(median), {max(lags):.2f} s (max) after its webhook arrived"
            )
            ok = ok or (not check.has_drift and max(lags) <= 5)
            report(
                "webhook -> run in the mirror, max",
                max(lags),
                "s",
                target=5,
                higher_is_better=False,
            )
    print("targets (≤ 60 s without webhooks, ≤ 5 s with):", "met" if ok else "NOT met")
    return 0 if ok else TARGET_MISSED


if __name__ == "__main__":
    raise SystemExit(main())
