"""Send one team's daily digest now (once per team and day, like the beat)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from dashboard.accounts.models import Team
from dashboard.alerts import digest


class Command(BaseCommand):
    help = "Send a team's daily digest of a day (default: yesterday, UTC) unless already sent."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("team", help="the team's slug")
        parser.add_argument("--day", help="YYYY-MM-DD (default: yesterday, UTC)")

    def handle(
        self, *args: Any, team: str, day: str | None = None, **options: Any
    ) -> None:
        found = Team.objects.filter(slug=team).first()
        if found is None:
            raise CommandError(f"No team with the slug {team!r}.")
        try:
            which = (
                date.fromisoformat(day)
                if day
                else timezone.now().date() - timedelta(days=1)
            )
        except ValueError:
            raise CommandError(
                f"--day must look like 2026-11-29, not {day!r}."
            ) from None
        outcome = digest.send_digest(found, which)
        if outcome == "failed":
            raise CommandError(
                f"The digest of {which} was not sent: the mail server failed."
            )
        self.stdout.write(
            f"Digest of {found.name} for {which}: "
            + ("sent." if outcome == "sent" else "already sent before; not sent again.")
        )
