"""In a real browser: a worker taken offline in the emulator → the warning on the triage page →
the worker comes back → the items proceed; and a task package uploaded with the progress bar."""

from __future__ import annotations

import io
import re
import zipfile
from typing import Any

import pytest
import requests
from playwright.sync_api import Page, expect

from dashboard.accounts.models import Role
from dashboard.fleet.models import TaskPackage
from dashboard.mirror.models import WorkItem
from tests.dashboard.factories import add_member, make_team, make_user
from tests.dashboard.support.browser import (  # noqa: F401 - the fixture
    browser_type_launch_args,
    left_the_login_page,
    log_in,
)
from tests.dashboard.support.sync import full_sync
from tests.dashboard.support.workspaces import workspace_on_emulator

pytestmark = [
    pytest.mark.browser,
    pytest.mark.emulator,
    pytest.mark.django_db(transaction=True),
]


def _set_online(emu: Any, name: str, online: bool) -> None:
    answer = requests.post(
        f"{emu.url}/__emulator__/workers/{name}", json={"online": online}, timeout=5
    )
    assert answer.status_code == 200, answer.text


def test_offline_worker_warning_then_items_proceed(
    live_server: Any, page: Page, emu: Any, settings: Any
) -> None:
    settings.WORKROOM_SYNC_WORKERS_SECONDS = 0
    admin, operator = make_user("ada"), make_user("otto")
    team = make_team("Ops team", admin=admin)
    add_member(team, operator, Role.OPERATOR)
    workspace = workspace_on_emulator(emu, team, name="Production", added_by=admin)
    process = emu.store.add_process("Invoices", steps=["Post"], failure_rate=0.0)
    for name in ("worker-eu1-01", "worker-eu1-02"):
        _set_online(emu, name, False)
    emu.store.create_run(process.id, payloads=[{"invoice": n} for n in range(4)])
    emu.advance(60)
    full_sync(workspace)
    base = live_server.url

    log_in(page, base, "otto", then=left_the_login_page)
    page.goto(f"{base}/items/triage/")
    warning = page.locator(".no-worker-warning")
    expect(warning).to_contain_text("4 work items pending in Production")
    warning.get_by_role("link", name="Workers").click()
    expect(page.locator("#workers tr.worker-offline")).to_have_count(2)

    _set_online(emu, "worker-eu1-01", True)
    page.locator("#workers-refresh").click()
    expect(
        page.locator('#workers tr[data-worker="worker-eu1-01"] .badge')
    ).to_have_text(re.compile("idle|busy"))
    expect(page.locator("#workers tr.worker-offline")).to_have_count(1)

    emu.advance(120)
    full_sync(workspace)
    page.goto(f"{base}/items/triage/")
    expect(page.locator("h1")).to_be_visible()
    expect(page.locator(".no-worker-warning")).to_have_count(0)
    states = set(
        WorkItem.objects.filter(workspace=workspace).values_list("state", flat=True)
    )
    assert states == {"done"}


def test_a_task_package_uploads_with_progress(
    live_server: Any, page: Page, emu: Any, tmp_path: Any
) -> None:
    admin = make_user("ada")
    team = make_team("Ops team", admin=admin)
    workspace = workspace_on_emulator(emu, team, name="Production", added_by=admin)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as bundle:
        bundle.writestr("robot.yaml", "tasks: {}\n" * 20000)
    path = tmp_path / "robot.zip"
    path.write_bytes(buffer.getvalue())

    log_in(page, live_server.url, "ada", then=left_the_login_page)
    page.goto(f"{live_server.url}/workspaces/{workspace.pk}/task-packages/")
    page.get_by_label("Name").fill("invoice bot")
    page.get_by_label("Robot zip").set_input_files(str(path))
    page.get_by_role("button", name="Upload").click()
    expect(page.locator("#packages")).to_contain_text("invoice bot")
    expect(page.locator(".flash-success")).to_contain_text("uploaded")
    package = TaskPackage.objects.get(workspace=workspace)
    assert emu.store.fleet.packages[package.external_id].data == path.read_bytes()
