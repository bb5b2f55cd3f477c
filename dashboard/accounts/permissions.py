"""The one access check: a user's role in a team.

Every view and service that touches team data goes through `require_role` (or
`get_membership_or_404`): a non-member gets a 404 so another team's objects are
indistinguishable from missing ones; a member below the needed role gets a 403.
"""

from __future__ import annotations

from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404

from dashboard.accounts.models import Membership, Role, Team, User

__all__ = ["Role", "get_membership_or_404", "require_role", "teams_for"]


def get_membership_or_404(user: User | AnonymousUser, team: Team) -> Membership:
    """Return the user's membership of `team`, or raise Http404 if there is none."""
    if not user.is_authenticated:
        raise Http404("No such team.")
    membership = Membership.objects.filter(team=team, user=user).first()
    if membership is None:
        raise Http404("No such team.")
    return membership


def require_role(
    user: User | AnonymousUser, team: Team, minimum_role: Role | int
) -> Membership:
    """Return the membership if the user holds at least `minimum_role` in `team`.

    Raises:
        Http404: the user is not a member of the team.
        PermissionDenied: the user is a member with a lower role.
    """
    membership = get_membership_or_404(user, team)
    if membership.role < minimum_role:
        needed = Role(minimum_role).label.lower()
        raise PermissionDenied(f"This needs the {needed} role in {team.name}.")
    return membership


def teams_for(user: User | AnonymousUser) -> QuerySet[Team]:
    """Return the teams the user belongs to (none for anonymous users)."""
    if not user.is_authenticated:
        return Team.objects.none()
    return Team.objects.filter(memberships__user=user).distinct()
