"""The main menu: every section is linked, and the current one is marked with aria-current."""

from __future__ import annotations

import re
from typing import Any

import pytest

from dashboard.core.templatetags.nav import section_for
from tests.dashboard.factories import make_workspace_row

NAV_LINKS = {
    "Home": "/",
    "Work items": "/items/",
    "Triage": "/items/triage/",
    "Processes": "/processes/",
    "Runs": "/runs/",
    "Bulk operations": "/bulk/",
    "Alerts": "/alerts/",
    "Policies": "/policies/",
    "Workers": "/workers/",
}


@pytest.mark.parametrize(
    ("url_name", "section"),
    [
        ("home", "home"),
        ("accounts-team-detail", "home"),
        ("workspaces-detail", "home"),
        ("mirror-workspace-overview", "home"),
        ("workitems-item-list", "items"),
        ("workitems-item-detail", "items"),
        ("workitems-triage", "triage"),
        ("processes-overview", "processes"),
        ("processes-workspace", "processes"),
        ("processes-run-list", "runs"),
        ("processes-steprun-detail", "runs"),
        ("bulk-detail", "bulk"),
        ("alerts-rule-detail", "alerts"),
        ("policies-detail", "policies"),
        ("fleet-workers", "fleet"),
        ("fleet-packages", "fleet"),
        ("fleet-workspace-workers", "fleet"),
        ("api-tokens", "home"),
        ("login", ""),
        (None, ""),
    ],
)
def test_section_of_each_page(url_name: str | None, section: str) -> None:
    assert section_for(url_name) == section


def _current(body: str) -> dict[str, str]:
    nav = body[body.index('aria-label="Main"') : body.index("</nav>")]
    return {
        label: mark
        for mark, label in re.findall(
            r'<a href="[^"]*" aria-current="(\w+)">([^<]+)</a>', nav
        )
    }


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("/", {"Home": "page"}),
        ("/items/", {"Work items": "page"}),
        ("/items/triage/", {"Triage": "page"}),
        ("/processes/", {"Processes": "page"}),
        ("/runs/", {"Runs": "page"}),
        ("/bulk/", {"Bulk operations": "page"}),
    ],
)
def test_current_section_is_marked(
    url: str, expected: dict[str, str], client_for: Any, alice: Any, team_a: Any
) -> None:
    body = client_for(alice).get(url).content.decode()
    for label, href in NAV_LINKS.items():
        assert f'<a href="{href}"' in body, label
    assert _current(body) == expected
    assert alice.get_username() in body  # the user's menu stays


@pytest.mark.django_db
def test_pages_inside_a_section_mark_it_without_claiming_to_be_it(
    client_for: Any, alice: Any, team_a: Any
) -> None:
    body = client_for(alice).get(f"/teams/{team_a.slug}/").content.decode()
    assert _current(body) == {"Home": "true"}
    ws = make_workspace_row(team_a)
    body = client_for(alice).get(f"/workspaces/{ws.pk}/workers/").content.decode()
    assert _current(body) == {"Workers": "true"}


def test_anonymous_visitors_get_no_menu(client: Any, db: None) -> None:
    body = client.get("/login/").content.decode()
    assert 'href="/items/"' not in body and "Log in" in body
