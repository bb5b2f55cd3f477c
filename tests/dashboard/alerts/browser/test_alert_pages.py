"""A team admin sets alerts up in the browser: a channel, a rule scoped to a workspace, then
mutes it in place (HTMX swaps the mute section; the page is not reloaded)."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Page, expect

from dashboard.alerts.models import Channel, Condition, Rule
from tests.dashboard.factories import make_workspace_row
from tests.dashboard.support.browser import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_an_admin_adds_a_channel_and_a_rule_then_mutes_it_in_place(
    live_server: Any, page: Page, alice: Any, team_a: Any
) -> None:
    ws = make_workspace_row(team_a, name="Order Intake")
    refused: list[str] = []  # CSP violations (a missing favicon is no concern here)
    page.on(
        "console", lambda m: refused.append(m.text) if "Refused" in m.text else None
    )
    base = live_server.url
    log_in(page, base, "alice")

    page.goto(f"{base}/alerts/")
    expect(page.get_by_role("heading", name="Alerts of Team A")).to_be_visible()
    page.get_by_role("link", name="Channels and digest").click()
    page.get_by_label("Name").first.fill("Ops mail")
    page.get_by_label("Kind").select_option(Channel.Kind.EMAIL)
    page.get_by_label("Also send to").fill("ops@example.com")
    page.get_by_role("button", name="Add channel").click()
    expect(page.get_by_text("Channel Ops mail added.")).to_be_visible()

    page.get_by_role("link", name="Alert rules").click()
    page.get_by_role("button", name="New rule").click()
    page.get_by_label("Name").fill("Order Intake key")
    page.get_by_label("Condition").select_option(Condition.FAILURE_SPIKE)
    expect(page.get_by_label("N (more than this many)")).to_be_visible()
    page.get_by_label("Condition").select_option(Condition.KEY_REJECTED)
    # Only the fields the condition uses stay visible (static script, CSP-clean).
    expect(page.get_by_label("N (more than this many)")).to_be_hidden()
    expect(page.get_by_label("Only items matching this explorer filter")).to_be_hidden()
    page.get_by_label("Only this workspace").select_option(str(ws.pk))
    page.get_by_label("Ops mail").check()
    page.get_by_role("button", name="Save rule").click()
    expect(
        page.get_by_role("heading", name="Alert rule Order Intake key")
    ).to_be_visible()
    rule = Rule.objects.get(name="Order Intake key")
    assert rule.workspace_id == ws.pk and [c.name for c in rule.channels.all()] == [
        "Ops mail"
    ]

    page.evaluate("window.__notReloaded = true")
    page.locator("#mute select").select_option("240")
    page.locator("#mute").get_by_role("button", name="Apply").click()
    expect(page.locator("#mute")).to_contain_text("Muted until")
    assert page.evaluate("window.__notReloaded") is True
    rule.refresh_from_db()
    assert rule.is_muted()
    assert refused == []
