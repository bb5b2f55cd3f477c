"""A team admin writes "retry HTTP_ERROR in Order Intake up to 3 times, 5 and 30 minutes
apart", sees in the dry run what it would have done, saves and enables it; the explorer then
says when the policy will retry each failed item."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from dashboard.policies.models import RetryPolicy
from tests.dashboard.mirror.test_occurrences import retry_all
from tests.dashboard.policies.conftest import seed_outage
from tests.dashboard.support.browser import loaded, log_in
from tests.dashboard.support.sync import full_sync

pytestmark = [
    pytest.mark.browser,
    pytest.mark.emulator,
    pytest.mark.django_db(transaction=True),
]


def test_admin_dry_runs_saves_and_enables_a_policy(
    live_server: Any, page: Page, ws: Any, emu: Any, bob: Any, team_a: Any
) -> None:
    seed_outage(emu, 3, retry_failure_rate=1.0)
    full_sync(ws)
    retry_all(ws, bob)  # last week someone retried them by hand; they failed again
    emu.advance(3600)
    full_sync(ws)
    base = live_server.url
    console: list[str] = []
    page.on("console", lambda message: console.append(message.text))
    log_in(page, base, "alice", then=loaded)

    page.goto(f"{base}/policies/")
    page.get_by_role("button", name="New policy").or_(
        page.get_by_role("link", name="New policy")
    ).click()
    page.get_by_label("Name", exact=True).fill("ERP outages")
    page.get_by_label("Processes", exact=True).fill("Order Intake")
    page.get_by_label("Exception codes", exact=True).fill("HTTP_ERROR")
    page.get_by_label("Wait before each attempt (minutes)").fill("5, 30")
    page.get_by_label("Max attempts", exact=True).fill("3")
    form_url = page.url
    page.get_by_role("button", name="Dry run").click()
    dry_run = page.locator("#dry-run")
    expect(dry_run).to_contain_text("It would have retried 3 items")
    expect(dry_run).to_contain_text("6 retries")
    assert page.url == form_url  # swapped in place, nothing saved
    assert not RetryPolicy.objects.exists()

    page.get_by_role("button", name="Save").click()
    expect(
        page.get_by_role("heading", name=re.compile("Retry policy ERP outages"))
    ).to_be_visible()
    page.get_by_role("button", name="Enable").click()
    expect(page.get_by_text("Enabled by alice.").first).to_be_visible()

    page.goto(f"{base}/items/?state=failed")
    expect(
        page.get_by_text(re.compile(r"policy ERP outages will retry"))
    ).to_have_count(3)
    assert not [text for text in console if "Content Security Policy" in text]
