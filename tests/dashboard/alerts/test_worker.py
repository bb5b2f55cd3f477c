"""Through a real Celery worker: a sync announces itself, the worker evaluates the workspace's
rules and delivers the alert to a real SMTP server — once, however many syncs follow."""

from __future__ import annotations

import time

import pytest

from dashboard.alerts import services
from dashboard.alerts.models import Alert, Condition, Delivery, Rule
from dashboard.mirror.models import SyncRun
from dashboard.mirror.services.syncruns import sync_request
from tests.dashboard.alerts.conftest import email_channel, webhook_channel
from tests.dashboard.mirror.helpers import add_runs
from tests.dashboard.support.workers import Workers, wait_until

pytestmark = [
    pytest.mark.worker,
    pytest.mark.emulator,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
]


def test_a_sync_on_a_worker_mails_the_alert_once(
    ws, team_a, emu, smtp, with_emails, alert_queue, settings, subprocess_env, tmp_path
):
    settings.WORKROOM_SYNC_QUEUE = (
        alert_queue  # one queue, one worker for sync and alerts
    )
    add_runs(emu, processes=1, runs=1, items=5, failure_rate=1.0)
    rule = Rule.objects.create(
        team=team_a,
        name="Spike",
        condition=Condition.FAILURE_SPIKE,
        threshold=2,
        window_minutes=180,
    )
    rule.channels.set([email_channel(team_a)])
    env = {
        **subprocess_env,
        "WORKROOM_ALERT_QUEUE": alert_queue,
        "WORKROOM_SYNC_QUEUE": alert_queue,
        "EMAIL_HOST": "127.0.0.1",
        "EMAIL_PORT": str(smtp.port),
    }
    with Workers(
        queue=alert_queue, env=env, log_dir=tmp_path, name="alerts"
    ) as workers:
        worker = workers.start()
        first = sync_request(workspace=ws, trigger=SyncRun.Trigger.MANUAL)
        smtp.wait_for(1, timeout=60)
        assert SyncRun.objects.get(pk=first.pk).status == SyncRun.Status.SUCCEEDED
        evaluated = Rule.objects.get(pk=rule.pk).last_evaluated_at
        assert evaluated is not None

        # A second sync (and its evaluation) finds the alert open: nothing new is sent.
        sync_request(workspace=ws, trigger=SyncRun.Trigger.MANUAL)
        wait_until(
            lambda: Rule.objects.get(pk=rule.pk).last_evaluated_at != evaluated,
            timeout=60,
        )
        time.sleep(1.0)
        assert len(smtp.messages) == 1, worker.output()
    [alert] = Alert.objects.filter(rule=rule)
    assert alert.state == Alert.State.OPEN
    assert Delivery.objects.get(event__alert=alert).status == Delivery.Status.SENT
    rcpts, mail = smtp.messages[0]
    assert sorted(rcpts) == sorted(with_emails)
    assert str(mail["Subject"]).startswith("[Workroom] 5 failures of ")


def test_a_worker_killed_mid_delivery_is_replaced_and_the_message_sent_again(
    team_a, receiver, alert_queue, settings, subprocess_env, tmp_path
):
    settings.WORKROOM_ALERT_LEASE_SECONDS = 3
    rule = Rule.objects.create(
        team=team_a,
        name="Breakers",
        condition=Condition.EVENT,
        event_kind="policy_breaker_opened",
    )
    rule.channels.set([webhook_channel(team_a, receiver)])
    env = {
        **subprocess_env,
        "WORKROOM_ALERT_QUEUE": alert_queue,
        "WORKROOM_ALERT_LEASE_SECONDS": "3",
    }
    receiver.delay = 60  # the first sender hangs inside the HTTP call
    with Workers(
        queue=alert_queue, env=env, log_dir=tmp_path, name="alerts"
    ) as workers:
        first = workers.start()
        services.emit(team_a, "policy_breaker_opened", "p1", "Breaker opened", "d", "/")
        receiver.wait_for(1, timeout=60)
        first.kill()
        delivery = Delivery.objects.get()
        assert delivery.status == Delivery.Status.SENDING
        receiver.delay = 0
        workers.start()
        # Once the dead worker's lease runs out the sweeper hands the delivery to the new one.
        wait_until(lambda: services.sweep_deliveries() == 1, timeout=30, interval=0.5)
        wait_until(
            lambda: Delivery.objects.get(pk=delivery.pk).status == Delivery.Status.SENT,
            timeout=60,
        )
    assert len(receiver.requests) == 2
    assert all(r.verified for r in receiver.requests)
    ids = {r.headers["Workroom-Event-Id"] for r in receiver.requests}
    assert len(ids) == 1  # the same event id: a receiver can drop the duplicate
    assert Delivery.objects.get(pk=delivery.pk).attempts == 2
