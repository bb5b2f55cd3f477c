"""Process and run actions: start, stop, re-read a run, and read a step run's outputs.

Each call builds a client for the workspace, talks to Control Room at once, and updates the
mirror with a targeted sync of the run (`WorkspaceSync.run_one`) so the pages show the new
state without waiting for the next scheduled sync. Failures become `ActionFailed` with a
message written for the operator; nothing here lets a `ControlRoomError` escape to a view.
"""

from __future__ import annotations

import itertools
import logging
import re
import unicodedata
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import quote

from dashboard.audit import services as audit
from dashboard.audit.services import Actor
from dashboard.lib import secretbox
from dashboard.lib.errors import WorkroomError
from dashboard.mirror.models import Process, ProcessRun
from dashboard.mirror.services.runnumbers import number_new_runs
from dashboard.mirror.services.sync import WorkspaceSync
from dashboard.processes.inputs import StartInput
from dashboard.workitems import rollup
from dashboard.workspaces.errors import describe
from dashboard.workspaces.models import Workspace
from dashboard.workspaces.services import build_client
from robocorp_api import errors as cr
from robocorp_api.client import ControlRoomClient
from robocorp_api.models import Artifact, ConsoleMessage, Event, StartedRun

logger = logging.getLogger(__name__)

TRIGGER = "Processes.trigger_processes"
READ_OUTPUTS = "Processes.read_run_outputs"
READ_RUNS = "Processes.read_processes / Processes.read_runs"

ACTION_START = "processes.run_start"
ACTION_STOP = "processes.run_stop"

CONSOLE_PAGE_SIZE = 100
# Newest-first needs the whole log (the API lists oldest first); keep at most this much.
CONSOLE_MAX_MESSAGES = 20_000
MAX_EVENTS = 2_000
MAX_ARTIFACTS = 500

T = TypeVar("T")

INTERACTIVE: dict[str, Any] = {"max_retries": 1, "backoff_max": 1.0, "timeout": (3, 15)}


class ActionFailed(WorkroomError):
    """A run action Control Room refused or could not do; `message` is for the operator."""

    def __init__(self, message: str, *, not_found: bool = False) -> None:
        super().__init__(message)
        self.not_found = not_found


def _client(workspace: Workspace, permission: str) -> ControlRoomClient:
    try:
        return build_client(workspace, **INTERACTIVE)
    except secretbox.SecretUnavailable as err:
        raise ActionFailed(describe(err, needs=permission)) from None


# --- keeping the mirror of one run fresh -----------------------------------------------


@dataclass(frozen=True)
class Refresh:
    error: str = ""
    not_found: bool = False


def refresh_run(workspace: Workspace, run_external_id: str) -> Refresh:
    """Re-read one run (its step runs and work items too) into the mirror."""
    try:
        # A page (or a 2 s poll) waits for this: retry briefly, then show the last copy.
        with (
            build_client(workspace, **INTERACTIVE) as client,
            rollup.keeping_run(workspace.pk, run_external_id),
        ):
            WorkspaceSync(workspace, client).run_one(run_external_id)
    except (cr.ControlRoomError, secretbox.SecretUnavailable) as err:
        logger.info("refresh of run %s failed: %s", run_external_id, err)
        return Refresh(
            describe(err, needs=READ_RUNS, thing="process run"),
            not_found=isinstance(err, cr.NotFound),
        )
    number_new_runs(workspace.pk)
    gone = ProcessRun.objects.filter(
        workspace=workspace, external_id=run_external_id, gone_at__isnull=False
    ).exists()
    return Refresh(not_found=gone)


def run_needs_refresh(run: ProcessRun | None) -> bool:
    """Return True unless the mirror already holds the run's final, completely read state."""
    if run is None:
        return True
    if run.gone_at is not None:
        return False
    return (
        not run.is_terminal or run.needs_refresh or run.detail_synced_state != run.state
    )


# --- start and stop ---------------------------------------------------------------------


