"""The emulator's single in-memory store: entities, permissions and state machines.

Every mutation happens under `store.lock` (an RLock) — the HTTP handlers, the robot scheduler and the
tests' helpers all share it, so reads inside the lock are consistent snapshots.

State machines (see README "## Emulator"):
- work item: new → pending → in_progress → done | failed; failed → retry → pending (new step run in the same
  process run); failed → mark_as_done → done; failed → delete → gone.
- process run: new → in_progress → completed | unresolved; new/in_progress → stopping → completed | unresolved;
  unresolved → in_progress again while retried items are re-processed; → completed once no item is failed.
- step run: new → awaiting_worker → in_progress → completed | failed (terminated).
"""

from __future__ import annotations

import heapq
import itertools
import pickle
import random
import secrets
import threading
import uuid
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import synth
from .clock import SimClock
from .fleet import Fleet
from .items import DELETED, DONE, FAILED, NEW, PENDING, ItemTable

PERMISSION_GROUPS = {
    "read_processes": "Processes",
    "read_runs": "Processes",
    "trigger_processes": "Processes",
    "read_work_items": "Processes",
    "write_work_items": "Processes",
    "read_run_outputs": "Processes",
    "read_robots": "Robots",
    "write_robots": "Robots",
    "read_workers": "Workers",
    "write_workers": "Workers",
    "read_webhooks": "Webhooks",
    "write_webhooks": "Webhooks",
    "read_task_packages": "Tasks",
    "write_task_packages": "Tasks",
    "read_asset_storage_assets": "Assets",
    "write_asset_storage_assets": "Assets",
    "read_assistants": "Assistants",
    "write_assistants": "Assistants",
}
ALL_PERMISSIONS = frozenset(PERMISSION_GROUPS)
RUN_STATES = ("new", "in_progress", "completed", "unresolved", "stopping")
ACTIVE_RUN_STATES = ("new", "in_progress", "stopping")
STEP_RUN_STATES = ("new", "awaiting_worker", "in_progress", "completed", "failed")
ACTIVE_STEP_STATES = ("new", "awaiting_worker", "in_progress")
MAX_UPLOAD_BYTES = 64 * 1024 * 1024
MIN_SCHEDULE_EVERY = 1.0


def check_schedule_every(every: float) -> float:
    """`every` as a float: 0 (schedule off) or at least MIN_SCHEDULE_EVERY simulated seconds; ValueError otherwise."""
    value = float(every)
    if not (value == 0 or MIN_SCHEDULE_EVERY <= value < float("inf")):
        raise ValueError(
            f"schedule_every must be 0 (off) or at least {MIN_SCHEDULE_EVERY:g} simulated seconds, got {every}"
        )
    return value


def normalize_permission(name: str) -> str:
    """`Processes.read_runs` or `read_runs` → `read_runs`; ValueError for unknown names."""
    short = name.split(".", 1)[1] if "." in name else name
    group = PERMISSION_GROUPS.get(short)
    if group is None or ("." in name and name.split(".", 1)[0] != group):
        raise ValueError(f"unknown permission {name!r}")
    return short


