"""The sync under the faults of ECOSYSTEM.md §D2 that the other mirror tests do not produce:
F4 (read timeout / slow body), F7 (pagination loop), F16 (SQLite "database is locked": two
processes writing at once) and F20 (a Control Room call that never answers).

Each fault is real: the emulator sleeps or repeats a `next` token over loopback HTTP, a local
socket accepts and stays silent, a Celery worker subprocess writes while this process does.
"""

from __future__ import annotations

import inspect
import logging
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.db import connection, transaction

from dashboard.audit.models import AuditEvent
from dashboard.audit.services import record
from dashboard.mirror import conf
from dashboard.mirror.models import ITEM_ACTIVE_STATES, Process, SyncRun, WorkItem
from dashboard.mirror.services.sync import WorkspaceSync
from dashboard.mirror.services.syncruns import sync_request, sync_run_execute
from dashboard.workitems.models import SavedView
from dashboard.workspaces.models import Workspace
from dashboard.workspaces.services import build_client
from robocorp_api.client import ControlRoomClient
from robocorp_api.emulator import EmulatorServer
from tests.dashboard.factories import make_workspace_row
from tests.dashboard.mirror.helpers import (
    add_runs,
    assert_converged,
    mirror_items,
    truth_items,
)
from tests.dashboard.support.sync import full_sync
from tests.dashboard.support.workers import Worker, Workers, wait_until
from tests.dashboard.support.workspaces import workspace_on_emulator

pytestmark = [pytest.mark.emulator, pytest.mark.timeout(120)]

ITEMS_LIST = r"/work-items$"  # list GETs only, not /work-items/{id}


def execute(sync_run: SyncRun, **kwargs: Any) -> tuple[SyncRun, float]:
    """Run the SyncRun in-process as the task would; return it refreshed and the seconds taken."""
    started = time.monotonic()
    sync_run_execute(sync_run_id=sync_run.pk, **kwargs)
    sync_run.refresh_from_db()
    return sync_run, time.monotonic() - started


def assert_clean_error(sync_run: SyncRun, emu: EmulatorServer, *expected: str) -> None:
    assert sync_run.status == SyncRun.Status.FAILED, sync_run.error
    for text in expected:
        assert text in sync_run.error, sync_run.error
    assert "Traceback" not in sync_run.error and 'File "' not in sync_run.error
    assert emu.api_key not in sync_run.error


def assert_no_duplicates(workspace: Workspace) -> None:
    ids = WorkItem.objects.filter(workspace=workspace).values_list(
        "external_id", flat=True
    )
    assert [ext for ext, n in Counter(ids).items() if n > 1] == []


# --- F4: read timeout / slow body ----------------------------------------------------------


@pytest.mark.django_db
def test_a_list_get_slower_than_the_read_timeout_is_retried_and_the_sync_converges(
    emu, ws, caplog
):
    add_runs(emu, processes=2, runs=2, items=8)
    slow = emu.faults.add(
        kind="latency", latency_ms=1500, path=ITEMS_LIST, method="GET", times=2
    )
    caplog.set_level(logging.WARNING, logger="robocorp_api")
    with build_client(
        ws, timeout=(2, 0.3), backoff_base=0.01, backoff_max=0.05
    ) as client:
        WorkspaceSync(ws, client).run_full()
    assert slow.hits == 2
    retried = [
        r.getMessage() for r in caplog.records if "ReadTimedOut" in r.getMessage()
    ]
    assert len(retried) == 2 and all("GET" in m for m in retried), retried
    assert emu.api_key not in caplog.text
    assert_converged(emu, ws)
    assert_no_duplicates(ws)


