"""Simulated robots: a scheduler that advances process runs and step runs in simulated time.

Simulated schedules (`store.schedule_every`) start one run of the next process, round-robin, every interval;
they fire in time order with the timers, so `advance()` drives them deterministically too.

Each active run / step run has a timer in `store.timers` (a heap). Handling a timer performs one transition
(e.g. a step run picks its next item, or an item finishes) and schedules the next one. Failure decisions come
from an RNG seeded with (rng_seed, item row, attempt, step), so a given seed always fails the same items,
whatever order timers fire in. A retried item fails with a third of the process's failure rate.
"""

from __future__ import annotations

import heapq
import random
import threading
import time
from typing import Any

from . import synth
from .items import DONE, FAILED, IN_PROGRESS, PENDING
from .store import ACTIVE_STEP_STATES, Artifact, Process, Run, StepRun, Store

LOG_LEVELS = ("INFO ", "INFO ", "INFO ", "DEBUG")
WORKER_POLL_SECONDS = 2.0


class Robots:
    """Background thread that advances the store's simulated robots (pausable, deterministic `advance`)."""

    def __init__(self, store: Store, tick: float = 0.02) -> None:
        self.store = store
        self.tick = tick
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._loop, name="emulator-robots", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _loop(self) -> None:
        while not self._stop.wait(self.tick):
            if self.store.clock.running:
                run_until(self.store, self.store.clock.now())

    def pause(self) -> None:
        with self.store.lock:
            self.store.clock.pause()

    def resume(self) -> None:
        with self.store.lock:
            self.store.clock.resume()

    def advance(self, seconds: float) -> None:
        """Advance simulated time by `seconds` and process every transition due by then (synchronously)."""
        with self.store.lock:
            self.store.clock.advance(seconds)
            run_until(self.store, self.store.clock.now())


def run_until(store: Store, target: float, budget: float = 0.05) -> None:
    """Process due timers and schedules in time order up to `target` (yielding the lock after `budget` real s)."""
    deadline = time.monotonic() + budget
    with store.lock:
        timers = store.timers
        while True:
            due = store.schedule_next
            if (
                due is not None
                and due <= target
                and (not timers or due <= timers[0][0])
            ):
                start_scheduled_run(store, due)
            elif timers and timers[0][0] <= target:
                if not _fire_timer(store, *heapq.heappop(timers)):
                    continue
            else:
                break
            if time.monotonic() > deadline and store.clock.running:
                break


def _fire_timer(store: Store, when: float, seq: int, kind: str, idx: int) -> bool:
    """Handle one popped timer; False when it was stale (its entity was deleted or rescheduled)."""
    entity: Run | StepRun = store.runs[idx] if kind == "run" else store.step_runs[idx]
    if entity.deleted or entity.next_at != when:
        return False
    entity.next_at = None
    if kind == "run":
        _on_run_timer(store, store.runs[idx], when)
    else:
        _on_step_timer(store, store.step_runs[idx], when)
    return True


# ------------------------------------------------------------------------------------------- schedules
# Payload indexes of scheduled items, apart from the seeds' (row numbers, the 10M and 20M ranges).
SCHEDULE_PAYLOAD_BASE = 30_000_000
SCHEDULE_ITEMS = (20, 80)


def start_scheduled_run(store: Store, when: float) -> Run | None:
    """The schedule due at `when`: one run of the next live process (round-robin by creation order)."""
    store.schedule_next = when + store.schedule_every
    processes = store.live_processes()
    if not processes:
        return None
    process = next(
        (p for p in processes if p.idx > store.schedule_last_process), processes[0]
    )
    store.schedule_last_process = process.idx
    tick = store.schedule_fired
    store.schedule_fired += 1
    rnd = random.Random(f"{store.rng_seed}:schedule:{tick}")
    base = SCHEDULE_PAYLOAD_BASE + tick * 100
    payloads: list[Any] = [
        synth.payload(process.kind, store.rng_seed, base + j)
        for j in range(rnd.randint(*SCHEDULE_ITEMS))
    ]
    return store.create_run(
        process.id, payloads=payloads, started_by="schedule", created_at=when
    )


