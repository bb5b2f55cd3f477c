"""How Workroom writes times and durations: in the reader's zone (activated per request by
accounts' TimezoneMiddleware) with the zone named, relative when that reads better, and
durations the way people say them ("4 h 46 min", not "17171 s")."""

from __future__ import annotations

from datetime import datetime, timedelta, tzinfo

from django.utils import timezone

# style -> strftime pattern of the absolute time
PATTERNS = {
    "absolute": "%Y-%m-%d %H:%M:%S",
    "minute": "%Y-%m-%d %H:%M",
    "date": "%Y-%m-%d",
    "time": "%H:%M:%S",
}


LONG_UNITS = {"d": "day", "h": "hour", "min": "minute", "s": "second"}


def human_duration(value: timedelta | float | None, *, long: bool = False) -> str:
    """A duration in its two largest units: "42 s", "5 min 3 s", "4 h 46 min", "2 d 3 h"
    ("" for None); `long` spells them for a sentence: "15 minutes", "1 hour 5 minutes"."""
    if value is None:
        return ""
    total = value.total_seconds() if isinstance(value, timedelta) else float(value)
    seconds = max(round(total), 0)
    if total > 0 and seconds == 0:
        return "less than a second" if long else "< 1 s"
    if not seconds:
        return "0 seconds" if long else "0 s"
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    units = [(days, "d"), (hours, "h"), (minutes, "min"), (secs, "s")]
    first = next(i for i, (n, _) in enumerate(units) if n)
    return " ".join(_unit(n, unit, long) for n, unit in units[first : first + 2] if n)


def _unit(n: int, unit: str, long: bool) -> str:
    if not long:
        return f"{n} {unit}"
    return f"{n} {LONG_UNITS[unit]}{'s' if n != 1 else ''}"


def relative(value: datetime, now: datetime | None = None) -> str:
    """How long ago (or ahead): "just now", "5 min ago", "in 3 h", "2 days ago"; the date
    when it is a week or more."""
    delta = ((now or timezone.now()) - value).total_seconds()
    ahead = delta < 0
    seconds = abs(delta)
    if seconds < 45:
        return "in a moment" if ahead else "just now"
    if seconds < 45 * 60:
        amount = f"{round(seconds / 60)} min"
    elif seconds < 22 * 3600:
        amount = f"{round(seconds / 3600)} h"
    elif seconds < 7 * 86_400:
        days = round(seconds / 86_400)
        amount = f"{days} day{'s' if days != 1 else ''}"
    else:
        return timezone.localtime(value).strftime(PATTERNS["date"])
    return f"in {amount}" if ahead else f"{amount} ago"


def absolute(
    value: datetime, style: str = "absolute", zone: tzinfo | None = None
) -> str:
    """`value` in the reader's zone with the zone named: "2026-11-30 07:12:03 CET".

    `zone` is the reader's zone when the caller already has it (a page of many times)."""
    if not timezone.is_aware(value):
        local = value
    else:
        local = value.astimezone(zone) if zone else timezone.localtime(value)
    pattern = PATTERNS.get(style, PATTERNS["absolute"])
    return f"{local.strftime(pattern)} {local.tzname() or ''}".strip()
