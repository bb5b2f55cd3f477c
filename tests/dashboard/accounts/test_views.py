"""Team pages: home, create, detail, members management, invitations."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import reverse

from dashboard.accounts import services
from dashboard.accounts.models import Invitation, Membership, Role, Team
from dashboard.audit.models import AuditEvent
from tests.dashboard.factories import PASSWORD, make_user

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


def test_home_lists_my_teams_with_role(client_for, team_a, team_b, bob):
    response = client_for(bob).get(reverse("home"))
    assert response.status_code == 200
    body = response.content.decode()
    assert "Team A" in body and "you are operator" in body
    assert "Team B" not in body


def test_it_creates_a_team(client_for, alice):
    response = client_for(alice).post(
        reverse("accounts-team-create"), {"name": "Night shift"}
    )
    team = Team.objects.get(name="Night shift")
    assert response.status_code == 302 and response["Location"] == reverse(
        "accounts-team-detail", args=[team.slug]
    )
    assert Membership.objects.get(team=team, user=alice).role == Role.ADMIN


def test_it_rejects_a_blank_team_name(client_for, alice):
    response = client_for(alice).post(reverse("accounts-team-create"), {"name": ""})
    assert (
        response.status_code == 200
        and "This field is required" in response.content.decode()
    )
    assert not Team.objects.exists()


def test_team_detail_shows_members_read_only_to_viewers(client_for, team_a, carol):
    response = client_for(carol).get(
        reverse("accounts-team-detail", args=[team_a.slug])
    )
    body = response.content.decode()
    assert response.status_code == 200 and "alice" in body and "bob" in body
    assert (
        "Manage members" not in body
        and reverse("accounts-team-members", args=[team_a.slug]) not in body
    )


def test_members_page_is_admin_only(client_for, team_a, alice, bob):
    url = reverse("accounts-team-members", args=[team_a.slug])
    assert client_for(bob).get(url).status_code == 403
    response = client_for(alice).get(url)
    assert (
        response.status_code == 200
        and "Create invitation link" in response.content.decode()
    )


def test_invitation_link_is_shown_once_and_works(client_for, team_a, alice):
    admin = client_for(alice)
    response = admin.post(
        reverse("accounts-invitation-create", args=[team_a.slug]), {"role": Role.VIEWER}
    )
    assert response.status_code == 200
    match = re.search(
        r'value="(http://testserver/invitations/[^"]+/)"', response.content.decode()
    )
    assert match is not None
    link = match.group(1)
    token = link.rstrip("/").rsplit("/", 1)[1]
    assert Invitation.objects.get().token_hash == services.hash_token(token)
    # Not repeated on the next visit.
    assert (
        token
        not in admin.get(
            reverse("accounts-team-members", args=[team_a.slug])
        ).content.decode()
    )

    newcomer = Client()
    page = newcomer.get(link)
    assert (
        page.status_code == 200
        and "Team A" in page.content.decode()
        and "viewer" in page.content.decode()
    )
    response = newcomer.post(
        link,
        {
            "action": "register",
            "register-username": "dave",
            "register-password1": PASSWORD,
            "register-password2": PASSWORD,
        },
    )
    assert response.status_code == 302 and response["Location"] == reverse(
        "accounts-team-detail", args=[team_a.slug]
    )
    assert (
        Membership.objects.get(team=team_a, user__username="dave").role == Role.VIEWER
    )
    assert newcomer.get(reverse("home")).status_code == 200  # logged in

    again = Client().get(link)
    assert again.status_code == 200 and "already been used" in again.content.decode()


def test_it_creates_the_invitation_row_via_htmx_partial(client_for, team_a, alice):
    response = client_for(alice).post(
        reverse("accounts-invitation-create", args=[team_a.slug]),
        {"role": Role.OPERATOR},
        **HTMX,
    )
    body = response.content.decode()
    assert response.status_code == 200 and body.lstrip().startswith(
        '<section id="invitations">'
    )
    assert "<html" not in body


def test_a_logged_in_user_accepts(client_for, team_a, alice, charlie):
    _, token = services.create_invitation(team_a, alice, Role.OPERATOR)
    url = reverse("accounts-invitation-accept", args=[token])
    response = client_for(charlie).post(url, {"action": "accept"})
    assert response.status_code == 302
    assert Membership.objects.get(team=team_a, user=charlie).role == Role.OPERATOR


def test_anonymous_accept_goes_to_login(team_a, alice):
    _, token = services.create_invitation(team_a, alice, Role.OPERATOR)
    url = reverse("accounts-invitation-accept", args=[token])
    response = Client().post(url, {"action": "accept"})
    assert response.status_code == 302 and response["Location"].startswith(
        reverse("login")
    )
    assert Invitation.objects.get().accepted_at is None


def test_registration_errors_create_nobody(team_a, alice):
    _, token = services.create_invitation(team_a, alice, Role.OPERATOR)
    url = reverse("accounts-invitation-accept", args=[token])
    response = Client().post(
        url,
        {
            "action": "register",
            "register-username": "eve",
            "register-password1": "x",
            "register-password2": "y",
        },
    )
    assert response.status_code == 400
    assert not Membership.objects.filter(user__username="eve").exists()


def test_expired_invitation_refuses_registration(team_a, alice, settings):
    invitation, token = services.create_invitation(team_a, alice, Role.OPERATOR)
    Invitation.objects.filter(pk=invitation.pk).update(expires_at=invitation.created_at)
    url = reverse("accounts-invitation-accept", args=[token])
    response = Client().post(
        url,
        {
            "action": "register",
            "register-username": "eve",
            "register-password1": PASSWORD,
            "register-password2": PASSWORD,
        },
    )
    assert response.status_code == 400 and "expired" in response.content.decode()
    assert not Membership.objects.filter(user__username="eve").exists()
    from django.contrib.auth import get_user_model

    assert not get_user_model().objects.filter(username="eve").exists()


def test_unknown_invitation_token_is_404(client_for, alice):
    assert (
        Client().get(reverse("accounts-invitation-accept", args=["nope"])).status_code
        == 404
    )


def test_revoke_invitation(client_for, team_a, alice):
    invitation, token = services.create_invitation(team_a, alice, Role.OPERATOR)
    response = client_for(alice).post(
        reverse("accounts-invitation-revoke", args=[team_a.slug, invitation.pk])
    )
    assert response.status_code == 302
    invitation.refresh_from_db()
    assert invitation.revoked_at is not None
    assert (
        "revoked"
        in Client()
        .get(reverse("accounts-invitation-accept", args=[token]))
        .content.decode()
    )


def test_role_change_via_htmx_returns_the_row(client_for, team_a, alice, bob):
    membership = Membership.objects.get(team=team_a, user=bob)
    response = client_for(alice).post(
        reverse("accounts-member-role", args=[team_a.slug, membership.pk]),
        {"role": Role.VIEWER},
        **HTMX,
    )
    body = response.content.decode()
    assert response.status_code == 200 and body.startswith(
        f'<tr id="member-{membership.pk}">'
    )
    assert '<option value="10" selected>' in body
    assert Membership.objects.get(pk=membership.pk).role == Role.VIEWER


def test_role_change_without_js_redirects(client_for, team_a, alice, bob):
    membership = Membership.objects.get(team=team_a, user=bob)
    response = client_for(alice).post(
        reverse("accounts-member-role", args=[team_a.slug, membership.pk]),
        {"role": Role.ADMIN},
    )
    assert response.status_code == 302
    assert Membership.objects.get(pk=membership.pk).role == Role.ADMIN


def test_last_admin_demotion_shows_a_clear_message(client_for, team_a, alice):
    membership = Membership.objects.get(team=team_a, user=alice)
    url = reverse("accounts-member-role", args=[team_a.slug, membership.pk])
    response = client_for(alice).post(url, {"role": Role.VIEWER}, **HTMX)
    assert "last admin" in response.content.decode()
    response = client_for(alice).post(url, {"role": Role.VIEWER}, follow=True)
    assert "last admin" in response.content.decode()
    assert Membership.objects.get(pk=membership.pk).role == Role.ADMIN


def test_invalid_role_is_refused(client_for, team_a, alice, bob):
    membership = Membership.objects.get(team=team_a, user=bob)
    response = client_for(alice).post(
        reverse("accounts-member-role", args=[team_a.slug, membership.pk]),
        {"role": "99"},
        **HTMX,
    )
    assert "Choose a valid role" in response.content.decode()
    assert Membership.objects.get(pk=membership.pk).role == Role.OPERATOR


def test_remove_member_via_htmx_empties_the_row(client_for, team_a, alice, carol):
    membership = Membership.objects.get(team=team_a, user=carol)
    response = client_for(alice).post(
        reverse("accounts-member-remove", args=[team_a.slug, membership.pk]), **HTMX
    )
    assert response.status_code == 200 and response.content == b""
    assert not Membership.objects.filter(pk=membership.pk).exists()
    assert AuditEvent.objects.filter(
        action="membership.removed", ip="127.0.0.1"
    ).exists()


def test_it_cannot_touch_another_teams_member(
    client_for, team_a, team_b, alice, charlie
):
    other = Membership.objects.get(team=team_b, user=charlie)
    # Alice is admin of team A, but the membership belongs to team B.
    response = client_for(alice).post(
        reverse("accounts-member-remove", args=[team_a.slug, other.pk])
    )
    assert response.status_code == 404
    assert Membership.objects.filter(pk=other.pk).exists()


def test_it_rejects_get_on_state_changes(client_for, team_a, alice, bob):
    membership = Membership.objects.get(team=team_a, user=bob)
    admin = client_for(alice)
    assert (
        admin.get(
            reverse("accounts-member-remove", args=[team_a.slug, membership.pk])
        ).status_code
        == 405
    )
    assert (
        admin.get(
            reverse("accounts-member-role", args=[team_a.slug, membership.pk])
        ).status_code
        == 405
    )
    assert (
        admin.get(reverse("accounts-invitation-create", args=[team_a.slug])).status_code
        == 405
    )


def test_new_user_without_teams_sees_create_prompt(client_for):
    response = client_for(make_user("loner")).get(reverse("home"))
    assert "not in any team yet" in response.content.decode()


def _queries(client: Client, url: str) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as ctx:
        assert client.get(url).status_code == 200
    return len(ctx.captured_queries)


def test_home_query_count_does_not_grow_with_teams(client_for):
    from tests.dashboard.factories import make_team, make_workspace_row

    user = make_user("busy")
    client = client_for(user)
    make_workspace_row(make_team(admin=user))
    baseline = _queries(client, reverse("home"))
    for _ in range(4):
        team = make_team(admin=user)
        make_workspace_row(team)
        make_workspace_row(team)
    assert _queries(client, reverse("home")) == baseline
