"""Every view of accounts, audit, workspaces, policies, insights and home, for every role → the expected status.

anonymous → redirect to login; a member of another team → 404; a member below the needed
role → 403; allowed → 200/302 (400 for a deliberately empty form: allowed, but invalid).
`test_the_matrix_covers_every_view` fails when a new URL pattern is not listed here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from dashboard.accounts import services as account_services
from dashboard.accounts.models import Membership, Role
from dashboard.audit.services import Actor
from dashboard.policies.models import RetryPolicy
from dashboard.workitems import undo
from tests.dashboard.factories import add_member, make_user, make_workspace_row
from tests.dashboard.workitems.conftest import make_items, make_process

pytestmark = pytest.mark.django_db

ROLES = ("anonymous", "viewer", "operator", "admin", "other_admin")
APPS = (
    "dashboard.accounts.",
    "dashboard.audit.",
    "dashboard.workspaces.",
    "dashboard.home.",
    "dashboard.policies.",
    "dashboard.insights.",
    "dashboard.workitems.collab_views",
)
LOGIN = "login"


@dataclass(frozen=True)
class Case:
    name: str
    method: str
    kwargs: str  # which object the URL points at (see _kwargs)
    expect: dict[str, int]
    data: tuple[tuple[str, str], ...] = ()


def member_read(ok: int = 200) -> dict[str, int]:
    return {
        "anonymous": 302,
        "viewer": ok,
        "operator": ok,
        "admin": ok,
        "other_admin": 404,
    }


def admin_only(ok: int = 200) -> dict[str, int]:
    return {
        "anonymous": 302,
        "viewer": 403,
        "operator": 403,
        "admin": ok,
        "other_admin": 404,
    }


def operator_up(ok: int = 302) -> dict[str, int]:
    return {
        "anonymous": 302,
        "viewer": 403,
        "operator": ok,
        "admin": ok,
        "other_admin": 404,
    }


def any_user(ok: int = 200) -> dict[str, int]:
    return dict.fromkeys(ROLES, ok) | {"anonymous": 302}


CASES = [
    Case("home", "GET", "none", any_user()),
    Case("accounts-team-create", "GET", "none", any_user()),
    Case(
        "accounts-team-create", "POST", "none", any_user(302), (("name", "New team"),)
    ),
    Case("accounts-team-detail", "GET", "team", member_read()),
    Case("accounts-team-members", "GET", "team", admin_only()),
    Case(
        "accounts-team-time-zone",
        "POST",
        "team",
        admin_only(302),
        (("time_zone", "Europe/Helsinki"),),
    ),
    Case("accounts-preferences", "GET", "none", any_user()),
    Case(
        "accounts-preferences",
        "POST",
        "none",
        any_user(302),
        (("time_zone", "Asia/Tokyo"),),
    ),
    Case("accounts-member-role", "POST", "member", admin_only(302), (("role", "10"),)),
    Case("accounts-member-remove", "POST", "member", admin_only(302)),
    Case(
        "accounts-invitation-create", "POST", "team", admin_only(200), (("role", "10"),)
    ),
    Case("accounts-invitation-revoke", "POST", "invitation", admin_only(302)),
    # Public by token: anyone may look; members are told they already belong.
    Case("accounts-invitation-accept", "GET", "token", dict.fromkeys(ROLES, 200)),
    Case(
        "accounts-invitation-accept",
        "POST",
        "token",
        {
            "anonymous": 302,
            "viewer": 400,
            "operator": 400,
            "admin": 400,
            "other_admin": 302,
        },
        (("action", "accept"),),
    ),
    Case("workspaces-list", "GET", "team", member_read()),
    Case("workspaces-add", "GET", "team", admin_only()),
    Case("workspaces-add", "POST", "team", admin_only(400)),
    Case("workspaces-detail", "GET", "workspace", member_read()),
    Case("workspaces-replace-key", "GET", "workspace", admin_only()),
    Case("workspaces-replace-key", "POST", "workspace", admin_only(400)),
    Case(
        "workspaces-set-enabled",
        "POST",
        "workspace",
        admin_only(302),
        (("enabled", "0"),),
    ),
    Case("workspaces-reprobe", "POST", "workspace", admin_only(302)),
    Case("workspaces-delete", "GET", "workspace", admin_only()),
    Case("workspaces-delete", "POST", "workspace", admin_only(302)),
    Case("audit-event-list", "GET", "team", admin_only()),
    Case("insights-overview", "GET", "none", any_user()),
    Case("insights-workspace", "GET", "workspace", member_read()),
    Case("insights-process", "GET", "process", member_read()),
    Case(
        "insights-process-value",
        "POST",
        "process",
        admin_only(302),
        (("value_per_item", "3.50"), ("sla_hours", "8")),
    ),
    Case("policies-list", "GET", "none", any_user()),
    Case("policies-new", "GET", "team", admin_only()),
    Case("policies-new", "POST", "team", admin_only(400)),
    Case("policies-detail", "GET", "policy", member_read()),
    Case("policies-edit", "GET", "policy", admin_only()),
    Case("policies-edit", "POST", "policy", admin_only(400)),
    Case("policies-state", "POST", "policy", admin_only(302)),
    # Working on failures together: members read, operators change (the service checks
    # again when the change happens).
    Case("workitems-item-collab", "GET", "item", member_read()),
    Case("workitems-item-owner", "POST", "item", operator_up(), (("do", "claim"),)),
    Case(
        "workitems-item-review",
        "POST",
        "item",
        operator_up(),
        (("review_status", "in_review"),),
    ),
    Case("workitems-item-snooze", "POST", "item", operator_up(), (("next_run", "1"),)),
    Case("workitems-item-comment", "POST", "item", operator_up(), (("body", "hi"),)),
    Case("workitems-item-payload-history", "GET", "item", member_read()),
    Case(
        "workitems-item-payload-revert",
        "POST",
        "item",
        operator_up(),
        (("version", "0"),),
    ),
    Case("workitems-group", "POST", "none", operator_up(), (("do", "claim"),)),
    # Ticked rows out of the actor's scope are ignored, so every signed-in user gets the
    # explorer back (a viewer's claim is refused by the service, with a message).
    Case("workitems-items-owner", "POST", "none", any_user(302), (("do", "claim"),)),
    Case("workitems-pending-undo", "POST", "pending", operator_up()),
    Case("workitems-notifications", "GET", "none", any_user()),
    Case("workitems-notifications", "POST", "none", any_user(302)),
]


@pytest.fixture
def world(
    team_a: Any, team_b: Any, alice: Any, bob: Any, carol: Any, charlie: Any
) -> dict[str, Any]:
    zed = make_user("zed")
    member = add_member(team_a, zed, Role.OPERATOR)
    invitation, token = account_services.create_invitation(team_a, alice, Role.VIEWER)
    # A closed port: re-probing fails fast with a stored error, which is still a 302.
    workspace = make_workspace_row(team_a, base_url="http://127.0.0.1:9/api/v1")
    policy = RetryPolicy.objects.create(team=team_a, name="P", backoff_minutes=[1])
    process = make_process(workspace)
    [item] = make_items(process, 1, state="failed")
    pending = undo.hold("mark_as_done", [item], Actor.of(bob))
    users = {
        "anonymous": None,
        "viewer": carol,
        "operator": bob,
        "admin": alice,
        "other_admin": charlie,
    }
    return {
        "users": users,
        "kwargs": {
            "none": {},
            "team": {"team_slug": team_a.slug},
            "member": {"team_slug": team_a.slug, "membership_id": member.pk},
            "invitation": {"team_slug": team_a.slug, "invitation_id": invitation.pk},
            "token": {"token": token},
            "workspace": {"workspace_id": workspace.pk},
            "process": {
                "workspace_id": workspace.pk,
                "process_id": process.external_id,
            },
            "policy": {"policy_id": policy.pk},
            "item": {"item_id": item.pk},
            "pending": {"pending_id": pending.pk},
        },
        "group_workspace": workspace.pk,
    }


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.method}-{c.name}")
def test_permission_matrix(case: Case, role: str, world: dict[str, Any]) -> None:
    client = Client()
    user = world["users"][role]
    if user is not None:
        client.force_login(user)
    url = reverse(case.name, kwargs=world["kwargs"][case.kwargs])
    data = case.data
    if case.name == "workitems-group":  # names its group in the form
        data += (("workspace", str(world["group_workspace"])),)
    response = client.generic(
        case.method,
        url,
        data="&".join(f"{k}={v}" for k, v in data),
        content_type="application/x-www-form-urlencoded",
    )
    expected = case.expect[role]
    assert response.status_code == expected, f"{role} {case.method} {url}"
    if (
        role == "anonymous"
        and expected == 302
        and case.name != "accounts-invitation-accept"
    ):
        assert response["Location"].startswith(reverse(LOGIN))


def _app_url_names(patterns: list[Any]) -> set[str]:
    names: set[str] = set()
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            names |= _app_url_names(pattern.url_patterns)
        elif isinstance(pattern, URLPattern) and pattern.callback.__module__.startswith(
            APPS
        ):
            assert pattern.name, f"unnamed URL pattern {pattern}"
            names.add(pattern.name)
    return names


def test_the_matrix_covers_every_view() -> None:
    listed = {case.name for case in CASES}
    assert _app_url_names(get_resolver().url_patterns) == listed


def test_the_matrix_covers_every_method_each_view_accepts(
    world: dict[str, Any],
) -> None:
    """A method missing from the matrix must be refused (405) by the view."""
    admin = Client()
    admin.force_login(world["users"]["admin"])
    listed = {(case.name, case.method) for case in CASES}
    for name in {case.name for case in CASES}:
        kwargs_key = next(c.kwargs for c in CASES if c.name == name)
        url = reverse(name, kwargs=world["kwargs"][kwargs_key])
        for method in ("GET", "POST"):
            if (name, method) not in listed:
                assert admin.generic(method, url).status_code == 405, f"{method} {name}"


def test_other_teams_objects_are_404_even_with_the_right_role(
    world: dict[str, Any], team_b: Any
) -> None:
    """Charlie is admin of team B: team A's member ids addressed under team B are still 404."""
    client = Client()
    client.force_login(world["users"]["other_admin"])
    member_id = world["kwargs"]["member"]["membership_id"]
    url = reverse(
        "accounts-member-remove",
        kwargs={"team_slug": team_b.slug, "membership_id": member_id},
    )
    assert client.post(url).status_code == 404
    assert Membership.objects.filter(pk=member_id).exists()
