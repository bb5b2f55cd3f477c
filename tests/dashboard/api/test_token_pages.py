"""The team's API tokens page: create (value shown once, HTMX swaps the section), revoke,
who sees which tokens, and the value never reaching a log or a later page."""

from __future__ import annotations

import logging

import pytest

from dashboard.accounts.models import Membership, Role
from dashboard.api.models import ApiToken
from dashboard.audit.models import AuditEvent


def url(team):
    return f"/teams/{team.slug}/tokens/"


def test_an_admin_creates_a_service_token_and_sees_it_once(
    team_a, alice, client_for, caplog
):
    client = client_for(alice)
    caplog.set_level(logging.DEBUG)
    created = client.post(
        url(team_a),
        {"name": "nightly-retry", "kind": "service", "role": Role.OPERATOR},
        headers={"HX-Request": "true"},
    )
    assert created.status_code == 201
    token = ApiToken.objects.get()
    body = created.content.decode()
    assert 'id="tokens"' in body and "<html" not in body  # the partial only
    value = body.split('id="token-value" type="text" readonly value="')[1].split('"')[0]
    assert value.startswith(f"wr_{token.prefix}_")
    assert value not in caplog.text
    later = client.get(url(team_a)).content.decode()
    assert value not in later and "nightly-retry" in later and "never" in later
    assert token.kind == "service" and token.role == Role.OPERATOR


def test_a_viewer_makes_personal_viewer_tokens_only(team_a, carol, client_for):
    client = client_for(carol)
    refused = client.post(
        url(team_a), {"name": "mine", "kind": "personal", "role": Role.OPERATOR}
    )
    assert refused.status_code == 400
    assert "higher role than yours" in refused.content.decode()
    service = client.post(
        url(team_a), {"name": "svc", "kind": "service", "role": Role.VIEWER}
    )
    assert service.status_code == 400
    ok = client.post(url(team_a), {"name": "mine", "kind": "personal", "role": 10})
    assert ok.status_code == 201
    assert not Membership.objects.filter(
        team=team_a, role__gt=Role.VIEWER, user__api_token__isnull=False
    ).exists()


def test_members_see_their_own_tokens_admins_see_all(
    team_a, alice, bob, carol, client_for
):
    client_for(bob).post(url(team_a), {"name": "bobs", "kind": "personal", "role": 20})
    client_for(carol).post(
        url(team_a), {"name": "carols", "kind": "personal", "role": 10}
    )
    assert "carols" not in client_for(bob).get(url(team_a)).content.decode()
    page = client_for(alice).get(url(team_a)).content.decode()
    assert "bobs" in page and "carols" in page


def test_revoke_by_owner_or_admin_only(team_a, alice, bob, carol, client_for):
    client_for(bob).post(url(team_a), {"name": "bobs", "kind": "personal", "role": 20})
    token = ApiToken.objects.get()
    revoke = f"{url(team_a)}{token.pk}/revoke/"
    assert client_for(carol).post(revoke).status_code == 404
    assert client_for(bob).post(revoke).status_code == 200
    token.refresh_from_db()
    assert token.status == "revoked"
    assert not Membership.objects.filter(user=token.principal).exists()
    assert AuditEvent.objects.filter(
        action="api.token.revoke", actor_label="bob"
    ).exists()


@pytest.mark.parametrize("who", ["anonymous", "other_team"])
def test_outsiders_cannot_see_the_page(
    team_a, charlie, team_b, client, client_for, who
):
    answer = (client if who == "anonymous" else client_for(charlie)).get(url(team_a))
    assert answer.status_code == (302 if who == "anonymous" else 404)


def test_the_team_page_links_to_the_tokens(team_a, carol, client_for):
    page = client_for(carol).get(f"/teams/{team_a.slug}/").content.decode()
    assert f'href="{url(team_a)}"' in page


def test_token_principals_are_not_listed_or_managed_as_members(
    team_a, alice, make_token, client_for
):
    make_token(team_a, alice, name="nightly-retry")
    principal = ApiToken.objects.get().principal
    client = client_for(alice)
    for page in (f"/teams/{team_a.slug}/", f"/teams/{team_a.slug}/members/"):
        assert "nightly-retry" not in client.get(page).content.decode()
    membership = Membership.objects.get(user=principal)
    role_url = f"/teams/{team_a.slug}/members/{membership.pk}/role/"
    remove_url = f"/teams/{team_a.slug}/members/{membership.pk}/remove/"
    assert client.post(role_url, {"role": Role.ADMIN}).status_code == 404
    assert client.post(remove_url).status_code == 404
    membership.refresh_from_db()
    assert membership.role == Role.OPERATOR
