"""Browser: an operator opens Insights from the nav, sees the charts drawn from the rollups
of a synced workspace, opens a chart's numbers, changes the period and downloads a CSV."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from dashboard.accounts.models import Role
from dashboard.accounts.services import create_team
from dashboard.insights.rollups import update_workspace
from tests.dashboard.factories import add_member, make_user
from tests.dashboard.support.browser import (  # noqa: F401 (the fixture)
    axe_violations,
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


def test_insights_chart_table_period_and_csv(
    live_server: Any, page: Page, emu: Any, tmp_path: Path
) -> None:
    admin, operator = make_user("ada"), make_user("otto")
    team = create_team(admin, "Ops")
    add_member(team, operator, Role.OPERATOR)
    ws = workspace_on_emulator(emu, team, name="Emulated", added_by=admin)
    proc = emu.store.add_process(
        "Refunds",
        steps=["Only"],
        item_seconds=20,
        failure_rate=0.4,
        exception=("business", "NO_IBAN", "Customer has no IBAN"),
    )
    emu.store.create_run(proc.id, payloads=[{"n": k} for k in range(20)])
    emu.advance(3600)
    full_sync(ws)
    assert update_workspace(ws.pk).updated
    base = live_server.url

    log_in(page, base, "otto", then=sees_your_teams)
    page.get_by_role("link", name="Insights").first.click()
    expect(page).to_have_url(re.compile(r"/insights/$"))
    chart = page.get_by_role(
        "img", name=re.compile("Work items done and failed per day")
    )
    expect(chart).to_be_visible()
    expect(page.locator("#throughput-chart rect.wr-done").first).to_be_attached()
    expect(page.locator("#throughput-table")).to_be_hidden()
    page.get_by_text("Show the numbers").click()
    expect(page.locator("#throughput-table")).to_be_visible()
    expect(page.locator("#codes-table")).to_contain_text("NO_IBAN")
    expect(
        page.get_by_role("img", name=re.compile("Failures per exception code"))
    ).to_be_visible()
    assert axe_violations(page) == []

    page.get_by_role("link", name="24 h").click()
    expect(page).to_have_url(re.compile(r"period=24h"))
    expect(page.get_by_role("img", name=re.compile("per hour"))).to_be_visible()
    with page.expect_download() as info:
        page.locator('a[href*="csv=throughput"]').first.click()
    path = tmp_path / "throughput.csv"
    info.value.save_as(path)
    rows = list(csv.reader(io.StringIO(path.read_text())))
    assert rows[0][:3] == ["bucket_start", "done", "failed"] and len(rows) == 25
    page_done = int(
        page.locator("#insights-totals dd").first.inner_text().replace(",", "")
    )
    assert sum(int(r[1]) for r in rows[1:]) == page_done > 0

    page.get_by_role("link", name="Refunds").first.click()
    expect(page.get_by_role("heading", name="Insights: Refunds")).to_be_visible()
    expect(page.locator("#value-form")).to_have_count(0)  # operators do not set values
