"""The pure rules shared by execution, dry run and explorer notes: backoff parsing, RE2
patterns, matching, quiet hours (spanning midnight, in the configured zone)."""

from __future__ import annotations

import zoneinfo
from datetime import UTC, datetime, time, timedelta

import pytest

from dashboard.accounts.models import Team
from dashboard.policies.matching import (
    BadSetting,
    Candidate,
    after_quiet_hours,
    compile_pattern,
    delay_before,
    in_quiet_hours,
    matches,
    parse_backoff,
    split_list,
)
from dashboard.policies.models import RetryPolicy

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def candidate(**fields: object) -> Candidate:
    base: dict[str, object] = {
        "workspace_id": 1,
        "work_item_id": 10,
        "external_id": "abc",
        "process_id": 3,
        "process_name": "Order Intake",
        "number": 1,
        "exception_type": "application",
        "exception_code": "HTTP_ERROR",
        "exception_message": "HTTP 502 from https://erp.example.com/api/orders/1",
        "failed_at": NOW - timedelta(minutes=10),
        "seen_at": NOW - timedelta(minutes=9),
        "item_created_at": NOW - timedelta(hours=2),
    }
    return Candidate(**(base | fields))  # type: ignore[arg-type]


def test_backoff_is_parsed_and_its_last_delay_repeats():
    assert parse_backoff(" 1, 5 ;30 ") == [1, 5, 30]
    policy = RetryPolicy(backoff_minutes=[1, 5, 30])
    assert [delay_before(policy, n) for n in (1, 2, 3, 4)] == [
        timedelta(minutes=m) for m in (1, 5, 30, 30)
    ]


@pytest.mark.parametrize(
    "text", ["", "1, x", "-5", "1.5", "99999", ",".join(["1"] * 21)]
)
def test_bad_backoff_is_refused(text):
    with pytest.raises(BadSetting):
        parse_backoff(text)


def test_patterns_are_re2_and_backtracking_constructs_are_refused():
    assert compile_pattern("") is None
    assert compile_pattern(r"HTTP 5\d\d").search("HTTP 502 from erp")
    for unsafe in (r"(a)\1", r"(?=x)y", "(unclosed"):
        with pytest.raises(BadSetting):
            compile_pattern(unsafe)
    # A pattern that makes a backtracking engine take exponential time is linear here.
    assert compile_pattern(r"^(a+)+$").search("a" * 50_000 + "!") is None


def test_split_list_drops_blanks_and_duplicates():
    assert split_list("A, B,\nA,, C ") == ["A", "B", "C"]


def test_matching_fields_empty_match_everything():
    assert matches(RetryPolicy(), candidate(), [])
    assert matches(RetryPolicy(), candidate(exception_code="", exception_type=""), [])


@pytest.mark.parametrize(
    ("fields", "ws", "expected"),
    [
        ({"process_names": ["Invoices"]}, [], False),
        ({"process_names": ["Order Intake"]}, [], True),
        ({"exception_type": "APPLICATION"}, [], True),
        ({"exception_type": "business"}, [], False),
        ({"exception_codes": ["TIMEOUT"]}, [], False),
        ({"message_pattern": r"HTTP 4\d\d"}, [], False),
        ({"message_pattern": r"orders/\d+$"}, [], True),
        ({"max_item_age_hours": 1}, [], False),
        ({"max_item_age_hours": 3}, [], True),
        ({}, [2], False),
        ({}, [1, 2], True),
    ],
)
def test_each_match_field(fields, ws, expected):
    assert matches(RetryPolicy(**fields), candidate(), ws) is expected


def test_a_failure_stamped_by_a_clock_ahead_counts_from_when_it_was_seen():
    ahead = candidate(failed_at=NOW + timedelta(hours=1), seen_at=NOW)
    assert ahead.since == NOW
    assert candidate(failed_at=None, seen_at=NOW).since == NOW


def test_quiet_hours_span_midnight_in_the_teams_zone():
    team = Team(name="Ops", time_zone="Europe/Helsinki")  # UTC+2 in winter
    policy = RetryPolicy(team=team, quiet_start=time(22, 0), quiet_end=time(6, 0))
    helsinki = zoneinfo.ZoneInfo("Europe/Helsinki")
    at = lambda h, m=0: datetime(2026, 11, 30, h, m, tzinfo=helsinki)  # noqa: E731
    assert in_quiet_hours(policy, at(23))
    assert in_quiet_hours(policy, at(2))
    assert not in_quiet_hours(policy, at(6))
    assert not in_quiet_hours(policy, at(21, 59))
    assert after_quiet_hours(policy, at(23)) == at(6) + timedelta(days=1)
    assert after_quiet_hours(policy, at(2)) == at(6)
    assert after_quiet_hours(policy, at(12)) == at(12)
    daytime = RetryPolicy(team=team, quiet_start=time(9, 0), quiet_end=time(17, 0))
    assert in_quiet_hours(daytime, at(12)) and not in_quiet_hours(daytime, at(18))
    assert not in_quiet_hours(RetryPolicy(), at(23))