# ------------------------------------------------------------------------------------------- runs
def _on_run_timer(store: Store, run: Run, now: float) -> None:
    if run.state == "new":
        run.state = "in_progress"
        run.started_at = now
        store.emit(run, "started", now)
        rows = [
            r
            for r in run.items
            if store.items.state[r] == PENDING and store.items.step_run[r] < 0
        ]
        store.new_step_run(run, 0, rows, now)
    elif run.state == "stopping":
        _finish_stop(store, run, now)


def _remaining(store: Store, run: Run, rows: list[int], now: float) -> None:
    """Items a stop left unprocessed: done when requested, else failed with an orchestrator exception."""
    for row in rows:
        if run.stop_remaining_done:
            store.items.set_state(row, DONE, now)
        else:
            _fail(
                store,
                row,
                (
                    "orchestrator",
                    "PROCESS_RUN_STOPPED",
                    "Process run was stopped before the work item was processed",
                ),
                now,
            )


def _finish_stop(store: Store, run: Run, now: float) -> None:
    items = store.items
    for idx in run.step_runs:
        step_run = store.step_runs[idx]
        if step_run.state not in ACTIVE_STEP_STATES:
            continue
        if step_run.current >= 0:
            _log(
                step_run,
                now,
                "WARN  Terminating: the step run was stopped while processing a work item",
            )
            _fail(
                store,
                step_run.current,
                (
                    "orchestrator",
                    "TERMINATED",
                    "Step run was terminated by a stop request",
                ),
                now,
            )
            step_run.current = -1
        _remaining(store, run, list(step_run.queue), now)
        step_run.queue.clear()
        _end_step_run(
            store,
            step_run,
            now,
            "failed" if run.stop_terminate else "completed",
            "terminated" if run.stop_terminate else None,
        )
    _remaining(
        store,
        run,
        [r for r in run.items if items.state[r] in (PENDING, IN_PROGRESS)],
        now,
    )
    _finish_run(store, run, now)


def _finish_run(store: Store, run: Run, now: float) -> None:
    failed = store.run_counts(run)["failed"]
    run.state = "unresolved" if failed else "completed"
    run.ended_at = now
    store.emit(run, run.state, now)


def _after_step(store: Store, run: Run, now: float) -> None:
    if run.state == "stopping":
        if not store.has_active(run):
            _finish_stop(store, run, now)
        return
    waiting: dict[int, list[int]] = {}
    items = store.items
    for row in run.items:
        if items.state[row] == PENDING and items.step_run[row] < 0:
            waiting.setdefault(items.step[row], []).append(row)
    for step_no, rows in sorted(waiting.items()):
        store.new_step_run(run, step_no, rows, now + 1.0)
    if not waiting and not store.has_active(run):
        _finish_run(store, run, now)


# ------------------------------------------------------------------------------------------- step runs
def _log(step_run: StepRun, when: float, message: str) -> None:
    assert step_run.console is not None
    step_run.console.append((when, message))


def _event(step_run: StepRun, when: float, event_type: str, **data: Any) -> None:
    assert step_run.events is not None
    step_run.events.append((when, event_type, data))


def _fail(store: Store, row: int, exc: tuple[str, str, str], now: float) -> None:
    store.items.exc[row] = store.exception_index(exc)
    store.items.set_state(row, FAILED, now)


