"""Expiring claims on a database row (`lease_owner`, `lease_until` columns), taken, renewed
and released by conditional UPDATEs whose row count says who holds the claim.

Works the same on SQLite and PostgreSQL (no SELECT … FOR UPDATE); a killed worker's lease
simply expires (ECOSYSTEM.md B5). Shared by the sync's workspace lease and bulk chunk claims.
Imports no Workroom app.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Self

from django.db.models import Q, QuerySet
from django.utils import timezone


class LeaseLost(Exception):
    """The lease expired and may be someone else's now: stop before writing anything more."""


def expired(now: datetime) -> Q:
    """Rows whose lease is free: never taken, released, or run out."""
    return Q(lease_until__isnull=True) | Q(lease_until__lt=now)


@dataclass(frozen=True)
class Lease:
    """A held claim on the one row of `rows` (a queryset filtered to that row)."""

    rows: QuerySet[Any]
    owner: str
    seconds: float
    what: str = "the lease"  # named in LeaseLost

    @classmethod
    def take(
        cls,
        rows: QuerySet[Any],
        owner: str,
        seconds: float,
        *,
        claimable: Q | None = None,
        what: str = "the lease",
        **also: Any,
    ) -> Self | None:
        """Claim the row if it matches `claimable` (default: its lease is free); set `also`
        in the same UPDATE. Return the lease, or None when someone else holds it."""
        now = timezone.now()
        taken = rows.filter(
            claimable if claimable is not None else expired(now)
        ).update(
            lease_owner=owner, lease_until=now + timedelta(seconds=seconds), **also
        )
        return cls(rows, owner, seconds, what) if taken == 1 else None

    def renew(self, **still: Any) -> None:
        """Extend the lease (the row must still match `still`).

        Raises:
            LeaseLost: the lease is someone else's, or the row changed.
        """
        until = timezone.now() + timedelta(seconds=self.seconds)
        if not self.rows.filter(lease_owner=self.owner, **still).update(
            lease_until=until
        ):
            raise LeaseLost(f"{self.what} was taken over (ours expired)")

    def release(self, **also: Any) -> int:
        """Give the row up, setting `also` in the same UPDATE; return 1 if it was ours."""
        return self.rows.filter(lease_owner=self.owner).update(
            lease_owner="", lease_until=None, **also
        )


def reclaim(rows: QuerySet[Any], now: datetime, **also: Any) -> int:
    """Free the rows whose lease ran out before `now` (their holder died), setting `also`
    in the same UPDATE; return how many. A holder that renewed in time keeps its lease."""
    return rows.filter(lease_until__lt=now).update(
        lease_owner="", lease_until=None, **also
    )