def start_run(
    workspace: Workspace,
    process: Process,
    start: StartInput,
    *,
    actor: Actor,
) -> StartedRun:
    """Start a run of `process` as described by a validated `start`; audit it either way.

    Raises:
        ActionFailed: Control Room refused or could not be reached (audited too).
    """
    data: dict[str, Any] = {
        "workspace_id": workspace.pk,
        "process_id": process.external_id,
        "process_name": process.name,
        "variant": start.variant,
        "count": start.count,
    }
    if start.work_item_ids is not None:
        data["work_item_ids"] = start.work_item_ids[:100]
    client = _client(workspace, TRIGGER)
    try:
        with client:
            started = client.process_runs.start(
                process.external_id,
                payloads=start.payloads
                if start.variant in ("payload", "payloads", "csv")
                else None,
                work_item_ids=start.work_item_ids
                if start.variant == "work_items"
                else None,
                with_inputs=start.variant == "inputs",
            )
    except cr.ControlRoomError as err:
        message = describe(err, needs=TRIGGER, thing="process")
        _audit(actor, workspace, ACTION_START, None, f"Start of {process.name} failed",
               {**data, "outcome": "failed", "error": type(err).__name__, "status": err.status})  # fmt: skip
        raise ActionFailed(message, not_found=isinstance(err, cr.NotFound)) from None
    run = None
    if started.started and started.id:
        refresh_run(workspace, started.id)
        run = ProcessRun.objects.filter(
            workspace=workspace, external_id=started.id
        ).first()
        summary = f"Started a run of {process.name} ({_variant_words(start)})"
    else:
        summary = f"Start of {process.name} with queued inputs: nothing was waiting"
    outcome = "started" if started.started else "not_started"
    _audit(actor, workspace, ACTION_START, run, summary,
           {**data, "outcome": outcome, "run_id": started.id})  # fmt: skip
    return started


def _variant_words(start: StartInput) -> str:
    if start.variant == "none":
        return "no input"
    if start.variant == "inputs":
        return "the queued inputs"
    if start.variant == "work_items":
        return f"{start.count} existing work item{'s' * (start.count != 1)}"
    return f"{start.count} payload{'s' * (start.count != 1)}"


def stop_run(
    workspace: Workspace,
    run: ProcessRun,
    *,
    terminate: bool,
    remaining_done: bool,
    reason: str,
    actor: Actor,
) -> bool:
    """Ask Control Room to stop a run; return whether it accepted. Audited either way.

    Raises:
        ActionFailed: Control Room refused or could not be reached.
    """
    data: dict[str, Any] = {
        "workspace_id": workspace.pk,
        "run_id": run.external_id,
        "terminate_ongoing_activity_runs": terminate,
        "set_remaining_work_items_as_done": remaining_done,
        "reason": reason,
    }
    client = _client(workspace, TRIGGER)
    try:
        with client:
            accepted = client.process_runs.stop(
                run.external_id,
                set_remaining_work_items_as_done=remaining_done,
                terminate_ongoing_activity_runs=terminate,
                reason=reason or None,
            )
    except cr.ControlRoomError as err:
        _audit(actor, workspace, ACTION_STOP, run, f"Stop of run {run.external_id} failed",
               {**data, "outcome": "failed", "error": type(err).__name__, "status": err.status})  # fmt: skip
        raise ActionFailed(
            describe(err, needs=TRIGGER, thing="process run"),
            not_found=isinstance(err, cr.NotFound),
        ) from None
    mode = "terminate" if terminate else "graceful stop"
    summary = (
        f"Asked to stop run {run.external_id} ({mode})"
        if accepted
        else f"Stop of run {run.external_id} not accepted: it was no longer running"
    )
    _audit(actor, workspace, ACTION_STOP, run, summary,
           {**data, "outcome": "accepted" if accepted else "not_accepted"})  # fmt: skip
    refresh_run(workspace, run.external_id)
    return accepted


def _audit(
    actor: Actor,
    workspace: Workspace,
    action: str,
    run: ProcessRun | None,
    summary: str,
    data: dict[str, Any],
) -> None:
    audit.record_by(
        actor,
        team=workspace.team,
        action=action,
        obj=run,
        summary=summary,
        data=data,
    )


# --- step-run outputs, read live from the API ------------------------------------------------


@dataclass
class Section:
    """Something read live from Control Room for a page: rows, or why there are none."""

    rows: list[Any] = field(default_factory=list)
    error: str = ""
    truncated: bool = False


@dataclass
class ConsolePage(Section):
    page: int = 1
    newest_first: bool = False
    total: int | None = None  # known when the whole log was read
    has_next: bool = False

    @property
    def has_previous(self) -> bool:
        return self.page > 1

    @property
    def first_number(self) -> int:
        return (self.page - 1) * CONSOLE_PAGE_SIZE + 1


def _read(fn: Callable[[], T], *, thing: str) -> tuple[T | None, str]:
    try:
        return fn(), ""
    except (cr.ControlRoomError, secretbox.SecretUnavailable) as err:
        return None, describe(err, needs=READ_OUTPUTS, thing=thing)


