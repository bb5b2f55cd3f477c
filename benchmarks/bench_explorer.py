"""Benchmark the work item explorer and failure triage on 1M mirrored items (not a test).

Creates its own PostgreSQL database, migrates it, seeds N work items (default 1,000,000)
with COPY — 3 workspaces x 4 processes, ~8% failed with business / application /
orchestrator exceptions over ~60 codes and templated messages, a JSON payload on every
item — then times the real views through Django's test Client (server time: URL routing,
middleware, queries, template rendering) and prints p50 / p95 per scenario plus the number
of queries each page ran.

    .venv/bin/python benchmarks/bench_explorer.py [--items 1000000] [--runs 40] [--keep]
        [--database NAME] [--reuse]

`--reuse` keeps a database seeded by an earlier `--keep` run with the same --items (seeding
1M items takes minutes): it is migrated and measured as it is. The "render" column is the
page's median time less its median database time (rendering, routing and Python work).
The web process's resident memory (RSS) after the scenarios is reported against 150 MB.

Targets (issue 17): server time p95 <= 50 ms for every list scenario, <= 100 ms for triage,
CSV of all failed items <= 1 s (issue 5's were 100 / 300 ms).
"""

from __future__ import annotations

import argparse
import json
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
PG_DB = "workroom_bench_explorer"
LIST_P95_MS = 50
TRIAGE_P95_MS = 100
CSV_SECONDS, CSV_TARGET_ROWS = 1.0, 80_000
RSS_MB = 150

EXCEPTIONS = {
    "business": [
        ("INVALID_IBAN", "IBAN {iban} of customer {email} is invalid"),
        ("MISSING_PO", "Purchase order {n6} not found for invoice INV-{n5}"),
        ("DUPLICATE_INVOICE", "Invoice INV-{n5} was already booked on {date}"),
        (
            "AMOUNT_MISMATCH",
            "Invoice total {amount} does not match order total {amount2}",
        ),
        ("UNKNOWN_VENDOR", "Vendor {n6} is not in the vendor master"),
        ("BLOCKED_CUSTOMER", "Customer {email} is blocked for delivery"),
    ],
    "application": [
        ("TIMEOUT", "Timed out after {ms} ms waiting for SAP GUI element {n2}"),
        ("BROWSER_CRASH", "Chrome exited unexpectedly (pid {n5})"),
        ("SELECTOR_NOT_FOUND", "Element not found: css=#row-{n5} > td:nth-child({n1})"),
        ("HTTP_502", "HTTP 502 from https://erp.example.com/api/orders/{n6}"),
        ("LOGIN_FAILED", "Login to portal failed for bot{n2}@example.com"),
    ],
    "orchestrator": [
        ("WORKER_LOST", "Worker {hex} stopped responding"),
        ("STEP_TIMEOUT", "Step exceeded the time limit of {mins} minutes"),
    ],
}
# Extra codes so the code filter has a long tail (~60 codes in total).
for k in range(47):
    EXCEPTIONS["application" if k % 2 else "business"].append(
        (f"E{k:03d}", f"Rule {k} failed for record {{n6}} on {{date}}")
    )


def _message(rnd: random.Random, template: str) -> str:
    return template.format(
        iban=f"DE{rnd.randint(10, 99)} {rnd.randint(1000, 9999)} {rnd.randint(1000, 9999)}",
        email=f"user{rnd.randint(1, 5000)}@example.com",
        n1=rnd.randint(1, 9),
        n2=rnd.randint(10, 99),
        n5=rnd.randint(10000, 99999),
        n6=rnd.randint(100000, 999999),
        date=f"2026-{rnd.randint(1, 12):02d}-{rnd.randint(1, 28):02d}",
        amount=f"{rnd.uniform(50, 9000):.2f}",
        amount2=f"{rnd.uniform(50, 9000):.2f}",
        ms=rnd.choice((10000, 30000, 60000)),
        mins=rnd.choice((30, 60, 120)),
        hex=f"{rnd.getrandbits(48):012x}",
    )


