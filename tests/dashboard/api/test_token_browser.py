"""In the browser: a team admin makes a service token on the team's API tokens page (HTMX),
copies the value shown once, the token works against the API, and revoking it stops it."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from playwright.sync_api import Page, expect

from tests.dashboard.factories import make_team, make_user
from tests.dashboard.support.browser import (  # noqa: F401
    browser_type_launch_args,
    left_the_login_page,
    log_in,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_create_copy_use_and_revoke_a_token(live_server: Any, page: Page) -> None:
    admin = make_user("ada")
    team = make_team("Ops team", admin=admin)
    log_in(page, live_server.url, "ada", then=left_the_login_page)
    page.goto(f"{live_server.url}/teams/{team.slug}/")
    page.get_by_role("link", name="API tokens").click()
    page.fill("input[name=name]", "nightly-retry")
    page.select_option("select[name=kind]", "service")
    page.select_option("select[name=role]", "20")
    page.get_by_role("button", name="Create token").click()
    value_box = page.locator("#token-value")
    expect(value_box).to_be_visible()
    value = value_box.input_value()
    assert value.startswith("wr_")
    expect(page.locator("#tokens table")).to_contain_text("nightly-retry")

    api = f"{live_server.url}/api/teams"
    headers = {"Authorization": f"Bearer {value}"}
    assert (
        requests.get(api, headers=headers, timeout=10).json()[0]["role"] == "operator"
    )

    page.reload()
    expect(page.locator("#token-value")).to_have_count(0)  # shown once
    page.get_by_role("button", name="Revoke").click()
    expect(page.locator("#tokens table")).to_contain_text("revoked")
    assert requests.get(api, headers=headers, timeout=10).status_code == 401