def _on_step_timer(store: Store, step_run: StepRun, now: float) -> None:
    run = store.runs[step_run.run_idx]
    process = store.processes[run.process_idx]
    rnd = random.Random(
        f"{store.rng_seed}:sr:{step_run.idx}:{len(step_run.console or ())}"
    )
    if step_run.state == "new":
        _set_step_state(step_run, "awaiting_worker", now)
        _log(step_run, now, f"INFO  Waiting for a worker in {_group_label(store, run)}")
        store.schedule("step", step_run, now + rnd.uniform(0.5, 2.0))
        return
    if step_run.state == "awaiting_worker":
        worker = store.fleet.reserve(run.process_idx, step_run.idx, now)
        if worker is None and run.state == "stopping":
            _stop_waiting(store, run, step_run, now)
            return
        if worker is None:
            # No worker of the group online: look again soon (the item stays pending).
            store.schedule("step", step_run, now + WORKER_POLL_SECONDS)
            return
        step_run.worker = worker.name
        _set_step_state(step_run, "in_progress", now)
        if step_run.started_at is None:
            step_run.started_at = now
        _log(step_run, now, f"INFO  Worker {step_run.worker} reserved the step run")
        _log(
            step_run,
            now,
            "INFO  Environment ready (rpaframework 28.5.1, Python 3.10.12) in 1.8 s",
        )
        _event(step_run, now, "robot_run_started", worker=step_run.worker)
        store.schedule("step", step_run, now + 0.5)
        return
    if step_run.current >= 0:
        _finish_item(store, step_run, len(process.steps) - 1, now)
    if run.state == "stopping":
        _remaining(
            store,
            run,
            [r for r in step_run.queue if store.items.state[r] == PENDING],
            now,
        )
        step_run.queue.clear()
        _end_step_run(store, step_run, now, "completed", None)
        _after_step(store, run, now)
        return
    items = store.items
    while step_run.queue:
        row = step_run.queue.popleft()
        if items.state[row] == PENDING:
            items.set_state(row, IN_PROGRESS, now)
            step_run.current = row
            _log(step_run, now, f"INFO  Processing work item {items.item_id(row)}")
            _event(step_run, now, "work_item_started", work_item_id=items.item_id(row))
            store.schedule(
                "step", step_run, now + process.item_seconds * rnd.uniform(0.5, 1.5)
            )
            return
    _end_step_run(store, step_run, now, "completed", None)
    _after_step(store, run, now)


def _finish_item(store: Store, step_run: StepRun, last_step: int, now: float) -> None:
    items = store.items
    row = step_run.current
    step_run.current = -1
    run = store.runs[step_run.run_idx]
    process = store.processes[run.process_idx]
    item_id = items.item_id(row)
    attempt = items.attempts[row]
    rnd = random.Random(f"{store.rng_seed}:{row}:{attempt}:{step_run.step_no}")
    rate = process.failure_rate if attempt == 0 else _retry_failure_rate(process)
    if rnd.random() < rate:
        exc = _scripted_exception(process) or synth.exception_for(
            rnd, process.failure_mix
        )
        _fail(store, row, exc, now)
        _log(step_run, now, f"ERROR {exc[0].upper()} exception {exc[1]}: {exc[2]}")
        _event(
            step_run,
            now,
            "work_item_failed",
            work_item_id=item_id,
            exception_type=exc[0],
            exception_code=exc[1],
        )
        return
    if step_run.step_no < last_step:
        items.step[row] = step_run.step_no + 1
        items.step_run[row] = -1
        items.set_state(row, PENDING, now)
    else:
        items.set_state(row, DONE, now)
    _log(step_run, now, f"INFO  Work item {item_id} released as COMPLETED")
    _event(step_run, now, "work_item_completed", work_item_id=item_id)


def _group_label(store: Store, run: Run) -> str:
    group = store.fleet.group_of(run.process_idx)
    if group is None:
        return "no worker group (the process's group was deleted)"
    return f"worker group '{store.fleet.groups[group].name}'"


def _stop_waiting(store: Store, run: Run, step_run: StepRun, now: float) -> None:
    """A stop request reached a step run still waiting for a worker: its items are never processed."""
    _remaining(
        store, run, [r for r in step_run.queue if store.items.state[r] == PENDING], now
    )
    step_run.queue.clear()
    _end_step_run(store, step_run, now, "completed", None)
    _after_step(store, run, now)


# getattr: a state file saved before these fields existed unpickles without them.
def _retry_failure_rate(process: Process) -> float:
    scripted = getattr(process, "retry_failure_rate", None)
    return process.failure_rate / 3 if scripted is None else float(scripted)


def _scripted_exception(process: Process) -> tuple[str, str, str] | None:
    return getattr(process, "exception", None)