@pytest.mark.django_db
def test_a_persistent_read_timeout_fails_the_sync_run_cleanly_and_the_next_sync_resumes(
    emu, ws, settings
):
    settings.WORKROOM_SYNC_READ_TIMEOUT = 0.3
    settings.WORKROOM_SYNC_CLIENT_RETRIES = 1
    settings.WORKROOM_SYNC_RETRY_BASE = 0
    add_runs(emu, processes=2, runs=2, items=8)
    emu.faults.add(kind="latency", latency_ms=1000, path=ITEMS_LIST, method="GET")
    sync_run = sync_request(workspace=ws, trigger=SyncRun.Trigger.MANUAL)

    # First delivery: a transient error, so the task is told to retry; the error is recorded.
    outcome = sync_run_execute(sync_run_id=sync_run.pk, can_retry=True)
    assert outcome.retry_in is not None
    sync_run.refresh_from_db()
    assert sync_run.status == SyncRun.Status.QUEUED
    assert "no answer in time" in sync_run.error

    # The retry hits the same wall and has no retries left: the SyncRun fails, cleanly.
    sync_run, seconds = execute(sync_run, can_retry=False, retries=1)
    assert_clean_error(sync_run, emu, "no answer in time", "gave up after 1 retries")
    assert seconds < 5  # 2 attempts x 0.3 s, not the 30 s default
    assert sync_run.attempt == 2
    ws.refresh_from_db()
    assert not ws.needs_attention  # a slow server is not the key's fault
    # What the failed sync did before the item lists stays (it is resumed, not redone).
    assert Process.objects.filter(workspace=ws, gone_at__isnull=True).count() == 2

    emu.faults.clear()
    following, _ = execute(
        sync_request(workspace=ws, trigger=SyncRun.Trigger.MANUAL), can_retry=False
    )
    assert following.pk != sync_run.pk
    assert following.status == SyncRun.Status.SUCCEEDED, following.error
    assert_converged(emu, ws)
    assert_no_duplicates(ws)


# --- F7: pagination loop / repeated `next` token --------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("listing", [ITEMS_LIST, r"/process-runs$"])
def test_a_repeated_next_token_stops_the_sync_with_an_error_and_no_loop(
    emu, ws, settings, listing
):
    settings.WORKROOM_SYNC_PAGE_SIZE = 5
    add_runs(emu, processes=1, runs=2, items=12)
    full_sync(ws)
    before = mirror_items(ws)
    # New work: 8 runs (2 pages of runs) and 48 items (10 pages) to list.
    add_runs(emu, processes=2, runs=4, items=6)
    looping = emu.faults.add(kind="repeat_next", path=listing, method="GET")
    sync_run, seconds = execute(
        sync_request(workspace=ws, trigger=SyncRun.Trigger.MANUAL), can_retry=False
    )
    assert_clean_error(sync_run, emu, "pagination loop")
    # Detected at the first repeat: the page, the same page again, stop. Before the failed
    # list (the first with a second page), each active state's list is one page, no `next`.
    single_pages = len(ITEM_ACTIVE_STATES) if listing == ITEMS_LIST else 0
    assert looping.hits == single_pages + 2
    assert sync_run.requests_made < 20 and seconds < 10
    # The mirror is not corrupted: nothing marked gone, no duplicates, every row it holds
    # equals Control Room's, and the rows of the first sync are all still there.
    truth = truth_items(emu)
    mirrored = mirror_items(ws)
    assert WorkItem.objects.filter(workspace=ws, gone_at__isnull=False).count() == 0
    assert_no_duplicates(ws)
    assert {ext: truth[ext] for ext in mirrored} == mirrored
    assert before.keys() <= mirrored.keys()

    emu.faults.clear()
    following, _ = execute(
        sync_request(workspace=ws, trigger=SyncRun.Trigger.MANUAL), can_retry=False
    )
    assert following.status == SyncRun.Status.SUCCEEDED, following.error
    assert_converged(emu, ws)
    assert_no_duplicates(ws)


# --- F20: a call that never answers ---------------------------------------------------------


