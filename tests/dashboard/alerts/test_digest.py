"""The daily digest: yesterday's failures by group, new groups, retries by people and how they
ended, stuck runs; sent once per team and day at the team's hour, to a real SMTP server."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from dashboard.alerts import digest
from dashboard.alerts.extensions import DigestSection, add_digest_section
from dashboard.alerts.models import DigestRun, DigestSettings, Preference
from dashboard.audit.services import Actor
from dashboard.mirror.models import ProcessRun, WorkItem
from dashboard.workitems.actions import RETRY
from dashboard.workitems.services import apply_one
from tests.dashboard.mirror.helpers import add_runs
from tests.dashboard.support.sync import full_sync

pytestmark = [pytest.mark.emulator]


def test_the_digest_is_sent_once_at_the_teams_hour_with_every_section(
    ws, team_a, emu, smtp, with_emails, alice, carol
):
    add_runs(emu, processes=2, runs=1, items=6, failure_rate=1.0)
    slow = emu.store.add_process("Slow", steps=["Read"], item_seconds=100_000.0)
    emu.store.create_run(slow.id, payloads=[{"n": 1}])
    emu.advance(60)
    full_sync(ws)
    failed = list(WorkItem.objects.filter(workspace=ws, state="failed"))
    assert len(failed) == 12
    apply_one(RETRY, failed[0], Actor.of(alice))
    assert ProcessRun.objects.filter(workspace=ws, state="in_progress").exists()
    DigestSettings.objects.create(team=team_a, hour_utc=7, stuck_run_hours=1)
    Preference.objects.create(user=carol, team=team_a, email_digest=False)
    add_digest_section(
        "test-policies",
        lambda team, day: DigestSection("Retried by policies", [f"{team.name}: none"]),
    )

    today = timezone.now().astimezone(UTC).date()
    tomorrow = datetime.combine(today + timedelta(days=1), datetime.min.time(), UTC)
    assert digest.send_due_digests(now=tomorrow + timedelta(hours=6, minutes=59)) == 0
    assert digest.send_due_digests(now=tomorrow + timedelta(hours=7, minutes=5)) == 1
    assert digest.send_due_digests(now=tomorrow + timedelta(hours=7, minutes=10)) == 0
    assert digest.send_due_digests(now=tomorrow + timedelta(hours=9)) == 0

    [(rcpts, mail)] = smtp.messages
    assert sorted(rcpts) == ["alice@example.com", "bob@example.com"]
    assert f"daily digest of {today:%Y-%m-%d}" in str(mail["Subject"])
    text = smtp.text(0)
    still_failed = WorkItem.objects.filter(workspace=ws, state="failed").count()
    assert f"{still_failed} failures" in str(mail["Subject"])
    assert "[NEW]" in text  # nothing failed in the 30 days before
    assert "- 1 retry sent; those items now: 1 " in text
    assert "RETRIED BY POLICIES\n- Team A: none" in text
    assert "STUCK RUNS\n- Slow (Alerts WS) run " in text
    assert f"http://localhost:8000/items/?workspace={ws.pk}&process=" in text
    assert "<h3>Stuck runs</h3>" in smtp.text(0, "html")
    run = DigestRun.objects.get(team=team_a, day=today)
    assert run.status == DigestRun.Status.SENT and run.recipients == 2


def test_a_digest_the_mail_server_refused_is_tried_again(
    team_a, with_emails, settings, closed_port
):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", closed_port
    day = timezone.now().date()
    assert digest.send_digest(team_a, day) == "failed"
    assert (
        DigestRun.objects.get(team=team_a, day=day).error
        == "Mail not sent: ConnectionRefusedError."
    )
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    assert digest.send_digest(team_a, day) == "sent"
    assert digest.send_digest(team_a, day) == "already"


def test_the_send_digest_command_sends_once_and_refuses_bad_input(
    team_a, smtp, with_emails
):
    from io import StringIO

    from django.core.management import CommandError, call_command

    out = StringIO()
    call_command("send_digest", team_a.slug, "--day", "2026-11-01", stdout=out)
    call_command("send_digest", team_a.slug, "--day", "2026-11-01", stdout=out)
    assert out.getvalue().splitlines() == [
        "Digest of Team A for 2026-11-01: sent.",
        "Digest of Team A for 2026-11-01: already sent before; not sent again.",
    ]
    assert len(smtp.messages) == 1
    with pytest.raises(CommandError, match="No team with the slug 'nope'"):
        call_command("send_digest", "nope")
    with pytest.raises(CommandError, match="--day must look like"):
        call_command("send_digest", team_a.slug, "--day", "yesterday")