def _set_step_state(step_run: StepRun, state: str, now: float) -> None:
    step_run.state = state
    step_run.state_updated_at = now


def _end_step_run(
    store: Store, step_run: StepRun, now: float, state: str, error: str | None
) -> None:
    _set_step_state(step_run, state, now)
    step_run.ended_at = now
    step_run.error_code = error
    step_run.next_at = None
    store.fleet.release(step_run.idx, now)
    if step_run.started_at is None:
        step_run.started_at = now
    _log(step_run, now, f"INFO  Step run {state} in {now - step_run.started_at:.1f} s")
    _event(step_run, now, "robot_run_finished", state=state)
    step_run.artifacts = build_artifacts(store, step_run)


# ------------------------------------------------------------------------------------------- artifacts
def build_artifacts(store: Store, step_run: StepRun) -> list[Artifact]:
    """output.log (the console), log.html, a CSV of the step run's items and, on failures, a screenshot."""
    console = step_run.console or []
    log = "".join(f"{synth.iso(ts)} {msg}\n" for ts, msg in console).encode()
    process = store.processes[store.runs[step_run.run_idx].process_idx]
    step = process.steps[step_run.step_no]
    html = (
        f"<!doctype html><html><head><title>{step.name} log</title></head><body>"
        f"<h1>{process.name} - {step.name}</h1><pre>{log.decode()}</pre></body></html>"
    ).encode()
    rows = [
        r
        for r in store.runs[step_run.run_idx].items
        if store.items.step_run[r] == step_run.idx
    ]
    states = ("new", "pending", "in_progress", "failed", "done")
    csv = "work_item_id,state\n" + "".join(
        f"{store.items.item_id(r)},{states[store.items.state[r]] if store.items.state[r] < 5 else 'deleted'}\n"
        for r in rows
    )
    artifacts = [
        Artifact(f"{step_run.id[:8]}-out", "output.log", log),
        Artifact(f"{step_run.id[:8]}-log", "log.html", html),
        Artifact(f"{step_run.id[:8]}-csv", "items.csv", csv.encode()),
    ]
    if any(store.items.state[r] == FAILED for r in rows):
        artifacts.append(
            Artifact(
                f"{step_run.id[:8]}-png",
                "failure-screenshot.png",
                synth.tiny_png(step_run.idx),
            )
        )
    return artifacts


def describe_seeded_step_run(store: Store, step_run: StepRun) -> None:
    """Console, events and artifacts of a seeded (historical) step run, derived from its items."""
    run = store.runs[step_run.run_idx]
    items = store.items
    rows = [r for r in run.items if items.step_run[r] == step_run.idx][:500]
    step_run.console, step_run.events = [], []
    start = step_run.started_at or step_run.state_updated_at
    _log(step_run, start, f"INFO  Worker {step_run.worker} reserved the step run")
    _event(step_run, start, "robot_run_started", worker=step_run.worker)
    for row in rows:
        item_id = items.item_id(row)
        begin = max(
            start, items.updated[row] - store.processes[run.process_idx].item_seconds
        )
        _log(step_run, begin, f"INFO  Processing work item {item_id}")
        _event(step_run, begin, "work_item_started", work_item_id=item_id)
        if items.state[row] == FAILED and items.exc[row] >= 0:
            kind, code, message = store.exceptions[items.exc[row]]
            _log(
                step_run,
                items.updated[row],
                f"ERROR {kind.upper()} exception {code}: {message}",
            )
            _event(
                step_run,
                items.updated[row],
                "work_item_failed",
                work_item_id=item_id,
                exception_type=kind,
                exception_code=code,
            )
        else:
            _log(
                step_run,
                items.updated[row],
                f"INFO  Work item {item_id} released as COMPLETED",
            )
            _event(
                step_run,
                items.updated[row],
                "work_item_completed",
                work_item_id=item_id,
            )
    end = step_run.ended_at or step_run.state_updated_at
    _log(step_run, end, f"INFO  Step run {step_run.state}")
    _event(step_run, end, "robot_run_finished", state=step_run.state)
    step_run.artifacts = build_artifacts(store, step_run)
