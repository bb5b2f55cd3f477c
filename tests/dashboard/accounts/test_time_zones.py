"""Times are shown in the reader's zone, named: their own choice, else their team's default."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from dashboard.accounts.models import Role, UserPreferences
from dashboard.accounts.timezones import zone_name_for
from dashboard.audit.models import AuditEvent
from dashboard.core.templatetags.workroom import duration, when
from dashboard.core.timefmt import relative
from tests.dashboard.factories import add_member, make_team, make_user

pytestmark = pytest.mark.django_db

# 12:00 UTC on a winter day: 14:00 in Helsinki (EET), 07:00 in New York (EST).
NOON = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)


@pytest.fixture
def team_and_people(client_for):
    ada, otto = make_user("ada"), make_user("otto")
    team = make_team("Ops", admin=ada)
    add_member(team, otto, Role.OPERATOR)
    AuditEvent.objects.create(
        team=team, action="demo.event", summary="at noon", created_at=NOON
    )
    return team, ada, otto


def _audit_time(client, team) -> str:
    html = client.get(reverse("audit-event-list", args=[team.slug])).content.decode()
    return html


def test_a_team_default_then_a_personal_choice_decide_the_zone(
    client_for, team_and_people
):
    team, ada, otto = team_and_people
    admin = client_for(ada)
    assert "2026-01-15 12:00:00 UTC" in _audit_time(admin, team)

    answer = admin.post(
        reverse("accounts-team-time-zone", args=[team.slug]),
        {"time_zone": "Europe/Helsinki"},
    )
    assert answer.status_code == 302
    assert "2026-01-15 14:00:00 EET" in _audit_time(admin, team)
    assert zone_name_for(otto) == "Europe/Helsinki"
    event = AuditEvent.objects.get(team=team, action="team.time_zone_changed")
    assert event.data == {"before": "UTC", "after": "Europe/Helsinki"}

    # otto reads the audit log as an admin would; give otto the role to see it.
    team.memberships.filter(user=otto).update(role=Role.ADMIN)
    client_for(otto).post(
        reverse("accounts-preferences"), {"time_zone": "America/New_York"}
    )
    assert "2026-01-15 07:00:00 EST" in _audit_time(client_for(otto), team)
    assert "2026-01-15 14:00:00 EET" in _audit_time(admin, team)
    # Back to "my team's": the blank choice.
    client_for(otto).post(reverse("accounts-preferences"), {"time_zone": ""})
    assert UserPreferences.objects.get(user=otto).time_zone == ""
    assert "2026-01-15 14:00:00 EET" in _audit_time(client_for(otto), team)


def test_an_unknown_zone_is_refused_with_a_message_and_nothing_changes(
    client_for, team_and_people
):
    team, ada, otto = team_and_people
    answer = client_for(ada).post(
        reverse("accounts-team-time-zone", args=[team.slug]),
        {"time_zone": "Mars/Olympus_Mons"},
        follow=True,
    )
    assert "Choose a time zone from the list." in answer.content.decode()
    team.refresh_from_db()
    assert team.time_zone == "UTC"
    page = client_for(otto).post(
        reverse("accounts-preferences"), {"time_zone": "../../etc/passwd"}
    )
    assert page.status_code == 200
    assert "Select a valid choice" in page.content.decode()
    assert not UserPreferences.objects.filter(user=otto).exists()


def test_only_admins_set_the_team_zone(client_for, team_and_people):
    team, _, otto = team_and_people
    answer = client_for(otto).post(
        reverse("accounts-team-time-zone", args=[team.slug]),
        {"time_zone": "Europe/Helsinki"},
    )
    assert answer.status_code == 403
    team.refresh_from_db()
    assert team.time_zone == "UTC"


def test_the_zone_is_looked_up_once_a_minute_not_on_every_request(
    client_for, team_and_people
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    team, ada, otto = team_and_people

    def lookups(client) -> int:
        with CaptureQueriesContext(connection) as ctx:
            client.get(reverse("home"))
        # The middleware's query: own choice, else the first team's, else the default.
        return sum("COALESCE" in q["sql"] for q in ctx.captured_queries)

    with time_machine.travel(NOON, tick=False) as clock:
        client = client_for(otto)  # looked up at log-in
        assert lookups(client) == 0
        # An admin changes the team's zone: otto sees it within a minute.
        client_for(ada).post(
            reverse("accounts-team-time-zone", args=[team.slug]),
            {"time_zone": "Europe/Helsinki"},
        )
        clock.shift(61)
        assert lookups(client) == 1
        assert zone_name_for(otto) == "Europe/Helsinki"


@pytest.mark.parametrize(
    ("seconds", "said"),
    [
        (0, "0 s"),
        (0.4, "< 1 s"),
        (42, "42 s"),
        (303, "5 min 3 s"),
        (17171, "4 h 46 min"),
        (3600, "1 h"),
        (90000, "1 d 1 h"),
    ],
)
def test_durations_read_as_people_say_them(seconds, said):
    assert duration(seconds) == said
    assert duration(timedelta(seconds=seconds)) == said


def test_a_duration_in_a_sentence_is_spelled_out():
    assert duration(900, "long") == "15 minutes"
    assert duration(3900, "long") == "1 hour 5 minutes"
    assert duration(1, "long") == "1 second"


def test_relative_times_and_the_exact_one_on_hover():
    with time_machine.travel(NOON, tick=False):
        now = timezone.now()
        assert relative(now - timedelta(seconds=10)) == "just now"
        assert relative(now - timedelta(minutes=5)) == "5 min ago"
        assert relative(now + timedelta(hours=3)) == "in 3 h"
        assert relative(now - timedelta(days=2)) == "2 days ago"
        assert relative(now - timedelta(days=30)) == "2025-12-16"
        html = when(now - timedelta(minutes=5))
        assert 'title="2026-01-15 11:55:00 UTC"' in html and ">5 min ago<" in html
        exact = when(now, "absolute")
        assert ">2026-01-15 12:00:00 UTC<" in exact and 'title="just now"' in exact
        assert when(None) == "—" and when(None, "date", "never") == "never"
