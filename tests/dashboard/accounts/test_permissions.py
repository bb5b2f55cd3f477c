"""The one access check."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import PermissionDenied
from django.http import Http404

from dashboard.accounts.permissions import (
    Role,
    get_membership_or_404,
    require_role,
    teams_for,
)

pytestmark = pytest.mark.django_db


def test_roles_are_ordered():
    assert Role.VIEWER < Role.OPERATOR < Role.ADMIN


def test_it_returns_the_membership_at_or_above_the_role(team_a, bob):
    assert require_role(bob, team_a, Role.VIEWER).role == Role.OPERATOR
    assert require_role(bob, team_a, Role.OPERATOR).user == bob


def test_it_answers_403_below_the_role(team_a, carol):
    with pytest.raises(PermissionDenied, match="operator role"):
        require_role(carol, team_a, Role.OPERATOR)


def test_it_answers_404_to_outsiders_and_anonymous(team_a, charlie):
    with pytest.raises(Http404):
        require_role(charlie, team_a, Role.VIEWER)
    with pytest.raises(Http404):
        get_membership_or_404(AnonymousUser(), team_a)


def test_teams_for_lists_only_own_teams(team_a, team_b, alice, charlie):
    assert list(teams_for(alice)) == [team_a]
    assert list(teams_for(charlie)) == [team_b]
    assert list(teams_for(AnonymousUser())) == []
