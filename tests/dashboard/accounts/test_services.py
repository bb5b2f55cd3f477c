"""Team rules: creation, invitations (expiry, single use, revocation), roles, the last admin."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from dashboard.accounts import services
from dashboard.accounts.models import Invitation, Membership, Role
from dashboard.audit.models import AuditEvent
from tests.dashboard.factories import add_member, make_team, make_user

pytestmark = pytest.mark.django_db


def test_it_makes_the_creator_admin_and_audits(alice):
    team = services.create_team(alice, "  Robots  ")
    assert team.name == "Robots"
    assert Membership.objects.get(team=team, user=alice).role == Role.ADMIN
    event = AuditEvent.objects.get(team=team)
    assert (event.action, event.actor, event.actor_label) == (
        "team.created",
        alice,
        "alice",
    )


def test_it_gives_teams_with_the_same_name_distinct_slugs(alice, bob):
    first = services.create_team(alice, "Ops")
    second = services.create_team(bob, "Ops")
    assert first.slug == "ops" and second.slug == "ops-2"


def test_a_team_named_new_does_not_shadow_the_create_url(alice):
    assert services.create_team(alice, "New").slug == "new-2"


def test_it_refuses_an_empty_team_name(alice):
    with pytest.raises(services.TeamRuleError, match="needs a name"):
        services.create_team(alice, "   ")


def test_it_stores_only_a_hash_of_the_invitation_token(team_a, alice):
    invitation, token = services.create_invitation(team_a, alice, Role.OPERATOR)
    assert len(token) >= 40
    stored = Invitation.objects.get(pk=invitation.pk)
    assert (
        stored.token_hash == services.hash_token(token)
        and token not in stored.token_hash
    )
    assert services.find_invitation(token) == invitation
    assert services.find_invitation(token + "x") is None
    event = AuditEvent.objects.get(team=team_a, action="invitation.created")
    assert token not in str(event.data) and token not in event.summary


def test_an_invitation_works_once(team_a, alice):
    invitation, _ = services.create_invitation(team_a, alice, Role.VIEWER)
    dave, erin = make_user("dave"), make_user("erin")
    membership = services.accept_invitation(invitation, dave)
    assert (membership.team, membership.role) == (team_a, Role.VIEWER)
    invitation.refresh_from_db()
    assert invitation.accepted_by == dave and invitation.status == "accepted"
    with pytest.raises(services.InvitationError, match="already been used"):
        services.accept_invitation(invitation, erin)
    assert not Membership.objects.filter(user=erin).exists()
    assert (
        AuditEvent.objects.filter(
            team=team_a, action="invitation.accepted", actor=dave
        ).count()
        == 1
    )


def test_an_invitation_expires(team_a, alice, settings):
    settings.WORKROOM_INVITATION_TTL_HOURS = 2
    invitation, _ = services.create_invitation(team_a, alice, Role.VIEWER)
    assert invitation.expires_at == pytest.approx(
        timezone.now() + timedelta(hours=2), abs=timedelta(seconds=5)
    )
    late = make_user("late")
    with (
        time_machine.travel(timezone.now() + timedelta(hours=2, minutes=1)),
        pytest.raises(services.InvitationError, match="expired"),
    ):
        services.accept_invitation(invitation, late)
    assert invitation.status == "pending"


def test_a_revoked_invitation_cannot_be_accepted(team_a, alice):
    invitation, _ = services.create_invitation(team_a, alice, Role.OPERATOR)
    services.revoke_invitation(invitation, alice)
    with pytest.raises(services.InvitationError, match="revoked"):
        services.accept_invitation(invitation, make_user("dave"))
    with pytest.raises(services.InvitationError, match="already revoked"):
        services.revoke_invitation(invitation, alice)
    assert AuditEvent.objects.filter(action="invitation.revoked").count() == 1


def test_a_member_cannot_accept_again(team_a, alice, carol):
    invitation, _ = services.create_invitation(team_a, alice, Role.ADMIN)
    with pytest.raises(services.InvitationError, match="already a member"):
        services.accept_invitation(invitation, carol)
    assert Membership.objects.get(team=team_a, user=carol).role == Role.VIEWER
    invitation.refresh_from_db()
    assert invitation.status == "pending"


def test_a_user_can_belong_to_several_teams(team_a, team_b, alice, charlie):
    invitation, _ = services.create_invitation(team_b, charlie, Role.OPERATOR)
    services.accept_invitation(invitation, alice)
    roles = dict(
        Membership.objects.filter(user=alice).values_list("team__name", "role")
    )
    assert roles == {"Team A": Role.ADMIN, "Team B": Role.OPERATOR}


def test_it_changes_a_role_and_audits(team_a, alice, bob):
    membership = Membership.objects.get(team=team_a, user=bob)
    services.change_role(membership, Role.ADMIN, alice)
    assert Membership.objects.get(pk=membership.pk).role == Role.ADMIN
    event = AuditEvent.objects.get(action="membership.role_changed")
    assert event.data == {"from": "operator", "to": "admin"} and event.actor == alice


def test_the_last_admin_cannot_be_demoted_or_removed(team_a, alice):
    membership = Membership.objects.get(team=team_a, user=alice)
    with pytest.raises(services.LastAdminError, match="last admin"):
        services.change_role(membership, Role.OPERATOR, alice)
    with pytest.raises(services.LastAdminError, match="last admin"):
        services.remove_member(membership, alice)
    assert Membership.objects.get(pk=membership.pk).role == Role.ADMIN
    assert not AuditEvent.objects.filter(action__startswith="membership.").exists()


def test_an_admin_can_step_down_when_another_admin_exists(team_a, alice, bob):
    services.change_role(
        Membership.objects.get(team=team_a, user=bob), Role.ADMIN, alice
    )
    services.change_role(
        Membership.objects.get(team=team_a, user=alice), Role.VIEWER, alice
    )
    assert Membership.objects.get(team=team_a, user=alice).role == Role.VIEWER


def test_it_removes_a_member_and_audits(team_a, alice, carol):
    services.remove_member(Membership.objects.get(team=team_a, user=carol), alice)
    assert not Membership.objects.filter(team=team_a, user=carol).exists()
    event = AuditEvent.objects.get(action="membership.removed")
    assert event.data["username"] == "carol" and event.actor == alice


def test_other_teams_are_not_affected_by_the_last_admin_rule(alice):
    team_x = make_team("X", admin=alice)
    team_y = make_team("Y", admin=alice)
    add_member(team_y, make_user("yuri"), Role.ADMIN)
    with pytest.raises(services.LastAdminError):
        services.remove_member(Membership.objects.get(team=team_x, user=alice), alice)
    services.remove_member(Membership.objects.get(team=team_y, user=alice), alice)