def console_page(
    client: ControlRoomClient, step_run_id: str, *, page: int, newest_first: bool
) -> ConsolePage:
    """Return one page of a step run's console, oldest or newest first."""
    result = ConsolePage(page=max(page, 1), newest_first=newest_first)
    messages = client.step_runs.console_messages(step_run_id, limit=500)
    start = (result.page - 1) * CONSOLE_PAGE_SIZE
    if newest_first:
        rows, error = _read(lambda: _tail(iter(messages)), thing="step run")
        if rows is not None:
            whole, result.truncated = rows
            result.total = len(whole)
            ordered = list(reversed(whole))
            result.rows = ordered[start : start + CONSOLE_PAGE_SIZE]
            result.has_next = start + CONSOLE_PAGE_SIZE < len(ordered)
    else:
        # Oldest first reads only as many pages of the API as this page needs.
        window, error = _read(
            lambda: list(
                itertools.islice(messages, start, start + CONSOLE_PAGE_SIZE + 1)
            ),
            thing="step run",
        )
        if window is not None:
            result.rows = window[:CONSOLE_PAGE_SIZE]
            result.has_next = len(window) > CONSOLE_PAGE_SIZE
    result.error = error
    return result


def _tail(messages: Iterator[ConsoleMessage]) -> tuple[list[ConsoleMessage], bool]:
    kept: deque[ConsoleMessage] = deque(maxlen=CONSOLE_MAX_MESSAGES)
    count = 0
    for message in messages:
        kept.append(message)
        count += 1
    return list(kept), count > CONSOLE_MAX_MESSAGES


def step_events(client: ControlRoomClient, step_run_id: str) -> Section:
    return _bounded(
        lambda: iter(client.step_runs.events(step_run_id, limit=500)), MAX_EVENTS
    )


def step_artifacts(client: ControlRoomClient, step_run_id: str) -> Section:
    return _bounded(
        lambda: iter(client.step_runs.artifacts(step_run_id, limit=500)), MAX_ARTIFACTS
    )


def _bounded(
    make: Callable[[], Iterator[Event] | Iterator[Artifact]], cap: int
) -> Section:
    found, error = _read(
        lambda: list(itertools.islice(make(), cap + 1)), thing="step run"
    )
    if found is None:
        return Section(error=error)
    return Section(rows=found[:cap], truncated=len(found) > cap)


# --- artifact downloads -----------------------------------------------------------------


@dataclass
class Download:
    name: str
    chunks: Iterator[bytes]


def open_artifact(workspace: Workspace, step_run_id: str, artifact_id: str) -> Download:
    """Start streaming an artifact; errors surface here, before any byte is sent.

    Raises:
        ActionFailed: the artifact cannot be read.
    """
    client = _client(workspace, READ_OUTPUTS)
    try:
        meta = client.step_runs.artifact(step_run_id, artifact_id)
        chunks = client.step_runs.stream_artifact(step_run_id, artifact_id)
        first = next(chunks, b"")
    except cr.ControlRoomError as err:
        client.close()
        raise ActionFailed(
            describe(err, needs=READ_OUTPUTS, thing="artifact"),
            not_found=isinstance(err, cr.NotFound),
        ) from None
    return Download(meta.name, _chained(first, chunks, client))


def _chained(
    first: bytes, rest: Iterator[bytes], client: ControlRoomClient
) -> Iterator[bytes]:
    try:
        if first:
            yield first
        try:
            yield from rest
        except cr.ControlRoomError as err:
            # Headers are sent: the browser sees a truncated (failed) download.
            logger.warning("artifact download interrupted: %s", err)
    finally:
        client.close()


_INVISIBLE = frozenset({"Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
_UNSAFE = re.compile(r"[\x00-\x1f\x7f\"\\/:*?<>|;]+")


def safe_filename(name: str, default: str = "artifact") -> str:
    """Return `name` without path parts, control or reserved characters (max 150 chars)."""
    name = unicodedata.normalize("NFC", name.replace("\\", "/").rsplit("/", 1)[-1])
    # Invisible characters (bidi overrides such as U+202E, zero-width ones, unassigned or private
    # code points) can disguise a file's extension: dropped, so the real name shows.
    name = "".join(c for c in name if unicodedata.category(c) not in _INVISIBLE)
    name = _UNSAFE.sub("_", name).strip(" .")
    return name[:150] or default


def content_disposition(name: str) -> str:
    """Return an RFC 6266 `attachment` header value: an ASCII fallback plus `filename*`."""
    clean = safe_filename(name)
    ascii_name = (
        unicodedata.normalize("NFKD", clean).encode("ascii", "ignore").decode().strip()
    )
    ascii_name = ascii_name.replace("%", "_") or "artifact"
    value = f'attachment; filename="{ascii_name}"'
    if ascii_name != clean:
        value += f"; filename*=UTF-8''{quote(clean, safe='')}"
    return value
