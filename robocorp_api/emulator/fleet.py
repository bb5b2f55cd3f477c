"""Workers, worker groups, link tokens, task packages and assets: the emulator's state for them.

A process's step runs run on a worker of the process's worker group (every process starts in the group
"Default"; `POST /__emulator__/processes/{id}` moves it). A step run waiting for a worker stays
`awaiting_worker` until one of its group is online; taking a worker offline puts the step runs it was
running back to `awaiting_worker` (the item it was processing goes back to the front of the queue), so
they proceed when a worker of the group comes back. A worker is `busy` while it runs at least one step
run, `idle` when online without work, `offline` otherwise.

The v1 API has no read of a process's worker group nor of a worker's groups (only the answers of adding
or removing a worker); the emulator keeps both and shows them under `/__emulator__/workers`.
"""

from __future__ import annotations

import random
import secrets
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .store import StepRun, Store

DEFAULT_GROUP = "Default"
MAX_ASSET_BYTES = 64 * 1024 * 1024


@dataclass(slots=True, eq=False)
class WorkerGroup:
    id: str
    name: str


@dataclass(slots=True, eq=False)
class Worker:
    id: str
    name: str
    online: bool = True
    groups: list[str] = field(default_factory=list)  # group ids, in join order
    running: set[int] = field(default_factory=set)  # step run indexes
    last_seen: float = 0.0

    @property
    def state(self) -> str:
        if not self.online:
            return "offline"
        return "busy" if self.running else "idle"


@dataclass(slots=True, eq=False)
class LinkToken:
    id: str
    name: str
    expires_at: float | None
    token: str
    group_id: str | None  # None: a workspace link token (POST /workers/link-tokens)
    used: int = 0


@dataclass(slots=True, eq=False)
class TaskPackage:
    id: str
    name: str
    data: bytes | None = None


@dataclass(slots=True, eq=False)
class AssetUpload:
    id: str
    asset_id: str
    content_type: str
    status: str  # pending | completed | failed
    token: str
    reason: str | None = None


@dataclass(slots=True, eq=False)
class Asset:
    id: str
    name: str
    content_type: str | None = None
    data: bytes | None = None
    version: int = 0


class Fleet:
    """Workers and groups, link tokens, task packages and assets (guarded by the store's lock)."""

    def __init__(self, rng_seed: int) -> None:
        self._rnd = random.Random(f"{rng_seed}:fleet")
        self.groups: dict[str, WorkerGroup] = {}
        self.workers: dict[str, Worker] = {}
        self.link_tokens: dict[str, LinkToken] = {}
        self.process_group: dict[int, str | None] = {}
        self.packages: dict[str, TaskPackage] = {}
        self.package_uploads: dict[str, str] = {}  # upload token → package id
        self.assets: dict[str, Asset] = {}
        self.asset_uploads: dict[str, AssetUpload] = {}
        default = self.add_group(DEFAULT_GROUP)
        self.default_group = default.id
        for n in (1, 2):
            self.add_worker(f"worker-eu1-{n:02d}", [default.id], now=0.0)

    def uuid(self) -> str:
        return str(uuid.UUID(int=self._rnd.getrandbits(128), version=4))

    # ----------------------------------------------------------------- groups and workers
    def add_group(self, name: str) -> WorkerGroup:
        group = WorkerGroup(self.uuid(), name)
        self.groups[group.id] = group
        return group

    def add_worker(self, name: str, groups: list[str], *, now: float) -> Worker:
        worker = Worker(self.uuid(), name, groups=list(groups), last_seen=now)
        self.workers[worker.id] = worker
        return worker

    def group_of(self, process_idx: int) -> str | None:
        """The process's worker group id; None when its group was deleted."""
        group = self.process_group.get(process_idx, self.default_group)
        return group if group in self.groups else None

    def find_worker(self, ref: str) -> Worker | None:
        """A worker by id or by name."""
        found = self.workers.get(ref)
        if found is not None:
            return found
        return next((w for w in self.workers.values() if w.name == ref), None)

    def group_listing(self, worker: Worker) -> dict[str, Any]:
        return {
            "worker": {"id": worker.id},
            "worker_groups": [
                {"id": g, "name": self.groups[g].name}
                for g in worker.groups
                if g in self.groups
            ],
        }

    def reserve(self, process_idx: int, step_run_idx: int, now: float) -> Worker | None:
        """An online worker of the process's group for the step run (least loaded first); None if none."""
        group = self.group_of(process_idx)
        candidates = [
            w for w in self.workers.values() if w.online and group in w.groups
        ]
        if group is None or not candidates:
            return None
        worker = min(candidates, key=lambda w: (len(w.running), w.name))
        worker.running.add(step_run_idx)
        worker.last_seen = now
        return worker

    def release(self, step_run_idx: int, now: float) -> None:
        for worker in self.workers.values():
            if step_run_idx in worker.running:
                worker.running.discard(step_run_idx)
                worker.last_seen = now

    # ----------------------------------------------------------------- link tokens
    def add_link_token(
        self, name: str, expires_at: float | None, group_id: str | None
    ) -> LinkToken:
        token = LinkToken(
            self.uuid(), name, expires_at, secrets.token_urlsafe(32), group_id
        )
        self.link_tokens[token.id] = token
        return token

    def token_by_secret(self, secret: str, now: float) -> LinkToken | None:
        for token in self.link_tokens.values():
            if secrets.compare_digest(token.token, secret):
                expired = token.expires_at is not None and token.expires_at < now
                group_gone = (
                    token.group_id is not None and token.group_id not in self.groups
                )
                return None if expired or group_gone else token
        return None


def set_worker_online(store: Store, worker: Worker, online: bool) -> None:
    """Bring a worker online or take it offline; its step runs go back to waiting for a worker."""
    with store.lock:
        now = store.now()
        worker.online = online
        worker.last_seen = now
        if online:
            return
        for idx in sorted(worker.running):
            requeue_step_run(
                store, store.step_runs[idx], now, f"Worker {worker.name} went offline"
            )
        worker.running.clear()


def remove_worker(store: Store, worker: Worker) -> None:
    set_worker_online(store, worker, False)
    with store.lock:
        del store.fleet.workers[worker.id]


def requeue_step_run(store: Store, step_run: StepRun, now: float, why: str) -> None:
    """An in-progress step run loses its worker: the current item goes back to the front of its queue."""
    from .items import IN_PROGRESS, PENDING

    if step_run.state not in ("in_progress", "awaiting_worker") or step_run.deleted:
        return
    row = step_run.current
    if row >= 0:
        if store.items.state[row] == IN_PROGRESS:
            store.items.set_state(row, PENDING, now)
            step_run.queue.appendleft(row)
        step_run.current = -1
    step_run.state = "awaiting_worker"
    step_run.state_updated_at = now
    assert step_run.console is not None
    step_run.console.append((now, f"WARN  {why}; the step run waits for a worker"))
    store.schedule("step", step_run, now + 1.0)


# ----------------------------------------------------------------------------------- parsing helpers
def parse_datetime(value: Any, field_name: str, *, nullable: bool) -> float | None:
    """An RFC 3339 date-time string → epoch seconds; ValueError with a message for anything else."""
    if value is None and nullable:
        return None
    if not isinstance(value, str):
        raise ValueError(f"{field_name} must be an RFC 3339 date-time string")
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"{field_name} must be an RFC 3339 date-time string, got {value!r}"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()
