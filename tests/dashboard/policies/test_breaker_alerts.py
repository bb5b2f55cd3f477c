"""Issue 12's "Done when": the next outage is retried without a click, and an email arrives
at a real SMTP server when the policy's breaker opens; enabling it again recovers the alert;
the daily digest says what policies retried."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from dashboard.alerts.digest import build_digest
from dashboard.alerts.models import Condition, Rule
from dashboard.audit.services import Actor
from dashboard.policies import services
from dashboard.policies.models import RetryPolicy
from tests.dashboard.alerts.conftest import email_channel, smtp, with_emails  # noqa: F401
from tests.dashboard.alerts.test_alerts import deliver_pending
from tests.dashboard.policies.conftest import seed_outage
from tests.dashboard.policies.test_execution import round_trip
from tests.dashboard.support.sync import full_sync


def test_a_breaker_that_opens_mails_the_team_and_recovers_when_enabled_again(
    db,
    ws,
    emu,
    spy,
    make_policy,
    team_a,
    alice,
    smtp,  # noqa: F811
    with_emails,  # noqa: F811
    django_capture_on_commit_callbacks,
    client_for,
):
    rule = Rule.objects.create(
        team=team_a,
        name="Breakers",
        condition=Condition.EVENT,
        event_kind="policy_breaker_opened",
    )
    rule.channels.set([email_channel(team_a)])
    seed_outage(emu, 4, retry_failure_rate=1.0)
    full_sync(ws)
    policy = make_policy(
        max_attempts=5,
        breaker_window=10,
        breaker_min_sample=4,
        breaker_min_success_percent=50,
    )
    with django_capture_on_commit_callbacks(execute=True):
        sent = [round_trip(ws, emu).sent for _ in range(3)]
    assert sent == [4, 0, 0]  # retried without a click, then the breaker held them
    policy.refresh_from_db()
    assert policy.state == RetryPolicy.State.BREAKER_OPEN

    home = client_for(alice).get("/").content.decode().split('id="policies-24h"')[1]
    assert "Retry ERP outages" in home and "breaker open" in home
    assert "retried 4 · done 0 · failed again 4" in home

    deliver_pending()
    [(_rcpts, message)] = smtp.messages
    assert "Retry ERP outages" in str(message["Subject"])
    assert f"/policies/{policy.pk}/" in smtp.text(0, "html")

    with django_capture_on_commit_callbacks(execute=True):
        services.change_state(Actor.of(alice), policy, "enable")
    deliver_pending()
    assert smtp.subjects()[1].startswith("[Workroom] Recovered: ")

    today = timezone.now().date()
    digest = build_digest(team_a, today)
    section = next(s for s in digest.sections if s.title == "Retried by policies")
    assert section.lines == ["Retry ERP outages: retried 4, done 0, failed again 4"]
    yesterday = build_digest(team_a, today - timedelta(days=1))
    quiet = next(s for s in yesterday.sections if s.title == "Retried by policies")
    assert (
        quiet.lines == ["Retry ERP outages: paused by its breaker"] or not quiet.lines
    )
