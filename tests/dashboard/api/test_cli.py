"""The `workroom` command run as a subprocess (its console script) against a live test server
backed by the emulator, with a real Celery worker sending the bulk chunks."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from dashboard.accounts.models import Role
from dashboard.api.models import ApiToken
from dashboard.audit.models import AuditEvent
from dashboard.bulk.models import BulkOperation
from dashboard.mirror.models import WorkItem
from tests.dashboard.bulk.conftest import (  # noqa: F401
    bulk_queue,
    spy,
    start_worker,
    tuned,
)
from tests.dashboard.support.sync import full_sync

pytestmark = [pytest.mark.emulator, pytest.mark.slow]

WORKROOM = str(Path(sys.executable).parent / "workroom")


@pytest.fixture
def seeded(ws: Any, emu: Any) -> Any:
    """A process whose 40 items all failed with application errors (HTTP_ERROR among them)."""
    process = emu.store.add_process(
        "Order Intake SAP",
        steps=["Only"],
        item_seconds=0.01,
        failure_rate=1.0,
        failure_mix=(0.0, 1.0, 0.0),
    )
    emu.store.create_run(process.id, payloads=[{"n": k} for k in range(40)])
    emu.advance(3600)
    full_sync(ws)
    return process


def workroom(
    live_server: Any, token: str, *args: str, stdin: str = "", tmp_path: Path
) -> subprocess.CompletedProcess[str]:
    env = {
        "WORKROOM_URL": live_server.url,
        "WORKROOM_TOKEN": token,
        "PATH": "/usr/bin:/bin",
        "XDG_CONFIG_HOME": str(tmp_path),  # no config file of the machine's user
    }
    return subprocess.run(
        [WORKROOM, *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_done_when_a_nightly_job_retries_a_group_with_an_operator_token(
    transactional_db,
    live_server,
    seeded,
    ws,
    team_a,
    alice,
    make_token,
    start_worker,  # noqa: F811
    spy,  # noqa: F811
    tmp_path,
):
    http_errors = set(
        WorkItem.objects.filter(
            workspace=ws, state="failed", exception_code="HTTP_ERROR"
        ).values_list("external_id", flat=True)
    )
    assert http_errors, "the seed must hold HTTP_ERROR failures"
    token = make_token(team_a, alice, Role.OPERATOR, name="nightly-retry")
    start_worker()

    done = workroom(
        live_server,
        token,
        "items",
        "retry",
        "--process",
        "Order Intake SAP",
        "--code",
        "HTTP_ERROR",
        "--yes",
        "--wait",
        tmp_path=tmp_path,
    )

    assert done.returncode == 0, done.stderr
    assert f"retry {len(http_errors)} item(s)" in done.stdout
    op = BulkOperation.objects.get()
    principal = ApiToken.objects.get(name="nightly-retry").principal
    assert op.created_by == principal
    assert op.state == BulkOperation.State.SUCCEEDED
    assert op.done_count == len(http_errors)
    # Control Room got each item of that group once; the mirror shows it pending, the other
    # failures untouched.
    assert len(spy.per_row("retry")) == len(http_errors)
    assert set(spy.per_row("retry").values()) == {1}
    pending = set(
        WorkItem.objects.filter(workspace=ws, state="pending").values_list(
            "external_id", flat=True
        )
    )
    assert pending == http_errors
    assert WorkItem.objects.filter(workspace=ws, state="failed").count() == 40 - len(
        http_errors
    )
    # The audit log names the token: the confirm (with its reason) and the end.
    events = AuditEvent.objects.filter(team=team_a, action__startswith="bulk.retry")
    assert sorted(events.values_list("action", "actor_label")) == [
        ("bulk.retry.confirmed", principal.username),
        ("bulk.retry.finished", principal.username),
    ]
    assert principal.username.startswith("token nightly-retry (wr_")


def test_a_viewer_token_cannot_retry_and_says_why(
    transactional_db, live_server, seeded, team_a, alice, make_token, tmp_path
):
    token = make_token(team_a, alice, Role.VIEWER, name="reader")
    done = workroom(
        live_server, token, "items", "retry", "--process", "Order Intake SAP", "--yes",
        tmp_path=tmp_path,
    )  # fmt: skip
    assert done.returncode == 3
    assert done.stderr.strip() == (
        "workroom: error: The token reader is a viewer token: it can read, not act."
    )
    assert not BulkOperation.objects.exists()


def test_declining_the_prompt_sends_nothing(
    transactional_db, live_server, seeded, team_a, alice, make_token, tmp_path
):
    token = make_token(team_a, alice)
    done = workroom(
        live_server, token, "items", "retry", "--process", "Order Intake SAP",
        stdin="n\n", tmp_path=tmp_path,
    )  # fmt: skip
    assert done.returncode == 5
    assert "Retry 40 item(s)? [y/N]" in done.stdout
    assert BulkOperation.objects.get().state == BulkOperation.State.DRAFT


def test_items_list_as_csv_and_json(
    transactional_db, live_server, seeded, team_a, alice, make_token, tmp_path
):
    token = make_token(team_a, alice, Role.VIEWER)
    as_csv = workroom(
        live_server, token, "items", "list", "--state", "failed", "--process",
        "Order Intake SAP", "--csv", tmp_path=tmp_path,
    )  # fmt: skip
    assert as_csv.returncode == 0, as_csv.stderr
    rows = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    assert len(rows) == 40 and {r["state"] for r in rows} == {"failed"}
    as_json = workroom(
        live_server, token, "items", "list", "--code", "HTTP_ERROR", "--json",
        tmp_path=tmp_path,
    )  # fmt: skip
    found = json.loads(as_json.stdout)
    assert {r["exception_code"] for r in found} == {"HTTP_ERROR"}


def test_errors_are_one_line_with_documented_exit_codes(
    transactional_db, live_server, seeded, team_a, alice, make_token, tmp_path
):
    token = make_token(team_a, alice)
    unknown = workroom(
        live_server, token, "items", "list", "--process", "No Such", tmp_path=tmp_path
    )
    assert unknown.returncode == 2
    assert unknown.stderr == "workroom: error: no process named 'No Such'\n"
    bad_token = workroom(live_server, "wr_x_y", "catalogue", tmp_path=tmp_path)
    assert bad_token.returncode == 3
    assert bad_token.stderr.count("\n") == 1
    missing = workroom(live_server, token, "bulk", "watch", "999999", tmp_path=tmp_path)
    assert missing.returncode == 4
    assert missing.stderr == "workroom: error: No such bulk operation.\n"


def test_catalogue_lists_the_actions(
    transactional_db, live_server, team_a, alice, make_token, tmp_path
):
    token = make_token(team_a, alice, Role.VIEWER)
    done = workroom(live_server, token, "catalogue", tmp_path=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "preview_bulk_action" in done.stdout and "retry_work_item" in done.stdout