class SilentServer:
    """Accepts TCP connections on loopback and never reads or answers them."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        self.port: int = self.sock.getsockname()[1]
        self.accepted: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.accepted.append(conn)  # held open, silent

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        for conn in self.accepted:
            conn.close()
        self.sock.close()


@pytest.fixture
def silent_server() -> Iterator[SilentServer]:
    server = SilentServer()
    yield server
    server.close()


@pytest.mark.django_db
def test_a_hung_call_times_out_and_the_sync_fails_well_before_the_time_limit(
    team_a, emu, silent_server, settings
):
    settings.WORKROOM_SYNC_READ_TIMEOUT = 0.5
    settings.WORKROOM_SYNC_CLIENT_RETRIES = 1
    hung = make_workspace_row(
        team_a,
        name="Hung",
        api_key=emu.api_key,
        base_url=f"http://127.0.0.1:{silent_server.port}/api/v1",
        cr_workspace_id=emu.workspace_id,
    )
    sync_run, seconds = execute(
        sync_request(workspace=hung, trigger=SyncRun.Trigger.MANUAL), can_retry=False
    )
    assert_clean_error(sync_run, emu, "no answer in time", "gave up")
    assert len(silent_server.accepted) == 2  # connected (not refused) twice, no answer
    assert seconds < 5
    assert seconds < django_settings.CELERY_TASK_SOFT_TIME_LIMIT / 10
    hung.refresh_from_db()
    assert not hung.needs_attention


def test_with_the_default_timeouts_a_hung_call_gives_up_before_the_soft_time_limit():
    """The worst case of one call (every attempt waits the full timeouts, every backoff is
    the longest) ends inside the task's soft limit, so the client's timeout fires first."""
    defaults = inspect.signature(ControlRoomClient).parameters
    connect, read = conf.client_timeout()
    retries = conf.client_max_retries()
    worst = (retries + 1) * (connect + read) + retries * defaults["backoff_max"].default
    assert worst < django_settings.CELERY_TASK_SOFT_TIME_LIMIT
    assert django_settings.CELERY_TASK_SOFT_TIME_LIMIT < (
        django_settings.CELERY_TASK_TIME_LIMIT
    )


# --- F16: SQLite "database is locked" with two writing processes ----------------------------


@pytest.fixture
def start_worker(
    subprocess_env: dict[str, str], sync_queue: str, tmp_path: Path
) -> Iterator[Callable[..., Worker]]:
    env = {
        **subprocess_env,
        "DJANGO_SETTINGS_MODULE": "tests.dashboard.mirror.mirror_settings",
        "WORKROOM_SYNC_QUEUE": sync_queue,
        "WORKROOM_SYNC_RETRY_BASE": "0",
        "WORKROOM_SYNC_PAGE_SIZE": "500",
        "WORKROOM_SYNC_PROGRESS_EVERY": "0.1",
    }
    with Workers(queue=sync_queue, env=env, log_dir=tmp_path, name="faults") as workers:
        yield workers.start


def small_write(workspace: Workspace, n: int) -> None:
    """One short transaction of the kind the web process makes: read the mirror (what a bulk
    action matches), then write (its audit event, a saved view)."""
    with transaction.atomic():
        matching = WorkItem.objects.filter(workspace=workspace, state="failed").count()
        record(
            None,
            team=workspace.team,
            action="test.f16",
            summary=f"write {n}",
            data={"matching": matching},
        )
        view, _ = SavedView.objects.get_or_create(
            team=workspace.team, name=f"F16 view {n % 5}"
        )
        SavedView.objects.filter(pk=view.pk).update(query=f"state=failed&n={n}")


@pytest.mark.django_db(transaction=True)
@pytest.mark.worker
@pytest.mark.slow
def test_web_and_worker_writing_at_once_never_hit_database_is_locked(
    team_a, emulator_factory, start_worker
):
    if connection.vendor != "sqlite":
        pytest.skip("SQLite's single-writer lock; PostgreSQL has row locks")
    assert connection.settings_dict["OPTIONS"]["transaction_mode"] == "IMMEDIATE"
    emu = emulator_factory(seed="large:15000")
    emu.pause_robots()
    ws = workspace_on_emulator(emu, team_a, name="Busy WS")
    worker = start_worker()
    sync_run = sync_request(workspace=ws, trigger=SyncRun.Trigger.MANUAL)
    wait_until(lambda: SyncRun.objects.get(pk=sync_run.pk).rows_created > 0, timeout=20)
    writes = writes_while_running = 0
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        small_write(ws, writes)  # an OperationalError here fails the test
        writes += 1
        sync_run.refresh_from_db()
        if sync_run.status not in SyncRun.ACTIVE_STATUSES:
            break
        writes_while_running += 1
    # On a loaded machine the sync may outlast the write loop: let it finish.
    wait_until(
        lambda: (
            SyncRun.objects.get(pk=sync_run.pk).status not in SyncRun.ACTIVE_STATUSES
        ),
        timeout=120,
    )
    sync_run.refresh_from_db()
    assert sync_run.status == SyncRun.Status.SUCCEEDED, (
        sync_run.error,
        worker.output()[-3000:],
    )
    # The worker never met a lock either: no retry, no error, nothing in its log.
    assert sync_run.attempt == 1 and sync_run.error == ""
    log = worker.output()
    assert "OperationalError" not in log and "database is locked" not in log
    assert writes_while_running >= 20, "the two processes barely overlapped"
    assert AuditEvent.objects.filter(action="test.f16").count() == writes
    assert WorkItem.objects.filter(workspace=ws).count() == 15000
    assert_no_duplicates(ws)
