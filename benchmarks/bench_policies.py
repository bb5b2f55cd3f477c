# ruff: noqa: T201 - a command-line benchmark: it prints.
"""Benchmark: retry-policy evaluation over a big outage (not a test): prints figures.

    .venv/bin/python benchmarks/bench_policies.py [--items 20000] [--per-hour 500]
        [--database-url postgres://postgres@127.0.0.1:5432/bench_policies]

Seeds the items failed with HTTP_ERROR in an in-process emulator, mirrors them with the real
sync (which opens a failure occurrence per item) into a fresh database (a temp SQLite file by
default), enables a policy (backoff 30 min, `--per-hour` items an hour) and times, in process:
an evaluation with nothing due yet, one 31 minutes later (sends a full hour's room), a
duplicate of it (must send nothing), and a 7-day dry run. Prints wall time and SQL queries
of each, and the Control Room batch calls.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from django_setup import setup_django


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=20_000)
    parser.add_argument("--per-hour", type=int, default=500)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    setup_django(Path(tempfile.mkdtemp(prefix="bench-policies-")), args.database_url)
    return run(args)


def timed(label: str, step: Callable[[], Any]) -> Any:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        t0 = time.perf_counter()
        value = step()
        wall = time.perf_counter() - t0
    print(f"{label}: {wall:.2f} s, {len(queries.captured_queries)} SQL queries")
    return value


def run(args: argparse.Namespace) -> int:
    from django.utils import timezone

    from dashboard.accounts.models import Role
    from dashboard.audit.services import Actor
    from dashboard.mirror.models import FailureOccurrence
    from dashboard.policies import services
    from dashboard.policies.dryrun import dry_run
    from dashboard.policies.execution import evaluate_workspace
    from dashboard.policies.models import RetryPolicy
    from robocorp_api.emulator import EmulatorServer
    from tests.dashboard.factories import add_member, make_team, make_user
    from tests.dashboard.policies.conftest import seed_outage
    from tests.dashboard.support.sync import full_sync
    from tests.dashboard.support.workspaces import workspace_on_emulator

    emu = EmulatorServer(host="127.0.0.1", port=0, seed="empty")
    emu.start()
    emu.pause_robots()
    try:
        t0 = time.perf_counter()
        seed_outage(emu, args.items, retry_failure_rate=1.0)
        admin = make_user(f"bench-{uuid.uuid4().hex[:6]}")
        team = make_team("Bench team", admin=admin)
        add_member(team, make_user(f"op-{uuid.uuid4().hex[:6]}"), Role.OPERATOR)
        ws = workspace_on_emulator(emu, team, name="Bench WS", added_by=admin)
        full_sync(ws)
        opened = FailureOccurrence.objects.filter(workspace=ws).count()
        print(
            f"seeded + mirrored {args.items} failed items ({opened} failure occurrences) "
            f"in {time.perf_counter() - t0:.1f} s"
        )
        policy = RetryPolicy(
            name="ERP outages",
            exception_codes=["HTTP_ERROR"],
            backoff_minutes=[30],
            max_attempts=3,
            max_items_per_hour=args.per_hour,
        )
        actor = Actor.of(admin)
        services.save_policy(actor, team, policy, [])
        services.change_state(actor, policy, "enable")
        emu.stats.reset()
        now = timezone.now()
        nothing = timed(
            "evaluation, nothing due yet", lambda: evaluate_workspace(ws.pk, now=now)
        )
        later = now + timedelta(minutes=31)
        due = timed(
            f"evaluation 31 min later (room {args.per_hour})",
            lambda: evaluate_workspace(ws.pk, now=later),
        )
        again = timed(
            "the same evaluation again", lambda: evaluate_workspace(ws.pk, now=later)
        )
        result = timed("dry run over 7 days", lambda: dry_run(policy, [], 7))
        stats = emu.stats.snapshot()
        batch_calls = sum(v for k, v in stats["by_route"].items() if "batch" in k)
        print(
            f"sent: {nothing.sent}, {due.sent}, {again.sent}; batch calls: {batch_calls}"
        )
        print(f"dry run: {result.items} items, {result.attempts} retries")
        ok = nothing.sent == 0 and due.sent == args.per_hour and again.sent == 0
        print("expected sends (0, room, 0):", "met" if ok else "NOT met")
        return 0 if ok else 1
    finally:
        emu.stop()


if __name__ == "__main__":
    raise SystemExit(main())
