"""Browser: an operator starts a process with three payloads, watches the run progress live,
opens a failed step run's console and downloads an artifact (Playwright + system Chromium)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from dashboard.accounts.models import Role
from dashboard.accounts.services import create_team
from tests.dashboard.factories import add_member, make_user
from tests.dashboard.support.browser import (  # noqa: F401 (the fixture)
    browser_type_launch_args,
    log_in,
    sees_your_teams,
)
from tests.dashboard.support.sync import full_sync
from tests.dashboard.support.workspaces import workspace_on_emulator

pytestmark = [
    pytest.mark.browser,
    pytest.mark.emulator,
    pytest.mark.django_db(transaction=True),
]


def test_start_watch_console_and_download(
    live_server: Any, page: Page, emu: Any
) -> None:
    # emu's robots are paused: the test moves simulated time itself
    admin, operator = make_user("ada"), make_user("otto")
    team = create_team(admin, "Run desk")
    add_member(team, operator, Role.OPERATOR)
    ws = workspace_on_emulator(emu, team, name="Emulated", added_by=admin)
    proc = emu.store.add_process(
        "Refunds", steps=["Check", "Pay"], item_seconds=1.0, failure_rate=1.0
    )
    full_sync(ws)
    base = live_server.url

    log_in(page, base, "otto", then=sees_your_teams)
    page.goto(f"{base}/workspaces/{ws.pk}/processes/")
    page.locator(f'tr[data-process="{proc.id}"]').get_by_role(
        "button", name="Start…"
    ).click()
    expect(page.locator("#payloads")).to_be_hidden()  # folded until its choice is made
    page.get_by_label("Many payloads (a JSON array: one work item per element)").check()
    payloads = [{"refund": 1}, {"refund": 2}, {"refund": 3}]
    page.locator("#payloads").fill(json.dumps(payloads, indent=1))
    page.get_by_role("button", name="Review…").click()
    expect(page.locator("#payload-count")).to_contain_text(
        "3 work items will be created"
    )
    assert emu.store.runs == []
    page.get_by_role("button", name="Start run").click()

    expect(page.get_by_text("Started a run of Refunds.")).to_be_visible()
    run = emu.store.runs[-1]
    assert page.url.endswith(f"/workspaces/{ws.pk}/runs/{run.id}/")
    assert sorted(emu.store.item_payload(r)["refund"] for r in run.items) == [1, 2, 3]
    state = page.locator("#run-state")
    expect(state).to_have_text("new")

    emu.advance(3)  # the run starts; the page notices on its next poll
    expect(state).to_have_text("in progress", timeout=10_000)
    emu.advance(3600)
    expect(state).to_have_text("unresolved", timeout=10_000)
    expect(page.locator("#status")).not_to_have_attribute("hx-trigger", "every 2s")
    expect(page.locator('#item-counts [data-state="failed"]')).to_have_text("failed: 3")

    failed_row = page.locator("#step-runs tr.wr-has-failures").first
    failed_row.get_by_role("link", name="Console, events, artifacts").click()
    console = page.locator("#console")
    expect(console).to_contain_text("ERROR")
    page.get_by_role("link", name="Newest first").click()
    expect(console.locator("li").first).to_contain_text("Step run completed")

    step_id = page.locator("#step-run-id").inner_text()
    step = emu.store.step_runs[emu.store.step_run_by_id[step_id]]
    expected = {a.name: a.data for a in step.artifacts}
    with page.expect_download() as info:
        page.get_by_role("link", name="output.log").click()
    download = info.value
    assert download.suggested_filename == "output.log"
    assert Path(download.path()).read_bytes() == expected["output.log"]
