"""Which time zone a person reads times in: their own choice, else their team's default
(the team they joined first), else settings.TIME_ZONE. Activated for each request by
`TimezoneMiddleware`, so `{% when %}`, `|date` and forms all speak the reader's zone."""

from __future__ import annotations

import functools
import zoneinfo

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.db.models import OuterRef, Subquery, Value
from django.db.models.functions import Coalesce, NullIf

from dashboard.accounts.models import Membership, Team, User, UserPreferences
from dashboard.lib.errors import WorkroomError


class TimeZoneError(WorkroomError):
    """An unknown time zone name; `message` is safe to show."""


@functools.cache
def choices() -> list[str]:
    """Every IANA zone a person may pick (region/city names and UTC), sorted."""
    names = zoneinfo.available_timezones()
    return sorted(
        n
        for n in names
        if n == "UTC"
        or ("/" in n and not n.startswith(("Etc/", "SystemV/", "posix", "right")))
    )


def checked(name: str) -> str:
    """Return `name` when it is a zone people may pick.

    Raises:
        TimeZoneError: it is not one.
    """
    name = name.strip()
    if name not in choices():
        raise TimeZoneError(f"“{name[:64]}” is not a time zone Workroom knows.")
    return name


def zone_name_for(user: User | AnonymousUser) -> str:
    """The IANA name of the zone `user` reads times in (one query for a signed-in user)."""
    if not isinstance(user, User):
        return str(settings.TIME_ZONE)
    own = UserPreferences.objects.filter(user=OuterRef("pk")).values("time_zone")[:1]
    team = (
        Membership.objects.filter(user=OuterRef("pk"))
        .order_by("created_at", "id")
        .values("team__time_zone")[:1]
    )
    name = (
        User.objects.filter(pk=user.pk)
        .values_list(
            Coalesce(
                NullIf(Subquery(own), Value("")),
                Subquery(team),
                Value(str(settings.TIME_ZONE)),
            ),
            flat=True,
        )
        .first()
    )
    return name if name in choices() else str(settings.TIME_ZONE)


def set_own_zone(user: User, name: str) -> None:
    """Save `user`'s own zone; a blank name means "my team's default"."""
    value = checked(name) if name.strip() else ""
    UserPreferences.objects.update_or_create(user=user, defaults={"time_zone": value})


def set_team_zone(team: Team, name: str) -> None:
    """Save the default zone of `team` (members without their own choice read times in it)."""
    team.time_zone = checked(name)
    team.save(update_fields=["time_zone"])