def say(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def _create_database(name: str) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {name}")


def _database_exists(name: str) -> bool:
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        found = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [name]
        ).fetchone()
    return found is not None


def _drop_database(name: str) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def _rss_mb() -> float:
    """This process's resident set size now, in MB (Linux /proc)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _setup_django(name: str) -> None:
    setup_django(None, f"postgres://postgres@127.0.0.1:5432/{name}")


def _world() -> tuple[Any, list[Any], list[Any]]:
    from dashboard.accounts.models import Role
    from dashboard.mirror.models import Process, WorkspaceSyncState

    user, team = bench_team(Role.OPERATOR)
    workspaces, processes = [], []
    for w in range(3):
        ws = bench_workspace(
            team, w, permissions={"read_work_items": True, "write_work_items": True}
        )
        WorkspaceSyncState.objects.create(
            workspace=ws, last_success_at=datetime.now(tz=UTC)
        )
        workspaces.append(ws)
        for p in range(4):
            processes.append(
                Process.objects.create(
                    workspace=ws,
                    external_id=f"proc-{w}-{p}",
                    name=f"{['Invoices', 'Orders', 'Payroll', 'Claims'][p]} {w}",
                )
            )
    return user, workspaces, processes


COLUMNS = (
    "workspace_id",
    "external_id",
    "first_seen_at",
    "last_seen_at",
    "process_id",
    "process_external_id",
    "process_run_external_id",
    "step_external_id",
    "step_run_external_id",
    "state",
    "state_updated_at",
    "created_at",
    "exception_type",
    "exception_code",
    "exception_message",
    "message_signature",
    "payload",
    "files",
    "payload_synced_at",
    "row_hash",
)


def _seed(processes: list[Any], n: int, seed: int = 7) -> float:
    """COPY n items in; indexes are dropped for the load and rebuilt after (as a restore would)."""
    from django.db import connection

    from dashboard.mirror.normalise import message_signature

    rnd = random.Random(seed)
    start = time.perf_counter()
    now = datetime.now(tz=UTC)
    base = now - timedelta(days=365)
    weights = [5, 3, 1, 1] * 3  # a few processes carry most items
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'mirror_workitem' "
            "AND indexname NOT IN (SELECT conname FROM pg_constraint)"
        )
        indexes = cursor.fetchall()
        for name, _ in indexes:
            cursor.execute(f'DROP INDEX "{name}"')
    with (
        connection.cursor() as cur,
        cur.copy(f"COPY mirror_workitem ({', '.join(COLUMNS)}) FROM STDIN") as copy,
    ):
        for k in range(n):
            proc = rnd.choices(processes, weights=weights)[0]
            created = base + timedelta(seconds=k * 31_536_000 / n)
            r = rnd.random()
            state = (
                "failed"
                if r < 0.08
                else "pending"
                if r < 0.11
                else "in_progress"
                if r < 0.13
                else "new"
                if r < 0.15
                else "done"
            )
            etype = code = message = ""
            if state == "failed":
                etype = rnd.choices(
                    ("business", "application", "orchestrator"), weights=(45, 40, 15)
                )[0]
                code, template = rnd.choice(EXCEPTIONS[etype])
                message = _message(rnd, template)
            run = f"run-{proc.pk}-{k // 500}"
            payload = {
                "invoice": f"INV-{rnd.randint(10000, 99999)}",
                "order": k,
                "customer": {
                    "name": f"Customer {rnd.randint(1, 20000)}",
                    "email": f"c{rnd.randint(1, 20000)}@example.com",
                },
                "amount": round(rnd.uniform(10, 10000), 2),
            }
            copy.write_row(
                (
                    proc.workspace_id,
                    f"item-{k:08d}",
                    created,
                    now,
                    proc.pk,
                    proc.external_id,
                    run,
                    "step-1",
                    f"sr-{run}",
                    state,
                    created + timedelta(minutes=rnd.randint(1, 600)),
                    created,
                    etype,
                    code,
                    message,
                    message_signature(message),
                    json.dumps(payload),
                    "[]",
                    created,
                    "",
                )
            )
    with connection.cursor() as cursor:
        cursor.execute("SET maintenance_work_mem = '1GB'")
        for _, definition in indexes:
            cursor.execute(definition)
    from dashboard.mirror.services.sync import refresh_item_counts

    for ws_id in {p.workspace_id for p in processes}:
        refresh_item_counts(
            processes[0].workspace.__class__.objects.get(pk=ws_id),
            {p.pk for p in processes if p.workspace_id == ws_id},
        )
    _rollups(list({p.workspace for p in processes}))
    with connection.cursor() as cursor:  # Django runs in autocommit: VACUUM is allowed
        cursor.execute("VACUUM ANALYZE mirror_workitem")
    return time.perf_counter() - start


def _rollups(workspaces: list[Any]) -> None:
    """Build the triage rollups of seeded (or reused) items, as a sync of each would."""
    try:
        from dashboard.workitems import rollup
    except ImportError:  # a checkout from before the rollups (an A/B run)
        return
    for workspace in workspaces:
        rollup.refresh_workspace(workspace.pk)


def _measure(
    client: Any, urls: list[str], runs: int, **headers: str
) -> tuple[float, float, int, float]:
    from django.db import connection, reset_queries

    timings = []
    db_times: list[float] = []
    queries = 0
    for i in range(runs + 3):
        url = urls[i % len(urls)]
        reset_queries()
        t0 = time.perf_counter()
        response = client.get(url, **headers)
        if getattr(response, "streaming", False):
            for _ in response.streaming_content:
                pass
        elapsed = (time.perf_counter() - t0) * 1000
        if response.status_code != 200:
            raise SystemExit(f"{url}: HTTP {response.status_code}")
        if i >= 3:  # warm-up excluded
            timings.append(elapsed)
            queries = max(queries, len(connection.queries))
            db_times.append(sum(float(q["time"]) for q in connection.queries) * 1000)
    timings.sort()
    p95 = timings[min(len(timings) - 1, round(0.95 * (len(timings) - 1)))]
    return statistics.median(timings), p95, queries, statistics.median(db_times)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument(
        "--keep", action="store_true", help="keep the database afterwards"
    )
    parser.add_argument("--database", default=PG_DB, help="PostgreSQL database name")
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="measure the database an earlier --keep run left (no seeding)",
    )
    args = parser.parse_args()

    reuse = args.reuse and _database_exists(args.database)
    if not reuse:
        _create_database(args.database)
    missed = False
    try:
        _setup_django(args.database)
        from django.conf import settings
        from django.contrib.auth import get_user_model
        from django.test import Client

        from dashboard.mirror.models import Process, WorkItem
        from dashboard.workspaces.models import Workspace

        # No setup_test_environment(): its template instrumentation copies every context
        # and would be measured as page time.
        settings.DEBUG = (
            True  # counts queries (connection.queries); templates stay cached
        )
        settings.ALLOWED_HOSTS = ["*"]
        if reuse:
            user = get_user_model().objects.get(username="bench")
            workspaces = list(Workspace.objects.order_by("pk"))
            processes = list(Process.objects.order_by("pk"))
            _rollups(workspaces)
            say(f"reusing {WorkItem.objects.count():,} work items in {args.database}")
        else:
            user, workspaces, processes = _world()
            seconds = _seed(processes, args.items)
            say(f"seeded {args.items:,} work items in {seconds:.1f} s")
        client = Client()
        client.force_login(user)
        failed = WorkItem.objects.filter(state="failed")
        codes = list(failed.values_list("exception_code", flat=True).distinct()[:20])
        invoices = [f"INV-{n}" for n in (12345, 54321, 77777, 31415, 27182)]
        sig = (
            failed.filter(exception_code="TIMEOUT")
            .values_list("message_signature", flat=True)
            .first()
        )
        last = WorkItem.objects.order_by("-created_at", "-id")[1000]
        from dashboard.workitems.selectors import encode_cursor

        deep = encode_cursor(last.created_at, last.pk)
        scenarios: list[tuple[str, list[str], str]] = [
            ("list: no filter (page 1)", ["/items/"], "list"),
            (
                "list: failed in one process",
                [f"/items/?process={p.pk}&state=failed" for p in processes],
                "list",
            ),
            (
                "list: exception code",
                [f"/items/?exception_code={c}" for c in codes],
                "list",
            ),
            (
                "list: message text",
                [
                    f"/items/?message={t}"
                    for t in ("timed out", "SAP GUI", "vendor master", "blocked", "pid")
                ],
                "list",
            ),
            ("list: payload text", [f"/items/?payload={t}" for t in invoices], "list"),
            (
                "list: triage group (type+code+signature)",
                [
                    f"/items/?state=failed&exception_type=application&exception_code=TIMEOUT&signature={sig}"
                ],
                "list",
            ),
            ("list: page 21 via cursor", [f"/items/?after={deep}"], "list"),
            ("list: htmx partial, failed", ["/items/?state=failed"], "list-htmx"),
            ("triage: all workspaces", ["/items/triage/"], "triage"),
            (
                "triage: one workspace",
                [f"/items/triage/?workspace={w.pk}" for w in workspaces],
                "triage",
            ),
        ]
        say(
            f"{'scenario':45} {'p50 ms':>8} {'p95 ms':>8} {'db p50':>8} {'render':>8} {'queries':>8}  target"
        )
        worst = {"list": 0.0, "triage": 0.0}
        for name, urls, kind in scenarios:
            headers = {"HTTP_HX_REQUEST": "true"} if kind == "list-htmx" else {}
            p50, p95, queries, db = _measure(client, urls, args.runs, **headers)
            target = TRIAGE_P95_MS if kind == "triage" else LIST_P95_MS
            key = "triage" if kind == "triage" else "list"
            worst[key] = max(worst[key], p95)
            say(
                f"{name:45} {p50:8.1f} {p95:8.1f} {db:8.1f} {p50 - db:8.1f} {queries:8d}  {'ok' if p95 <= target else 'MISSED'} (<= {target})"
            )
        csv_times = [
            _measure(client, ["/items/export.csv?state=failed"], 1)[0] for _ in range(3)
        ]
        p50 = statistics.median(csv_times)
        rows = failed.count()
        say(
            f"{'csv export of all failed items (streamed)':45} {p50:8.1f} ms for {rows:,} rows (median of 3)"
        )
        rss = _rss_mb()
        say(f"worst p95: list {worst['list']:.1f} ms, triage {worst['triage']:.1f} ms")
        say(f"web process RSS after the scenarios: {rss:.0f} MB")
        size = f"{args.items:,} items"
        missed = not all(
            [
                report(
                    f"explorer list worst p95 ({size})",
                    worst["list"],
                    "ms",
                    target=LIST_P95_MS,
                    higher_is_better=False,
                ),
                report(
                    f"triage worst p95 ({size})",
                    worst["triage"],
                    "ms",
                    target=TRIAGE_P95_MS,
                    higher_is_better=False,
                ),
                report(
                    f"CSV of {rows:,} failed rows",
                    p50 / 1000,
                    "s",
                    target=CSV_SECONDS * max(rows, 1) / CSV_TARGET_ROWS,
                    higher_is_better=False,
                    note=f"target scaled from 1 s per {CSV_TARGET_ROWS:,} rows",
                ),
                report(
                    f"explorer web process RSS ({size})",
                    rss,
                    "MB",
                    target=RSS_MB,
                    higher_is_better=False,
                ),
            ]
        )
    finally:
        from django.db import connections

        connections.close_all()
        if not (args.keep or args.reuse):
            _drop_database(args.database)
    if missed:
        raise SystemExit(TARGET_MISSED)


if __name__ == "__main__":
    main()
