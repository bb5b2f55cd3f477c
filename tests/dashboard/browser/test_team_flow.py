"""An admin connects a workspace and invites a viewer, who cannot reach the admin pages."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from dashboard.accounts.models import Membership, Role
from dashboard.accounts.services import create_team
from tests.dashboard.factories import PASSWORD, make_user
from tests.dashboard.support.browser import log_in

pytestmark = [
    pytest.mark.browser,
    pytest.mark.emulator,
    pytest.mark.django_db(transaction=True),
]


def _sees_your_teams(page: Page) -> None:
    expect(
        page.get_by_role("heading", name="Your teams").or_(
            page.get_by_text("Your teams")
        )
    ).to_be_visible()


def test_admin_adds_workspace_and_invites_a_viewer(
    live_server: Any, page: Page, browser: Browser, emu: Any
) -> None:
    base = live_server.url
    admin = make_user("ada")
    team = create_team(admin, "Browser team")

    log_in(page, base, "ada", then=_sees_your_teams)
    page.get_by_role("link", name="Browser team").click()
    page.get_by_role("link", name="Workspaces").click()
    page.get_by_role("button", name="Add workspace").click()  # an <a role=button>

    page.get_by_label("Name").fill("Emulated workspace")
    page.get_by_label("Custom URL").check()
    page.get_by_label("Custom API URL").fill(emu.api_base_url)
    page.get_by_label("Workspace id").fill(emu.workspace_id)
    page.get_by_label("API key").fill(emu.api_key)
    page.get_by_label("Your Workroom password").fill(PASSWORD)
    page.get_by_role("button", name="Verify and save").click()

    table = page.locator("#permission-table")
    expect(table).to_be_visible()
    expect(table.locator('tr[data-feature="read_items"]')).to_contain_text("✓")
    expect(table.locator('tr[data-feature="start_stop"]')).to_contain_text("✓")
    expect(page.get_by_text(f"••••{emu.api_key[-4:]}")).to_be_visible()
    assert emu.api_key not in page.content()

    page.goto(f"{base}/teams/{team.slug}/")
    page.get_by_role("link", name="Manage members").click()
    page.get_by_label("Role of the invited person").select_option(label="Viewer")
    page.get_by_role(
        "button", name="Create invitation link"
    ).click()  # htmx swap of #invitations
    link_input = page.locator("#invitation-link")
    expect(link_input).to_be_visible()
    link = link_input.input_value()
    assert link.startswith(f"{base}/invitations/")

    viewer_context = browser.new_context()
    try:
        viewer = viewer_context.new_page()
        viewer.goto(link)
        expect(viewer.get_by_text("Browser team").first).to_be_visible()
        viewer.locator("#id_register-username").fill("vic")
        viewer.locator("#id_register-password1").fill(PASSWORD)
        viewer.locator("#id_register-password2").fill(PASSWORD)
        viewer.get_by_role("button", name="Create account and join").click()
        expect(
            viewer.get_by_text("Welcome to Browser team: you are viewer.")
        ).to_be_visible()
        expect(viewer.get_by_role("link", name="Manage members")).to_have_count(0)
        expect(viewer.get_by_role("link", name="Audit log")).to_have_count(0)

        viewer.get_by_role("link", name="Emulated workspace").first.click()
        expect(viewer.locator("#permission-table")).to_be_visible()
        expect(viewer.get_by_role("link", name="Replace key")).to_have_count(0)

        for path in (
            f"/teams/{team.slug}/members/",
            f"/teams/{team.slug}/audit/",
            f"/teams/{team.slug}/workspaces/new/",
        ):
            response = viewer.goto(f"{base}{path}")
            assert response is not None and response.status == 403, path
    finally:
        viewer_context.close()

    assert Membership.objects.get(team=team, user__username="vic").role == Role.VIEWER
