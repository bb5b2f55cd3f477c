"""A compact, column-oriented work-item table with per-(process, state) sorted indexes.

One million items cost a few tens of megabytes: each item is a row across typed arrays, its id is derived
from its row number, and seeded payloads are derived lazily (see synth.py). Only payloads and files that were
written at run time are kept in dictionaries. Row order equals creation order, so "newest first" is simply
descending row number and a cursor page is a bisect into a sorted index: O(page), never O(N).
"""

from __future__ import annotations

import heapq
from array import array
from bisect import bisect_left
from collections.abc import Iterable, Iterator
from typing import Any

from sortedcontainers import SortedList

STATES = ("new", "pending", "in_progress", "failed", "done")
NEW, PENDING, IN_PROGRESS, FAILED, DONE = range(5)
DELETED = 9
STATE_CODES = {name: code for code, name in enumerate(STATES)}


class ItemTable:
    """Work items as rows of parallel arrays; see the module docstring."""

    def __init__(self, id_prefix: str) -> None:
        self.id_prefix = (
            id_prefix  # 24 characters, uuid-shaped: "xxxxxxxx-xxxx-4xxx-8xxx-"
        )
        self.created = array("d")
        self.updated = array("d")
        self.state = bytearray()
        self.proc = array("i")
        self.run = array("i")
        self.step = array("b")
        self.step_run = array("i")
        self.exc = array("i")
        self.attempts = bytearray()
        self.payloads: dict[int, Any] = {}
        self.files: dict[int, list[tuple[str, str, int]]] = {}
        self.seeded = 0  # rows below this number derive payload/files from the seed until overridden
        self.index: dict[tuple[int, int], SortedList] = {}

    def __len__(self) -> int:
        return len(self.state)

    def item_id(self, row: int) -> str:
        return f"{self.id_prefix}{row:012x}"

    def output_id(self, row: int) -> str:
        return f"{self.id_prefix[:-5]}9{self.id_prefix[-4:]}{row:012x}"

    def parse_id(self, item_id: str) -> int | None:
        """Row number of a live item id, or None (unknown, malformed or deleted)."""
        if len(item_id) != 36 or not item_id.startswith(self.id_prefix):
            return None
        try:
            row = int(item_id[24:], 16)
        except ValueError:
            return None
        if row >= len(self.state) or self.state[row] == DELETED:
            return None
        return row

    def _bucket(self, proc: int, state: int) -> SortedList:
        key = (proc, state)
        bucket = self.index.get(key)
        if bucket is None:
            bucket = self.index[key] = SortedList()
        return bucket

    def append(
        self,
        *,
        created: float,
        proc: int,
        state: int = NEW,
        run: int = -1,
        step: int = -1,
    ) -> int:
        row = len(self.state)
        if row and created < self.created[row - 1]:
            created = self.created[
                row - 1
            ]  # keep creation order == row order (cursor pages rely on it)
        self.created.append(created)
        self.updated.append(created)
        self.state.append(state)
        self.proc.append(proc)
        self.run.append(run)
        self.step.append(step)
        self.step_run.append(-1)
        self.exc.append(-1)
        self.attempts.append(0)
        self._bucket(proc, state).add(row)
        return row

    def extend_seeded(
        self,
        *,
        created: Iterable[float],
        updated: Iterable[float],
        state: Iterable[int],
        proc: Iterable[int],
        run: Iterable[int],
        step: Iterable[int],
        step_run: Iterable[int],
        exc: Iterable[int],
    ) -> None:
        """Bulk-append seeded rows (already in creation order); rebuilds the indexes once."""
        start = len(self.state)
        self.created.extend(created)
        self.updated.extend(updated)
        self.state.extend(state)
        self.proc.extend(proc)
        self.run.extend(run)
        self.step.extend(step)
        self.step_run.extend(step_run)
        self.exc.extend(exc)
        self.attempts.extend(bytes(len(self.state) - start))
        self.seeded = len(self.state)
        self.rebuild_index()

    def rebuild_index(self) -> None:
        groups: dict[tuple[int, int], list[int]] = {}
        proc, state = self.proc, self.state
        for row in range(len(state)):
            code = state[row]
            if code != DELETED:
                groups.setdefault((proc[row], code), []).append(row)
        self.index = {key: SortedList(rows) for key, rows in groups.items()}

    def set_state(self, row: int, state: int, when: float) -> None:
        old = self.state[row]
        if old == state:
            self.updated[row] = when
            return
        proc = self.proc[row]
        if old != DELETED:
            self._bucket(proc, old).discard(row)
        if state != DELETED:
            self._bucket(proc, state).add(row)
        self.state[row] = state
        self.updated[row] = when

    def iter_desc(
        self, procs: Iterable[int], states: Iterable[int], before: int | None
    ) -> Iterator[int]:
        """Rows of the given processes and states, newest first, strictly below row `before`."""
        maximum = None if before is None else before - 1
        wanted = set(states)
        iterators = [
            bucket.irange(maximum=maximum, reverse=True)
            for (proc, state), bucket in self.index.items()
            if state in wanted and proc in procs and bucket
        ]
        if not iterators:
            return iter(())
        if len(iterators) == 1:
            return iter(iterators[0])
        return heapq.merge(*iterators, reverse=True)

    def iter_rows_desc(
        self, rows: list[int], states: Iterable[int], before: int | None
    ) -> Iterator[int]:
        """Rows from a sorted list (a run's items), newest first, strictly below `before`, in `states`."""
        wanted = set(states)
        end = len(rows) if before is None else bisect_left(rows, before)
        state = self.state
        for pos in range(end - 1, -1, -1):
            row = rows[pos]
            if state[row] in wanted:
                yield row

    def count(self, proc: int | None = None) -> dict[str, int]:
        totals = dict.fromkeys(STATES, 0)
        for (p, s), bucket in self.index.items():
            if proc is None or p == proc:
                totals[STATES[s]] += len(bucket)
        return totals

    def drop_process(self, proc: int) -> None:
        for key in [k for k in self.index if k[0] == proc]:
            del self.index[key]