class EmulatorError(Exception):
    """A domain error that the HTTP layer turns into `{"error": {"code", "message"}}`."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        headers: list[tuple[str, str]] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or []


def bad_request(message: str, code: str = "bad_request") -> EmulatorError:
    return EmulatorError(400, code, message)


def not_found(message: str) -> EmulatorError:
    return EmulatorError(404, "not_found", message)


def conflict(message: str, code: str = "conflict") -> EmulatorError:
    return EmulatorError(409, code, message)


@dataclass(slots=True)
class Step:
    id: str
    name: str


@dataclass(slots=True, eq=False)
class Process:
    idx: int
    id: str
    name: str
    created_at: float
    kind: str
    steps: list[Step]
    item_seconds: float = 4.0
    failure_rate: float = 0.08
    failure_mix: tuple[float, float, float] = (0.5, 0.38, 0.12)
    # Scripted outcomes for tests and demos: every failure raises this (type, code, message)
    # instead of a random one, and a retried item fails at `retry_failure_rate` (None: a third
    # of `failure_rate`, as an outage that mostly clears).
    exception: tuple[str, str, str] | None = None
    retry_failure_rate: float | None = None
    deleted: bool = False


@dataclass(slots=True, eq=False)
class Artifact:
    id: str
    name: str
    data: bytes


@dataclass(slots=True, eq=False)
class StepRun:
    idx: int
    id: str
    run_idx: int
    step_no: int
    state: str
    state_updated_at: float
    started_at: float | None = None
    ended_at: float | None = None
    error_code: str | None = None
    queue: deque[int] = field(default_factory=deque)
    current: int = -1
    next_at: float | None = None
    worker: str = "worker-eu1-01"
    # None on seeded step runs: derived on first read from their items (see Store.step_run_outputs).
    console: list[tuple[float, str]] | None = None
    events: list[tuple[float, str, dict[str, Any]]] | None = None
    artifacts: list[Artifact] | None = None
    deleted: bool = False


@dataclass(slots=True, eq=False)
class Run:
    idx: int
    id: str
    process_idx: int
    run_no: int
    state: str
    created_at: float
    started_by: str = "api"
    started_by_details: dict[str, str] | None = None
    started_at: float | None = None
    ended_at: float | None = None
    items: list[int] = field(default_factory=list)  # sorted row numbers
    step_runs: list[int] = field(default_factory=list)
    callback: dict[str, Any] | None = None
    stop_terminate: bool = False
    stop_remaining_done: bool = False
    stop_reason: str | None = None
    next_at: float | None = None
    deleted: bool = False


@dataclass(slots=True, eq=False)
class Webhook:
    id: str
    process_idx: int | None
    enabled_events: list[str]
    endpoint: str
    secret: str


@dataclass(slots=True)
class PendingUpload:
    row: int
    name: str
    size: int
    expires: float


RunListener = Callable[["Store", Run, str, float], None]


class Store:
    """All emulator state. Public helpers are safe to call from tests (they take the lock)."""

    def __init__(
        self, *, workspace_id: str, rng_seed: int = 0, clock: SimClock | None = None
    ) -> None:
        self.lock = threading.RLock()
        self.clock = clock or SimClock()
        self.rng_seed = rng_seed
        self._rnd = random.Random(rng_seed)
        self.workspace_id = workspace_id
        self.workspace_name = "Workroom Demo Workspace"
        self.organization = {"id": self._uuid(), "name": "Workroom Demo Org"}
        self.keys: dict[str, frozenset[str]] = {}
        self.processes: list[Process] = []
        self.process_by_id: dict[str, int] = {}
        self.runs: list[Run] = []
        self.run_by_id: dict[str, int] = {}
        self.step_runs: list[StepRun] = []
        self.step_run_by_id: dict[str, int] = {}
        self.items = ItemTable(self._uuid()[:24])
        self.exceptions: list[tuple[str, str, str]] = []
        self._exception_ids: dict[tuple[str, str, str], int] = {}
        self.webhooks: dict[str, Webhook] = {}
        self.uploads: dict[str, PendingUpload] = {}
        self.blobs: dict[
            str, tuple[str, bytes]
        ] = {}  # uploaded file bytes: file id → (name, bytes)
        self.timers: list[tuple[float, int, str, int]] = []
        self._seq = itertools.count()
        self.listeners: list[RunListener] = []
        # Simulated schedules (see robots.run_until): one run every `schedule_every` s, round-robin over processes.
        self.schedule_every = 0.0
        self.schedule_next: float | None = None
        self.schedule_last_process = -1
        self.schedule_fired = 0
        # Stays False in state files saved before schedules existed (they get the seed's default).
        self.schedule_configured = False
        self.fleet = Fleet(rng_seed)

    # ----------------------------------------------------------------- ids, keys, catalog
    def _uuid(self) -> str:
        return str(uuid.UUID(int=self._rnd.getrandbits(128), version=4))

    def now(self) -> float:
        return self.clock.now()

    def add_key(self, permissions: Iterable[str], key: str | None = None) -> str:
        perms = frozenset(normalize_permission(p) for p in permissions)
        with self.lock:
            key = key or secrets.token_urlsafe(30)
            self.keys[key] = perms
            return key

    def exception_index(self, exc: tuple[str, str, str]) -> int:
        found = self._exception_ids.get(exc)
        if found is None:
            found = self._exception_ids[exc] = len(self.exceptions)
            self.exceptions.append(exc)
        return found

    # ----------------------------------------------------------------- processes
    def add_process(
        self,
        name: str,
        *,
        steps: Iterable[str] | None = None,
        item_seconds: float = 4.0,
        failure_rate: float = 0.08,
        failure_mix: tuple[float, float, float] = (0.5, 0.38, 0.12),
        created_at: float | None = None,
        exception: tuple[str, str, str] | None = None,
        retry_failure_rate: float | None = None,
    ) -> Process:
        """Create a process (1-3 steps) whose robots take `item_seconds` per item and fail `failure_rate` of them."""
        step_names = list(steps or ["Process items"])
        if not 1 <= len(step_names) <= 3:
            raise ValueError("a process has 1 to 3 steps")
        if not 0 <= failure_rate <= 1:
            raise ValueError("failure_rate must be between 0 and 1")
        with self.lock:
            process = Process(
                idx=len(self.processes),
                id=self._uuid(),
                name=name,
                created_at=self.now() if created_at is None else created_at,
                kind=synth.kind_for_name(name),
                steps=[Step(self._uuid(), step) for step in step_names],
                item_seconds=item_seconds,
                failure_rate=failure_rate,
                failure_mix=failure_mix,
                exception=exception,
                retry_failure_rate=retry_failure_rate,
            )
            self.processes.append(process)
            self.process_by_id[process.id] = process.idx
            return process

    def get_process(self, process_id: str) -> Process:
        idx = self.process_by_id.get(process_id)
        if idx is None:
            raise not_found(f"Process {process_id} not found")
        return self.processes[idx]

    def live_processes(self) -> list[Process]:
        return [p for p in self.processes if not p.deleted]

    # ----------------------------------------------------------------- lookups
    def get_run(self, run_id: str) -> Run:
        idx = self.run_by_id.get(run_id)
        if idx is None:
            raise not_found(f"Process run {run_id} not found")
        return self.runs[idx]

    def get_step_run(self, step_run_id: str) -> StepRun:
        idx = self.step_run_by_id.get(step_run_id)
        if idx is None:
            raise not_found(f"Step run {step_run_id} not found")
        return self.step_runs[idx]

    def get_item(self, item_id: str) -> int:
        row = self.items.parse_id(item_id)
        if row is None:
            raise not_found(f"Work item {item_id} not found")
        return row

    def item_payload(self, row: int) -> Any:
        found = self.items.payloads.get(row, _MISSING)
        if found is not _MISSING:
            return found
        if row < self.items.seeded:
            return synth.payload(
                self.processes[self.items.proc[row]].kind, self.rng_seed, row
            )
        return None

    def item_files(self, row: int) -> list[tuple[str, str, int]]:
        found = self.items.files.get(row)
        if found is not None:
            return found
        if row < self.items.seeded:
            return synth.file_for(
                self.processes[self.items.proc[row]].kind, self.rng_seed, row
            )
        return []

    def run_counts(self, run: Run) -> dict[str, int]:
        counts = {"new": 0, "pending": 0, "in_progress": 0, "failed": 0, "done": 0}
        names = ("new", "pending", "in_progress", "failed", "done")
        state = self.items.state
        for row in run.items:
            code = state[row]
            if code != DELETED:
                counts[names[code]] += 1
        return counts

    # ----------------------------------------------------------------- timers (robots)
    def schedule(self, kind: str, entity: Run | StepRun, when: float) -> None:
        entity.next_at = when
        heapq.heappush(self.timers, (when, next(self._seq), kind, entity.idx))

    def set_schedule(self, every: float) -> None:
        """Start one scheduled run every `every` simulated seconds (0 = off); the next is due an interval from now."""
        value = check_schedule_every(every)
        with self.lock:
            self.schedule_every = value
            self.schedule_configured = True
            self.schedule_next = self.now() + value if value else None

    def emit(self, run: Run, event: str, when: float) -> None:
        for listener in list(self.listeners):
            listener(self, run, event, when)

    # ----------------------------------------------------------------- work items
    def create_input_item(self, process: Process, payload: Any) -> int:
        """`POST /work-items`: an input item in state `new`, waiting in the process queue."""
        with self.lock:
            row = self.items.append(created=self.now(), proc=process.idx, state=NEW)
            self.items.payloads[row] = payload
            return row

    def update_payload(self, row: int, payload: Any) -> None:
        with self.lock:
            self.items.payloads[row] = payload
            self.items.updated[row] = self.now()

    def batch(self, operation: str, rows: Iterable[int]) -> int:
        """Apply retry / mark_as_done / delete to the FAILED items among `rows`; others are ignored."""
        if operation not in ("retry", "mark_as_done", "delete"):
            raise bad_request(
                f"Unknown batch_operation {operation!r}; expected retry, mark_as_done or delete"
            )
        with self.lock:
            now = self.now()
            failed = sorted({r for r in rows if self.items.state[r] == FAILED})
            touched: dict[int, list[int]] = {}
            for row in failed:
                touched.setdefault(self.items.run[row], []).append(row)
                if operation == "retry":
                    self.items.set_state(row, PENDING, now)
                    self.items.exc[row] = -1
                    self.items.step_run[row] = -1
                    self.items.attempts[row] = min(self.items.attempts[row] + 1, 255)
                elif operation == "mark_as_done":
                    self.items.set_state(row, DONE, now)
                else:
                    self.items.set_state(row, DELETED, now)
            for run_idx, run_rows in touched.items():
                if run_idx >= 0:
                    self._after_batch(self.runs[run_idx], operation, run_rows, now)
            return len(failed)

    def _after_batch(
        self, run: Run, operation: str, rows: list[int], now: float
    ) -> None:
        if run.deleted:
            return
        if operation == "retry":
            by_step: dict[int, list[int]] = {}
            for row in rows:
                by_step.setdefault(max(self.items.step[row], 0), []).append(row)
            if run.state in ("completed", "unresolved"):
                run.state = "in_progress"
                run.ended_at = None
            for step_no, step_rows in sorted(by_step.items()):
                self.new_step_run(run, step_no, step_rows, now)
        elif (
            run.state == "unresolved"
            and not self.has_active(run)
            and self.run_counts(run)["failed"] == 0
        ):
            run.state = "completed"
            self.emit(run, "completed", now)

    def retry_single(self, row: int) -> None:
        """Legacy `POST .../work-items/{id}/retry`: 409 unless the item is failed."""
        with self.lock:
            state = self.items.state[row]
            if state != FAILED:
                name = ("NEW", "PENDING", "IN_PROGRESS", "FAILED", "COMPLETED")[state]
                raise conflict(
                    f"Work item {self.items.item_id(row)} is {name}; only FAILED work items can be retried",
                    "invalid_state",
                )
            self.batch("retry", [row])

    # ----------------------------------------------------------------- uploads
    def register_upload(self, row: int, name: str, size: int) -> str:
        if not name or "/" in name or "\\" in name or len(name) > 255:
            raise bad_request(
                "file_name must be a plain file name of 1 to 255 characters"
            )
        if size < 0 or size > MAX_UPLOAD_BYTES:
            raise bad_request(
                f"file_size must be between 0 and {MAX_UPLOAD_BYTES} bytes"
            )
        with self.lock:
            token = secrets.token_urlsafe(24)
            self.uploads[token] = PendingUpload(row, name, size, self.now() + 3600)
            return token

    def complete_upload(self, token: str, data: bytes) -> tuple[str, str, int]:
        with self.lock:
            pending = self.uploads.get(token)
            if pending is None or pending.expires < self.now():
                raise EmulatorError(
                    403,
                    "invalid_upload_token",
                    "Upload token is unknown, already used or expired",
                )
            if len(data) > pending.size:
                raise EmulatorError(
                    400,
                    "entity_too_large",
                    f"Upload is {len(data)} bytes; the registered file_size is {pending.size}",
                )
            if self.items.state[pending.row] == DELETED:
                raise not_found("The work item of this upload no longer exists")
            del self.uploads[token]
            file_id = self._uuid()
            entry = (file_id, pending.name, len(data))
            files = list(self.item_files(pending.row))
            files.append(entry)
            self.items.files[pending.row] = files
            self.blobs[file_id] = (pending.name, data)
            return entry

    # ----------------------------------------------------------------- runs
    def create_run(
        self,
        process_id: str,
        *,
        payloads: list[Any] | None = None,
        item_ids: list[str] | None = None,
        with_inputs: bool = False,
        callback: dict[str, Any] | None = None,
        started_by: str = "api",
        created_at: float | None = None,
    ) -> Run | None:
        """Start a run (v1 variants). Returns None for `with_inputs` when the queue is empty.

        `created_at` backdates the run to a simulated instant (the scheduler starts runs when they were due).
        """
        with self.lock:
            process = self.get_process(process_id)
            now = self.now() if created_at is None else created_at
            rows: list[int]
            if item_ids is not None:
                rows = []
                for item_id in item_ids:
                    row = self.items.parse_id(item_id)
                    if row is None or self.items.proc[row] != process.idx:
                        raise bad_request(
                            f"Work item {item_id} does not exist in process {process.id}",
                            "invalid_work_item",
                        )
                    if self.items.state[row] != NEW or self.items.run[row] >= 0:
                        raise conflict(
                            f"Work item {item_id} is not a new input item waiting to be processed",
                            "work_item_already_used",
                        )
                    rows.append(row)
                if not rows:
                    raise bad_request("work_item_ids must not be empty")
            elif with_inputs:
                rows = list(self.items.iter_desc([process.idx], [NEW], None))
                rows = [r for r in rows if self.items.run[r] < 0]
                if not rows:
                    return None
            else:
                rows = []
                for payload in payloads if payloads is not None else [None]:
                    row = self.items.append(created=now, proc=process.idx, state=NEW)
                    self.items.payloads[row] = payload
                    rows.append(row)
            run = Run(
                idx=len(self.runs),
                id=self._uuid(),
                process_idx=process.idx,
                run_no=1 + sum(1 for r in self.runs if r.process_idx == process.idx),
                state="new",
                created_at=now,
                started_by=started_by,
                callback=callback,
            )
            if started_by == "user":
                run.started_by_details = {
                    "id": self._uuid(),
                    "first_name": "Jane",
                    "last_name": "Doe",
                }
            self.runs.append(run)
            self.run_by_id[run.id] = run.idx
            run.items = sorted(rows)
            for row in rows:
                self.items.run[row] = run.idx
                self.items.step[row] = 0
                self.items.set_state(row, PENDING, now)
            self.schedule("run", run, now + 1.0)
            return run

    def new_step_run(
        self, run: Run, step_no: int, rows: list[int], when: float
    ) -> StepRun:
        process = self.processes[run.process_idx]
        step_run = StepRun(
            idx=len(self.step_runs),
            id=self._uuid(),
            run_idx=run.idx,
            step_no=step_no,
            state="new",
            state_updated_at=when,
            worker=f"worker-eu1-{1 + self._rnd.randrange(8):02d}",
            console=[],
            events=[],
            artifacts=[],
        )
        self.step_runs.append(step_run)
        self.step_run_by_id[step_run.id] = step_run.idx
        run.step_runs.append(step_run.idx)
        for row in rows:
            self.items.step[row] = step_no
            self.items.step_run[row] = step_run.idx
            step_run.queue.append(row)
        assert step_run.console is not None
        step_run.console.append(
            (
                when,
                f"INFO  Step run created for step '{process.steps[step_no].name}' with {len(rows)} work items",
            )
        )
        self.schedule("step", step_run, when + 0.5)
        return step_run

    def has_active(self, run: Run) -> bool:
        return any(self.step_runs[s].state in ACTIVE_STEP_STATES for s in run.step_runs)

    def stop_run(
        self, run: Run, *, terminate: bool, remaining_done: bool, reason: str | None
    ) -> bool:
        with self.lock:
            if run.state not in ("new", "in_progress"):
                return False
            run.state = "stopping"
            run.stop_terminate = terminate
            run.stop_remaining_done = remaining_done
            run.stop_reason = reason
            now = self.now()
            if terminate or run.started_at is None or not self.has_active(run):
                self.schedule("run", run, now)
            return True

    def delete_run(self, run: Run) -> None:
        with self.lock:
            if run.state in ACTIVE_RUN_STATES:
                raise conflict(
                    f"Process run {run.id} is {run.state}; stop it before deleting it",
                    "process_run_active",
                )
            now = self.now()
            run.deleted = True
            del self.run_by_id[run.id]
            for row in run.items:
                if self.items.state[row] != DELETED:
                    self.items.set_state(row, DELETED, now)
            for idx in run.step_runs:
                step_run = self.step_runs[idx]
                step_run.deleted = True
                self.step_run_by_id.pop(step_run.id, None)

    # ----------------------------------------------------------------- webhooks
    def add_webhook(
        self, endpoint: str, events: list[str], process: Process | None
    ) -> Webhook:
        with self.lock:
            hook = Webhook(
                self._uuid(),
                None if process is None else process.idx,
                list(events),
                endpoint,
                secrets.token_hex(24),
            )
            self.webhooks[hook.id] = hook
            return hook

    # ----------------------------------------------------------------- seeded outputs
    def step_run_outputs(self, step_run: StepRun) -> None:
        """Materialise console messages, events and artifacts of a seeded step run on first read."""
        if (
            step_run.console is not None
            and step_run.events is not None
            and step_run.artifacts is not None
        ):
            return
        from .robots import describe_seeded_step_run

        describe_seeded_step_run(self, step_run)

    # ----------------------------------------------------------------- persistence
    _PERSISTED = (
        "rng_seed", "workspace_id", "workspace_name", "organization", "keys", "processes", "process_by_id",
        "runs", "run_by_id", "step_runs", "step_run_by_id", "items", "exceptions", "_exception_ids",
        "webhooks", "uploads", "blobs", "timers", "_rnd",
        "schedule_every", "schedule_next", "schedule_last_process", "schedule_fired",
        "schedule_configured", "fleet",
    )  # fmt: skip

    def save(self, path: Path) -> None:
        """Pickle the whole state (trusted local file; written atomically via a temporary file)."""
        with self.lock:
            state = {name: getattr(self, name) for name in self._PERSISTED}
            state["now"] = self.now()
            state["seq"] = next(self._seq)
            tmp = path.with_name(path.name + ".tmp")
            with tmp.open("wb") as handle:
                pickle.dump(state, handle, protocol=pickle.HIGHEST_PROTOCOL)
            tmp.replace(path)

    @classmethod
    def load(cls, path: Path, clock: SimClock) -> Store:
        with path.open("rb") as handle:
            state = pickle.load(handle)  # noqa: S301 - our own state file, documented as trusted
        store = cls(
            workspace_id=state["workspace_id"], rng_seed=state["rng_seed"], clock=clock
        )
        for name in cls._PERSISTED:
            if (
                name in state
            ):  # state files written before a field existed keep its default
                setattr(store, name, state[name])
        store._seq = itertools.count(state["seq"] + 1)
        clock.set_now(max(state["now"], clock.now()))
        store._skip_missed_schedules()
        return store

    def _skip_missed_schedules(self) -> None:
        """After downtime, fire a missed schedule once (not once per missed interval), keeping its phase."""
        if self.schedule_next is None or not self.schedule_every:
            return
        missed = int((self.now() - self.schedule_next) // self.schedule_every)
        if missed > 0:
            self.schedule_next += missed * self.schedule_every


_MISSING = object()
