"""What a policy matches and when it acts: pure functions over a policy and a candidate.

Shared by the execution, the dry run and the explorer's "will retry at" line, so the three
always agree. Message patterns are RE2 (linear time, `workitems.schemas.safe_regex`): a
team admin's pattern can never make a worker backtrack for minutes on a long message.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any

from django.core.exceptions import ObjectDoesNotExist

from dashboard.policies.models import RetryPolicy
from dashboard.workitems.schemas import UnsafePattern, safe_regex

MAX_BACKOFF_STEPS = 20
MAX_BACKOFF_MINUTES = 7 * 24 * 60


class BadSetting(ValueError):
    """A policy field that cannot be used; the message is shown next to the field."""


@dataclass(frozen=True)
class Candidate:
    """One failure occurrence of one item, with what matching needs."""

    workspace_id: int
    work_item_id: int
    external_id: str
    process_id: int | None
    process_name: str
    number: int
    exception_type: str
    exception_code: str
    exception_message: str
    failed_at: datetime | None
    seen_at: datetime
    item_created_at: datetime
    occurrence_id: int | None = None

    @property
    def since(self) -> datetime:
        """When the failure happened: Control Room's time, unless its clock is ahead of
        ours (the mirror cannot have seen a failure before it happened)."""
        if self.failed_at is None:
            return self.seen_at
        return min(self.failed_at, self.seen_at)


def parse_backoff(text: str) -> list[int]:
    """Parse "1, 5, 30" (minutes before attempt 1, 2, 3…) into a list of minutes."""
    parts = [p.strip() for p in text.replace(";", ",").split(",") if p.strip()]
    if not parts:
        raise BadSetting("Give at least one delay in minutes, e.g. 1, 5, 30.")
    if len(parts) > MAX_BACKOFF_STEPS:
        raise BadSetting(f"At most {MAX_BACKOFF_STEPS} delays.")
    minutes: list[int] = []
    for part in parts:
        if not part.isdigit():
            raise BadSetting(f"“{part[:20]}” is not a whole number of minutes.")
        value = int(part)
        if value > MAX_BACKOFF_MINUTES:
            raise BadSetting("A delay may be at most 7 days (10080 minutes).")
        minutes.append(value)
    return minutes


def compile_pattern(pattern: str) -> Any:
    """Return the compiled RE2 pattern, or None for an empty one.

    Raises:
        BadSetting: not valid RE2 (backreferences and lookaround are not supported).
    """
    if not pattern:
        return None
    try:
        return safe_regex(pattern)
    except UnsafePattern:
        raise BadSetting(
            "Not a valid pattern (RE2 syntax; backreferences and lookaround are not "
            "supported)."
        ) from None


def split_list(text: str) -> list[str]:
    """Split a comma- or newline-separated field into its non-empty, distinct entries."""
    seen: dict[str, None] = {}
    for part in text.replace("\n", ",").split(","):
        if part.strip():
            seen[part.strip()] = None
    return list(seen)


def matches(
    policy: RetryPolicy, candidate: Candidate, workspace_ids: Sequence[int]
) -> bool:
    """Return True if the policy's match fields select this failure (empty = any)."""
    if workspace_ids and candidate.workspace_id not in workspace_ids:
        return False
    if policy.process_names and candidate.process_name not in policy.process_names:
        return False
    if (
        policy.exception_type
        and candidate.exception_type.lower() != policy.exception_type.lower()
    ):
        return False
    if (
        policy.exception_codes
        and candidate.exception_code not in policy.exception_codes
    ):
        return False
    pattern = compile_pattern(policy.message_pattern)
    if pattern is not None and not pattern.search(candidate.exception_message):
        return False
    if policy.max_item_age_hours is not None:
        age = candidate.since - candidate.item_created_at
        if age > timedelta(hours=policy.max_item_age_hours):
            return False
    return True


def delay_before(policy: RetryPolicy, attempt: int) -> timedelta:
    """The wait between a failure and retry `attempt` (1-based); the last delay repeats."""
    steps = list(policy.backoff_minutes) or [0]
    return timedelta(minutes=steps[min(attempt, len(steps)) - 1])


def due_at(policy: RetryPolicy, candidate: Candidate, attempt: int) -> datetime:
    """When retry `attempt` of this failure may be sent, quiet hours aside."""
    return candidate.since + delay_before(policy, attempt)


def policy_zone(policy: RetryPolicy) -> zoneinfo.ZoneInfo:
    """The zone of the policy's quiet hours: its team's time zone (UTC without a team)."""
    try:
        name = policy.team.time_zone
    except ObjectDoesNotExist:
        name = "UTC"
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return zoneinfo.ZoneInfo("UTC")


def in_quiet_hours(policy: RetryPolicy, when: datetime) -> bool:
    """Return True if `when` falls in the policy's quiet hours (which may span midnight)."""
    start, end = policy.quiet_start, policy.quiet_end
    if start is None or end is None or start == end:
        return False
    local = when.astimezone(policy_zone(policy)).time()
    return _between(local, start, end)


def _between(t: time, start: time, end: time) -> bool:
    if start < end:
        return start <= t < end
    return t >= start or t < end


def after_quiet_hours(policy: RetryPolicy, when: datetime) -> datetime:
    """`when`, or the end of the quiet hours it falls in."""
    if not in_quiet_hours(policy, when) or policy.quiet_end is None:
        return when
    zone = policy_zone(policy)
    local = when.astimezone(zone)
    end = datetime.combine(local.date(), policy.quiet_end, tzinfo=zone)
    if end <= local:
        end += timedelta(days=1)
    return end
