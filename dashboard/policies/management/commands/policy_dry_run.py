"""`manage.py policy_dry_run POLICY_ID [--days N]`: what a retry policy would have done."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from dashboard.policies.dryrun import MAX_DAYS, dry_run
from dashboard.policies.models import RetryPolicy


class Command(BaseCommand):
    help = "Replay a retry policy over the last N days of failures (nothing is sent)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("policy_id", type=int)
        parser.add_argument("--days", type=int, default=7)

    def handle(self, *args: Any, **options: Any) -> None:
        days = options["days"]
        if not 1 <= days <= MAX_DAYS:
            raise CommandError(f"--days must be between 1 and {MAX_DAYS}.")
        policy = RetryPolicy.objects.filter(pk=options["policy_id"]).first()
        if policy is None:
            raise CommandError(f"No retry policy {options['policy_id']}.")
        result = dry_run(
            policy, list(policy.workspaces.values_list("pk", flat=True)), days
        )
        out = self.stdout
        out.write(f"Policy {policy.name} over the last {result.days} days:")
        out.write(
            f"  {result.items} items, {result.failures} failures matched; "
            f"{result.attempts} retries; would give up on {result.gives_up} items"
        )
        out.write(
            f"  held back by the hourly cap: {result.held_by_hourly_cap}; "
            f"delayed by quiet hours: {result.delayed_by_quiet_hours}"
        )
        for rate in result.rates:
            pct = "n/a" if rate.percent is None else f"{rate.percent}%"
            out.write(
                f"  {rate.code or '(no code)'}: {rate.succeeded} of {rate.retried} "
                f"past retries succeeded ({pct})"
            )
