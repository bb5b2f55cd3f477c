"""Builders for the bulk tests: failed items in the emulator, and a spy on the emulator's batch
endpoint that records every id Control Room received."""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import Any

from dashboard.mirror.models import WorkItem
from dashboard.workspaces.models import Workspace
from dashboard.workspaces.services import build_client
from robocorp_api.emulator import EmulatorServer


def seed_failed(emu: EmulatorServer, n: int, *, name: str = "Invoices") -> Any:
    """Create a process whose run failed all of its `n` items (robots paused afterwards)."""
    process = emu.store.add_process(
        name, steps=["Only"], item_seconds=0.01, failure_rate=1.0
    )
    emu.store.create_run(process.id, payloads=[{"n": k} for k in range(n)])
    emu.advance(3600)
    return process


def failed_ids(workspace: Workspace) -> list[int]:
    return list(
        WorkItem.objects.filter(workspace=workspace, state="failed")
        .order_by("pk")
        .values_list("pk", flat=True)
    )


class BatchSpy:
    """Wraps `emu.store.batch`: every work item id Control Room received, per operation, and
    when each batch call arrived (`times`, monotonic seconds)."""

    def __init__(self, emu: EmulatorServer) -> None:
        self.emu = emu
        self.calls: list[tuple[str, list[int]]] = []
        self.times: list[float] = []
        self._lock = threading.Lock()
        self._original = emu.store.batch

        def recording(operation: str, rows: Any) -> int:
            rows = list(rows)
            with self._lock:
                self.calls.append((operation, rows))
                self.times.append(time.monotonic())
            return self._original(operation, rows)

        emu.store.batch = recording  # type: ignore[method-assign]

    def per_row(self, operation: str | None = None) -> Counter[int]:
        with self._lock:
            return Counter(
                r for op, rows in self.calls if operation in (None, op) for r in rows
            )

    def restore(self) -> None:
        self.emu.store.batch = self._original  # type: ignore[method-assign]


def reread(workspace: Workspace, external_ids: list[str]) -> None:
    """Re-read items from Control Room into the mirror (what the next sync would write)."""
    from django.utils import timezone

    from dashboard.mirror.services.upsert import ProcessResolver, write_item_detail

    with build_client(workspace) as client:
        resolver = ProcessResolver(workspace)
        for ext in external_ids:
            write_item_detail(
                workspace, client.work_items.get(ext), resolver, timezone.now()
            )
