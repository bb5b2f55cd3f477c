"""The proof of convergence: compare a workspace's mirror with Control Room, item by item.

Every work item and run Control Room lists is compared with its mirror row (state, and for
items whether the row exists and is live); every live mirror row Control Room no longer lists
is drift too. The check is a snapshot: an item that changed in the last minute may simply
not be mirrored yet (the convergence target), so drift on a busy workspace is judged by
checking again after a minute (`manage.py mirror_check --again-after 60`: only what differs
both times counts). Control Room's clock (the emulator's is simulated) is never compared
with ours. `manage.py mirror_check` prints the report; the mirror page runs the same check
in a worker (`MirrorCheck`).

Memory grows with the workspace (one set of ids); the requests are one per page of items
and of runs, so a check of 1M items is about a thousand requests.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.contrib.auth.models import AnonymousUser, User
from django.db import transaction
from django.utils import timezone

from dashboard.lib.secretbox import SecretUnavailable
from dashboard.mirror import conf
from dashboard.mirror.models import MirrorCheck, ProcessRun, WorkItem
from dashboard.workspaces.models import Workspace
from dashboard.workspaces.services import build_client
from robocorp_api import models as api
from robocorp_api.client import ControlRoomClient
from robocorp_api.errors import ControlRoomError

MISSING = "missing"  # the mirror has no live row for it
GONE = "gone"  # Control Room no longer lists it
EXAMPLES = 5
MAX_REMEMBERED = 100_000
CHECK_PAGE_SIZE = 1000


@dataclass
class DriftReport:
    """What differs. `items` / `runs` map (state in Control Room, state in the mirror) to a
    count; `missing` and `gone` stand in for a side that has no row."""

    items_checked: int = 0
    runs_checked: int = 0
    items: Counter[tuple[str, str]] = field(default_factory=Counter)
    runs: Counter[tuple[str, str]] = field(default_factory=Counter)
    examples: list[str] = field(default_factory=list)
    # (kind, external id) → (Control Room state, mirror state), up to MAX_REMEMBERED.
    drifted: dict[tuple[str, str], tuple[str, str]] = field(default_factory=dict)

    @property
    def item_drift(self) -> int:
        return sum(self.items.values())

    @property
    def run_drift(self) -> int:
        return sum(self.runs.values())

    @property
    def has_drift(self) -> bool:
        return bool(self.item_drift or self.run_drift)

    def rows(self) -> list[tuple[str, str, str, int]]:
        """(kind, Control Room state, mirror state, count), largest first."""
        rows = [("item", cr, mine, n) for (cr, mine), n in self.items.items()]
        rows += [("run", cr, mine, n) for (cr, mine), n in self.runs.items()]
        return sorted(rows, key=lambda row: (-row[3], row[0], row[1], row[2]))

    def as_json(self) -> dict[str, Any]:
        return {
            "items_checked": self.items_checked,
            "runs_checked": self.runs_checked,
            "rows": [list(row) for row in self.rows()],
            "examples": self.examples,
        }

    def lines(self) -> list[str]:
        """The report as text lines (the command prints them)."""
        out = [
            f"Checked {self.items_checked:,} work items and {self.runs_checked:,} runs "
            "against Control Room."
        ]
        if not self.has_drift:
            out.append("No drift: the mirror equals Control Room.")
            return out
        out.append(
            f"Drift: {self.item_drift:,} work items, {self.run_drift:,} runs "
            "(Control Room → mirror):"
        )
        width = max(len(f"{cr} → {mine}") for _, cr, mine, _ in self.rows())
        for kind, cr, mine, n in self.rows():
            out.append(f"  {kind:<4}  {f'{cr} → {mine}':<{width}}  {n:>9,}")
        if self.examples:
            out.append("Examples: " + ", ".join(self.examples))
        return out


def mirror_check(
    workspace: Workspace,
    client: ControlRoomClient,
    *,
    progress: Callable[[DriftReport], None] = lambda report: None,
) -> DriftReport:
    """Compare every work item and run of `workspace` with Control Room; return the drift."""
    report = DriftReport()
    seen: set[str] = set()
    for page in client.work_items.list(limit=CHECK_PAGE_SIZE).pages():
        _compare_items(workspace, page.data, report)
        seen.update(item.id for item in page.data)
        progress(report)
    live = WorkItem.objects.filter(workspace=workspace, gone_at__isnull=True)
    for ext, state in live.order_by().values_list("external_id", "state").iterator():
        if ext not in seen:
            _drift(report, "item", ext, (GONE, state))
    _compare_runs(workspace, client, report)
    return report


def persistent_drift(first: DriftReport, second: DriftReport) -> DriftReport:
    """The drift of `second` that `first` showed too (same object, same two states): what a
    check repeated after the convergence target shows is not merely in flight."""
    both = DriftReport(
        items_checked=second.items_checked, runs_checked=second.runs_checked
    )
    for key, states in second.drifted.items():
        if first.drifted.get(key) == states:
            _drift(both, key[0], key[1], states)
    return both


def _compare_items(
    workspace: Workspace, items: Iterable[api.WorkItem], report: DriftReport
) -> None:
    items = list(items)
    mirrored = dict(
        WorkItem.objects.filter(
            workspace=workspace,
            external_id__in=[i.id for i in items],
            gone_at__isnull=True,
        )
        .order_by()
        .values_list("external_id", "state")
    )
    for item in items:
        report.items_checked += 1
        mine = mirrored.get(item.id, MISSING)
        if mine != item.state:
            _drift(report, "item", item.id, (item.state, mine))


def _compare_runs(
    workspace: Workspace, client: ControlRoomClient, report: DriftReport
) -> None:
    mirrored = dict(
        ProcessRun.objects.filter(workspace=workspace, gone_at__isnull=True)
        .order_by()
        .values_list("external_id", "state")
    )
    for run in client.process_runs.list(limit=CHECK_PAGE_SIZE):
        report.runs_checked += 1
        mine = mirrored.pop(run.id, MISSING)
        if mine != run.state:
            _drift(report, "run", run.id, (run.state, mine))
    for ext, state in mirrored.items():
        _drift(report, "run", ext, (GONE, state))


def _drift(
    report: DriftReport, kind: str, external_id: str, states: tuple[str, str]
) -> None:
    (report.items if kind == "item" else report.runs)[states] += 1
    if len(report.drifted) < MAX_REMEMBERED:
        report.drifted[(kind, external_id)] = states
    if len(report.examples) < EXAMPLES:
        report.examples.append(f"{kind} {external_id}")


# --- the check as a job of the mirror page ----------------------------------------------------

STALE_AFTER = timedelta(minutes=30)


def check_request(
    workspace: Workspace, requested_by: User | AnonymousUser | None
) -> MirrorCheck:
    """Queue a check of `workspace` (or return the one queued or running) for a worker."""
    _give_up_stale(workspace)
    active = MirrorCheck.objects.filter(
        workspace=workspace, status__in=MirrorCheck.ACTIVE_STATUSES
    ).first()
    if active is not None:
        return active
    check = MirrorCheck.objects.create(
        workspace=workspace,
        requested_by=requested_by if isinstance(requested_by, User) else None,
    )
    transaction.on_commit(lambda: _enqueue(check.pk), robust=True)
    return check


def _enqueue(check_id: int) -> None:
    from dashboard.mirror.tasks import check_mirror

    options: dict[str, Any] = {}
    if queue := conf.sync_queue():
        options["queue"] = queue
    check_mirror.apply_async(args=(check_id,), **options)


def _give_up_stale(workspace: Workspace) -> None:
    MirrorCheck.objects.filter(
        workspace=workspace,
        status__in=MirrorCheck.ACTIVE_STATUSES,
        created_at__lt=timezone.now() - STALE_AFTER,
    ).update(
        status=MirrorCheck.Status.FAILED,
        finished_at=timezone.now(),
        error="Interrupted: no worker finished it.",
    )


def check_execute(check_id: int) -> None:
    """Run a queued check; a second delivery of the same id is a no-op."""
    claimed = MirrorCheck.objects.filter(
        pk=check_id, status=MirrorCheck.Status.QUEUED
    ).update(status=MirrorCheck.Status.RUNNING, started_at=timezone.now())
    if not claimed:
        return
    check = MirrorCheck.objects.select_related("workspace").get(pk=check_id)
    try:
        with build_client(check.workspace) as client:
            report = mirror_check(
                check.workspace, client, progress=_progress_recorder(check_id)
            )
    except SecretUnavailable:
        _check_failed(check_id, "The stored API key cannot be decrypted.")
    except ControlRoomError as err:
        _check_failed(check_id, f"Control Room: {err.message}")
    else:
        MirrorCheck.objects.filter(pk=check_id).update(
            status=MirrorCheck.Status.DONE,
            finished_at=timezone.now(),
            items_checked=report.items_checked,
            runs_checked=report.runs_checked,
            item_drift=report.item_drift,
            run_drift=report.run_drift,
            report=report.as_json(),
        )


def _progress_recorder(check_id: int) -> Callable[[DriftReport], None]:
    last = [0.0]

    def record(report: DriftReport) -> None:
        if time.monotonic() - last[0] >= 1.0:
            last[0] = time.monotonic()
            MirrorCheck.objects.filter(pk=check_id).update(
                items_checked=report.items_checked
            )

    return record


def _check_failed(check_id: int, error: str) -> None:
    MirrorCheck.objects.filter(pk=check_id).update(
        status=MirrorCheck.Status.FAILED, finished_at=timezone.now(), error=error[:500]
    )


def latest_check(workspace: Workspace) -> MirrorCheck | None:
    return MirrorCheck.objects.filter(workspace=workspace).first()
