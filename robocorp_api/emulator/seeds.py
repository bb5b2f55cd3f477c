"""Seeds: `empty`, `demo` (a realistic workspace) and `large:N` (N work items, generated fast, compact).

Historical runs are laid out over the last 14 days in creation order; their items are bulk-appended to the
column table with payloads and files derived lazily from (rng_seed, row). Failures are concentrated in about
a third of the runs (so most runs are completed, some unresolved) and average ~8% of all items.
"""

from __future__ import annotations

import random
import uuid
from typing import Any

from . import synth
from .clock import SimClock
from .items import DONE, FAILED
from .store import ALL_PERMISSIONS, Process, Run, StepRun, Store

DAY = 86400.0
DEMO_PROCESSES: tuple[
    tuple[str, tuple[str, ...], float, float, tuple[float, float, float]], ...
] = (
    (
        "Invoice Processing",
        ("Extract invoices", "Validate and post to ERP"),
        6.0,
        0.10,
        (0.55, 0.35, 0.10),
    ),
    (
        "Order Intake SAP",
        ("Read order e-mails", "Create sales orders in SAP", "Send confirmations"),
        8.0,
        0.09,
        (0.45, 0.45, 0.10),
    ),
    (
        "Customer Onboarding",
        ("Verify customer", "Create accounts"),
        5.0,
        0.07,
        (0.60, 0.30, 0.10),
    ),
    ("Payroll Reconciliation", ("Reconcile payroll",), 3.0, 0.06, (0.50, 0.35, 0.15)),
    (
        "Ticket Triage",
        ("Classify tickets", "Route to queue"),
        2.0,
        0.08,
        (0.40, 0.45, 0.15),
    ),
    ("Supplier Master Data Sync", ("Sync suppliers",), 2.5, 0.05, (0.50, 0.40, 0.10)),
)
USERS = (("Aino", "Korhonen"), ("Lucas", "Smith"), ("Priya", "Patel"))


class SeedError(ValueError):
    """An invalid `--seed` value."""


def parse_seed(seed: str) -> tuple[str, int]:
    if seed in ("empty", "demo"):
        return seed, 0
    if seed.startswith("large:"):
        try:
            count = int(seed.split(":", 1)[1].replace("_", ""))
        except ValueError:
            raise SeedError(
                f"invalid seed {seed!r}: large:N needs an integer N"
            ) from None
        if not 1 <= count <= 20_000_000:
            raise SeedError(f"invalid seed {seed!r}: N must be between 1 and 20000000")
        return "large", count
    raise SeedError(f"invalid seed {seed!r}: expected empty, demo or large:N")


DEMO_SCHEDULE_EVERY = 300.0


def default_schedule_every(seed: str) -> float:
    """Simulated seconds between scheduled runs for a seed: every 5 minutes for `demo`, off (0) otherwise."""
    return DEMO_SCHEDULE_EVERY if parse_seed(seed)[0] == "demo" else 0.0


def default_workspace_id(rng_seed: int) -> str:
    return str(
        uuid.UUID(
            int=random.Random(f"workspace:{rng_seed}").getrandbits(128), version=4
        )
    )


def default_api_key(rng_seed: int) -> str:
    return f"emu_{random.Random(f'key:{rng_seed}').getrandbits(128):032x}"


