"""Where floors above this one shape the member lists without this floor importing them
(floors: imports only go down). A floor registers in its AppConfig.ready()."""

from __future__ import annotations

from collections.abc import Callable

from django.db.models import QuerySet

from dashboard.accounts.models import Membership

MemberFilter = Callable[[QuerySet[Membership]], QuerySet[Membership]]
_MEMBER_FILTERS: dict[str, MemberFilter] = {}


def hide_members(name: str, narrow: MemberFilter) -> None:
    """Leave out of the team's member lists the memberships `narrow` drops (e.g. the
    principals API tokens act through; they are listed on their own page)."""
    _MEMBER_FILTERS[name] = narrow


def listed_members(memberships: QuerySet[Membership]) -> QuerySet[Membership]:
    for narrow in _MEMBER_FILTERS.values():
        memberships = narrow(memberships)
    return memberships