def build_store(
    seed: str,
    *,
    clock: SimClock,
    workspace_id: str | None = None,
    rng_seed: int = 0,
    schedule_every: float | None = None,
) -> Store:
    """A seeded store; `schedule_every` None = the seed's default (see `default_schedule_every`)."""
    kind, count = parse_seed(seed)
    store = Store(
        workspace_id=workspace_id or default_workspace_id(rng_seed),
        rng_seed=rng_seed,
        clock=clock,
    )
    store.add_key(ALL_PERMISSIONS, default_api_key(rng_seed))
    store.set_schedule(
        default_schedule_every(seed) if schedule_every is None else schedule_every
    )
    if kind == "empty":
        return store
    now = clock.now()
    processes = [
        store.add_process(
            name,
            steps=steps,
            item_seconds=secs,
            failure_rate=rate,
            failure_mix=mix,
            created_at=now - 90 * DAY + i * 3 * DAY,
        )
        for i, (name, steps, secs, rate, mix) in enumerate(DEMO_PROCESSES)
    ]
    rnd = random.Random(rng_seed)
    if kind == "demo":
        _historical(
            store, processes, rnd, total_items=21_500, min_runs=230, mean_run_size=95
        )
        _live_demo(store, processes, rnd)
    else:
        _historical(
            store,
            processes,
            rnd,
            total_items=count,
            min_runs=max(1, min(500, count // 200)),
            mean_run_size=0,
        )
    return store


def _exception_catalog(
    store: Store, rnd: random.Random, processes: list[Process], size: int
) -> dict[int, list[int]]:
    return {
        p.idx: [
            store.exception_index(synth.exception_for(rnd, p.failure_mix))
            for _ in range(size)
        ]
        for p in processes
    }


def _historical(
    store: Store,
    processes: list[Process],
    rnd: random.Random,
    *,
    total_items: int,
    min_runs: int,
    mean_run_size: int,
) -> None:
    """Append completed/unresolved runs with their step runs and items, oldest first."""
    now = store.clock.now()
    n_runs = (
        min_runs if not mean_run_size else max(min_runs, total_items // mean_run_size)
    )
    sizes = _split(rnd, total_items, n_runs)
    catalog = _exception_catalog(store, rnd, processes, 400)
    span_start, span_end = now - 14 * DAY, now - 2 * 3600
    spacing = (span_end - span_start) / n_runs
    table = store.items
    created_a, updated_a, state_a, proc_a = (
        table.created,
        table.updated,
        table.state,
        table.proc,
    )
    run_a, step_a, step_run_a, exc_a = table.run, table.step, table.step_run, table.exc
    random_ = rnd.random
    for run_no, size in enumerate(sizes):
        process = processes[rnd.randrange(len(processes))]
        created = span_start + run_no * spacing + rnd.uniform(0, spacing * 0.3)
        run = _historical_run(store, process, created, rnd)
        steps = len(process.steps)
        step_runs = [_historical_step_run(store, run, s, created) for s in range(steps)]
        fail_rate = (
            0.0
            if random_() < 0.68
            else min(0.9, process.failure_rate * 3.4 * rnd.uniform(0.5, 1.5))
        )
        exc_pool = catalog[process.idx]
        pool_n = len(exc_pool)
        per_item = process.item_seconds
        first_row = len(table)
        started = created + rnd.uniform(2, 12)
        last = started
        for j in range(size):
            t_created = created + j * 0.001
            done_at = started + (j + 1) * per_item * steps * 0.35
            created_a.append(t_created)
            updated_a.append(done_at)
            proc_a.append(process.idx)
            run_a.append(run.idx)
            if fail_rate and random_() < fail_rate:
                step_no = int(random_() * steps)
                state_a.append(FAILED)
                exc_a.append(exc_pool[int(pool_n * random_() ** 2)])
            else:
                step_no = steps - 1
                state_a.append(DONE)
                exc_a.append(-1)
            step_a.append(step_no)
            step_run_a.append(step_runs[step_no].idx)
            last = done_at
        run.items = list(range(first_row, len(table)))
        run.started_at = started
        run.ended_at = last + rnd.uniform(1, 5)
        for s, step_run in enumerate(step_runs):
            step_run.started_at = started + s * 5
            step_run.ended_at = step_run.state_updated_at = max(
                run.ended_at - (steps - 1 - s) * 2, step_run.started_at
            )
        failed = fail_rate > 0 and any(
            state_a[r] == FAILED for r in range(first_row, len(table))
        )
        run.state = "unresolved" if failed else "completed"
    table.attempts.extend(bytes(len(table) - len(table.attempts)))
    table.seeded = len(table)
    table.rebuild_index()


def _split(rnd: random.Random, total: int, parts: int) -> list[int]:
    weights = [rnd.uniform(0.2, 1.8) for _ in range(parts)]
    scale = total / sum(weights)
    sizes = [max(1, int(w * scale)) for w in weights]
    sizes[-1] += total - sum(sizes)
    while sizes[-1] < 1:  # rounding pushed the last run negative: take from the largest
        biggest = sizes.index(max(sizes))
        sizes[biggest] -= 1
        sizes[-1] += 1
    return sizes


def _historical_run(
    store: Store, process: Process, created: float, rnd: random.Random
) -> Run:
    roll = rnd.random()
    started_by = (
        "schedule"
        if roll < 0.6
        else "api"
        if roll < 0.85
        else "user"
        if roll < 0.95
        else "email"
    )
    run = Run(
        idx=len(store.runs),
        id=store._uuid(),
        process_idx=process.idx,
        run_no=1 + sum(1 for r in store.runs if r.process_idx == process.idx),
        state="completed",
        created_at=created,
        started_by=started_by,
    )
    if started_by == "user":
        first, last = USERS[rnd.randrange(len(USERS))]
        run.started_by_details = {
            "id": store._uuid(),
            "first_name": first,
            "last_name": last,
        }
    store.runs.append(run)
    store.run_by_id[run.id] = run.idx
    return run


def _historical_step_run(
    store: Store, run: Run, step_no: int, created: float
) -> StepRun:
    step_run = StepRun(
        idx=len(store.step_runs),
        id=store._uuid(),
        run_idx=run.idx,
        step_no=step_no,
        state="completed",
        state_updated_at=created,
        worker=f"worker-eu1-{1 + step_no + run.idx % 6:02d}",
    )
    store.step_runs.append(step_run)
    store.step_run_by_id[step_run.id] = step_run.idx
    run.step_runs.append(step_run.idx)
    return step_run


def _demo_fleet(store: Store, processes: list[Process]) -> None:
    """A third Default worker and an "SAP robots" group with its own worker, running Order Intake SAP."""
    fleet, now = store.fleet, store.now()
    fleet.add_worker("worker-eu1-03", [fleet.default_group], now=now)
    sap = fleet.add_group("SAP robots")
    fleet.add_worker("worker-sap-01", [sap.id], now=now)
    fleet.process_group[processes[1].idx] = sap.id


def _live_demo(store: Store, processes: list[Process], rnd: random.Random) -> None:
    """A few runs in progress (the robots keep working) and some inputs waiting in a queue."""
    _demo_fleet(store, processes)
    for process in (processes[0], processes[4], processes[1]):
        payloads: list[Any] = [
            synth.payload(
                process.kind, store.rng_seed, 10_000_000 + rnd.randrange(10**6)
            )
            for _ in range(rnd.randint(60, 140))
        ]
        store.create_run(process.id, payloads=payloads, started_by="schedule")
    for i in range(25):
        store.create_input_item(
            processes[2],
            synth.payload(processes[2].kind, store.rng_seed, 20_000_000 + i),
        )
