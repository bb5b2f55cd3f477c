"""Alerts end to end in-process: conditions over a mirror synced from the emulator, exactly one
message per condition at a real SMTP server and a signature-checking HTTP receiver, reminders
and recoveries (time moved with `now=`), mute, pushed events, retries of a failing channel."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from dashboard.alerts import channels, services
from dashboard.alerts.models import (
    Alert,
    AlertEvent,
    Channel,
    Condition,
    Delivery,
    Rule,
)
from dashboard.mirror.models import Process, ProcessRun, SyncRun, WorkItem
from dashboard.mirror.services.syncruns import sync_request, sync_run_execute
from dashboard.workspaces import services as workspace_services
from robocorp_api.emulator import ALL_PERMISSIONS
from tests.dashboard.alerts.conftest import email_channel, webhook_channel
from tests.dashboard.mirror.helpers import add_runs
from tests.dashboard.support.sync import full_sync
from tests.dashboard.support.workspaces import workspace_on_emulator

pytestmark = [pytest.mark.emulator]


def deliver_pending() -> list[str]:
    """Run every pending delivery twice (a duplicated task): what the worker would do."""
    outcomes = []
    pending = Delivery.objects.filter(status=Delivery.Status.PENDING).order_by("pk")
    for pk in pending.values_list("pk", flat=True):
        outcomes.append(services.deliver(pk).status)
        assert services.deliver(pk).status == "not-claimed"
    return outcomes


def spike_rule(team: Any, *chans: Channel, **kwargs: Any) -> Rule:
    rule = Rule.objects.create(
        team=team,
        name="Failure spike",
        condition=Condition.FAILURE_SPIKE,
        threshold=2,
        window_minutes=120,
        **kwargs,
    )
    rule.channels.set(chans)
    return rule


def test_a_failure_spike_notifies_once_then_reminds_and_recovers(
    ws, team_a, emu, smtp, receiver, with_emails
):
    add_runs(emu, processes=1, runs=1, items=5, failure_rate=1.0)
    full_sync(ws)
    process = Process.objects.get(workspace=ws)
    assert WorkItem.objects.filter(workspace=ws, state="failed").count() == 5
    rule = spike_rule(
        team_a,
        email_channel(team_a),
        webhook_channel(team_a, receiver),
        renotify_minutes=30,
    )
    now = timezone.now()

    assert services.evaluate_rule(rule, now=now).opened == 1
    assert services.evaluate_rule(rule, now=now + timedelta(minutes=1)).opened == 0
    assert deliver_pending() == ["sent", "sent"]
    assert len(smtp.messages) == 1
    rcpts, mail = smtp.messages[0]
    assert sorted(rcpts) == sorted(with_emails)
    assert "5 failures of " + process.name in str(mail["Subject"])
    text = smtp.text(0)
    assert f"/items/?workspace={ws.pk}&process={process.pk}&state=failed" in text
    assert (
        text.count("http://testserver") == 0 and "http://localhost:8000/items/" in text
    )
    [hook] = receiver.requests
    assert hook.verified
    assert hook.json()["kind"] == "opened" and hook.json()["link"].startswith("http")

    # Still failing 31 minutes later: one reminder, however many evaluations see it.
    later = now + timedelta(minutes=31)
    assert services.evaluate_rule(rule, now=later).reminded == 1
    assert services.evaluate_rule(rule, now=later).reminded == 0
    deliver_pending()
    assert smtp.subjects()[1].startswith("[Workroom] Still open: ")

    # Outside the window the spike is over: one "recovered" message.
    over = now + timedelta(hours=5)
    assert services.evaluate_rule(rule, now=over).recovered == 1
    assert services.evaluate_rule(rule, now=over).recovered == 0
    deliver_pending()
    assert smtp.subjects()[2].startswith("[Workroom] Recovered: ")
    assert [r.json()["kind"] for r in receiver.requests] == [
        "opened",
        "reminder",
        "recovered",
    ]
    assert all(r.verified for r in receiver.requests)
    assert len({r.headers["Workroom-Event-Id"] for r in receiver.requests}) == 3
    assert Alert.objects.get(rule=rule).state == Alert.State.RECOVERED


def test_a_muted_rule_records_what_happened_and_sends_nothing(
    ws, team_a, emu, smtp, with_emails
):
    add_runs(emu, processes=1, runs=1, items=4, failure_rate=1.0)
    full_sync(ws)
    rule = spike_rule(team_a, email_channel(team_a))
    now = timezone.now()
    services.mute(rule, now + timedelta(hours=1))
    assert services.evaluate_rule(rule, now=now).opened == 1
    event = AlertEvent.objects.get(alert__rule=rule)
    assert event.muted and not event.deliveries.exists()
    services.mute(rule, None)
    assert services.evaluate_rule(rule, now=now + timedelta(hours=6)).recovered == 1
    deliver_pending()
    assert smtp.subjects() == [
        f"[Workroom] Recovered: {Alert.objects.get(rule=rule).title}"
    ]


def test_a_user_who_muted_everything_or_opted_out_gets_no_mail(
    ws, team_a, emu, smtp, with_emails, alice, bob
):
    from dashboard.alerts.models import Preference

    Preference.objects.create(
        user=alice, team=team_a, muted_until=timezone.now() + timedelta(days=1)
    )
    Preference.objects.create(user=bob, team=team_a, email_alerts=False)
    add_runs(emu, processes=1, runs=1, items=4, failure_rate=1.0)
    full_sync(ws)
    rule = spike_rule(
        team_a, email_channel(team_a, extra_recipients="oncall@example.com")
    )
    services.evaluate_rule(rule)
    deliver_pending()
    [(rcpts, _mail)] = smtp.messages
    assert sorted(rcpts) == ["carol@example.com", "oncall@example.com"]


@pytest.mark.django_db(transaction=True)
def test_evaluations_at_the_same_time_open_the_alert_once(ws, team_a, emu, alert_queue):
    add_runs(emu, processes=1, runs=1, items=4, failure_rate=1.0)
    full_sync(ws)
    rule = spike_rule(team_a, email_channel(team_a))
    start = threading.Barrier(4)
    errors: list[BaseException] = []

    def evaluate() -> None:
        try:
            start.wait(timeout=30)
            services.evaluate_rule(Rule.objects.get(pk=rule.pk))
        except BaseException as err:  # pragma: no cover - reported below
            errors.append(err)
        finally:
            connection.close()

    threads = [threading.Thread(target=evaluate) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == []
    assert Alert.objects.filter(rule=rule).count() == 1
    assert AlertEvent.objects.filter(alert__rule=rule).count() == 1
    assert Delivery.objects.filter(event__alert__rule=rule).count() == 1


def test_a_rejected_key_alerts_through_slack_and_teams_and_recovers_after_a_new_key(
    team_a, emulator_factory, receiver
):
    other = emulator_factory(workspace_id="rejecting-workspace")
    key = other.create_key(ALL_PERMISSIONS)
    ws = workspace_on_emulator(other, team_a, name="Rejecting", api_key=key)
    slack = webhook_channel(team_a, receiver, Channel.Kind.SLACK)
    teams = webhook_channel(team_a, receiver, Channel.Kind.TEAMS)
    rule = Rule.objects.create(
        team=team_a, name="Keys", condition=Condition.KEY_REJECTED
    )
    rule.channels.set([slack, teams])
    assert services.evaluate_workspace(ws.pk).opened == 0

    other.store.keys.pop(key)  # Control Room now answers 401
    sync_run_execute(
        sync_run_id=sync_request(workspace=ws, trigger=SyncRun.Trigger.BEAT).pk
    )
    ws.refresh_from_db()
    assert ws.needs_attention
    assert services.evaluate_workspace(ws.pk).opened == 1
    assert services.evaluate_workspace(ws.pk).opened == 0
    deliver_pending()
    bodies = sorted((r.json() for r in receiver.requests), key=lambda b: "type" in b)
    slack_body, teams_body = bodies
    assert "Rejecting" in slack_body["text"] and "/workspaces/" in slack_body["text"]
    card = teams_body["attachments"][0]
    assert card["contentType"] == "application/vnd.microsoft.card.adaptive"
    assert card["content"]["actions"][0]["url"].endswith(f"/workspaces/{ws.pk}/")
    assert not any(channels.SIGNATURE_HEADER in r.headers for r in receiver.requests)

    new_key = other.create_key(ALL_PERMISSIONS)
    workspace_services.replace_key(ws, team_a.memberships.first().user, api_key=new_key)
    assert services.evaluate_workspace(ws.pk).recovered == 1


def test_a_pushed_breaker_event_opens_once_per_key_and_mails_an_absolute_link(
    team_a, team_b, smtp, with_emails
):
    mail = email_channel(team_a)
    rule = Rule.objects.create(
        team=team_a,
        name="Breakers",
        condition=Condition.EVENT,
        event_kind="policy_breaker_opened",
    )
    rule.channels.set([mail])
    other = Rule.objects.create(
        team=team_b,
        name="B",
        condition=Condition.EVENT,
        event_kind="policy_breaker_opened",
    )
    args = (
        "policy:7",
        "Retry policy 'ERP 502' paused: its breaker opened",
        "2 of 10 retries succeeded.",
        "/items/?exception_code=HTTP_502",
    )
    assert services.emit(team_a, "policy_breaker_opened", *args) == 1
    assert services.emit(team_a, "policy_breaker_opened", *args) == 0
    assert services.emit(team_a, "worker_offline", "w", "t", "d", "/") == 0
    assert not Alert.objects.filter(rule=other).exists()
    deliver_pending()
    [(_rcpts, message)] = smtp.messages
    assert "breaker opened" in str(message["Subject"])
    html = smtp.text(0, "html")
    assert 'href="http://localhost:8000/items/?exception_code=HTTP_502"' in html
    assert services.resolve(team_a, "policy_breaker_opened", "policy:7") == 1
    deliver_pending()
    assert smtp.subjects()[1].startswith("[Workroom] Recovered: ")


def test_a_new_failure_group_alerts_only_for_groups_not_seen_before(ws, team_a, emu):
    add_runs(emu, processes=1, runs=1, items=6, failure_rate=1.0)
    full_sync(ws)
    rule = Rule.objects.create(
        team=team_a, name="New groups", condition=Condition.NEW_GROUP
    )
    assert (
        services.evaluate_rule(rule).opened == 0
    )  # the first look learns today's groups
    rule.refresh_from_db()
    assert rule.baselined_at is not None
    assert services.evaluate_rule(rule).opened == 0

    proc = emu.store.add_process(
        "Invoices", steps=["Read"], item_seconds=1.0, failure_rate=1.0
    )
    emu.store.create_run(proc.id, payloads=[{"n": 1}, {"n": 2}])
    emu.advance(3600)
    full_sync(ws)
    invoices = Process.objects.get(workspace=ws, name="Invoices")
    groups = (
        WorkItem.objects.filter(process=invoices, state="failed")
        .values_list("exception_type", "exception_code", "message_signature")
        .distinct()
        .count()
    )
    assert services.evaluate_rule(rule).opened == groups >= 1
    assert services.evaluate_rule(rule).opened == 0
    alert = Alert.objects.filter(rule=rule).first()
    assert alert is not None and "Invoices" in alert.title
    assert f"process={invoices.pk}" in alert.link


def test_a_failing_channel_is_retried_and_a_refusing_one_given_up(
    team_a, receiver, settings
):
    settings.WORKROOM_ALERT_MAX_RETRIES = 2
    rule = Rule.objects.create(
        team=team_a, name="E", condition=Condition.EVENT, event_kind="k"
    )
    rule.channels.set([webhook_channel(team_a, receiver)])
    receiver.status = 503
    services.emit(team_a, "k", "one", "T", "D", "/")
    delivery = Delivery.objects.get()
    outcome = services.deliver(delivery.pk)
    assert outcome.status == "pending" and outcome.retry_in is not None
    delivery.refresh_from_db()
    assert delivery.last_error == "The receiver answered HTTP 503."
    assert "127.0.0.1" not in delivery.last_error
    receiver.status = 200
    assert services.deliver(delivery.pk).status == "not-claimed"  # backing off
    Delivery.objects.filter(pk=delivery.pk).update(due_at=timezone.now())
    assert services.deliver(delivery.pk).status == "sent"
    assert services.deliver(delivery.pk).status == "not-claimed"

    receiver.status = 404
    services.emit(team_a, "k", "two", "T", "D", "/")
    second = Delivery.objects.exclude(pk=delivery.pk).get()
    assert services.deliver(second.pk).status == "failed"
    assert len(receiver.requests) == 3


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("https://hooks.slack.com/services/T0/B0/secret", True),
        ("http://hooks.example.com/x", False),
        ("https://10.0.0.5/hook", False),
        ("https://user:pw@example.com/hook", False),
        ("http://127.0.0.1:8080/hook", True),
        ("ftp://example.com/x", False),
        ("not a url", False),
    ],
)
def test_webhook_urls_are_validated(url, ok):
    if ok:
        assert channels.validate_url(url) == url
    else:
        with pytest.raises(channels.ChannelError):
            channels.validate_url(url)


def test_the_signature_covers_timestamp_and_body():
    body = b'{"a":1}'
    header = channels.sign("s3cret", body, int(timezone.now().timestamp()))
    assert channels.verify("s3cret", body, header)
    assert not channels.verify("s3cret", body + b" ", header)
    assert not channels.verify("other", body, header)
    old = channels.sign("s3cret", body, int(timezone.now().timestamp()) - 3600)
    assert not channels.verify("s3cret", body, old)


def test_a_rule_filtered_to_one_workspace_ignores_the_syncs_of_another(
    ws, team_a, emu, emulator_factory
):
    add_runs(emu, processes=1, runs=1, items=4, failure_rate=1.0)
    full_sync(ws)
    other = workspace_on_emulator(
        emulator_factory(workspace_id="other-ws"), team_a, name="Other"
    )
    rule = spike_rule(team_a, filter_query=f"workspace={ws.pk}&state=failed")
    assert services.evaluate_workspace(other.pk).opened == 0
    rule.refresh_from_db()
    assert rule.last_error == ""
    assert services.evaluate_workspace(ws.pk).opened == 1
    rule.filter_query = "workspace=999999"
    rule.save()
    assert services.evaluate_workspace(ws.pk).recovered == 0
    rule.refresh_from_db()
    assert rule.last_error.startswith("The filter is not valid")


def test_the_sweeper_resends_lost_and_abandoned_deliveries_only(
    team_a, receiver, redis_client, alert_queue
):
    rule = Rule.objects.create(
        team=team_a, name="E", condition=Condition.EVENT, event_kind="k"
    )
    rule.channels.set([webhook_channel(team_a, receiver)])
    services.emit(team_a, "k", "lost", "T", "D", "/")
    services.emit(team_a, "k", "held", "T", "D", "/")
    lost, held = Delivery.objects.order_by("pk")
    now = timezone.now()
    # `held` is being sent by a live worker; `lost` never reached one.
    Delivery.objects.filter(pk=held.pk).update(
        status=Delivery.Status.SENDING,
        lease_owner="w1",
        lease_until=now + timedelta(minutes=2),
    )
    assert services.sweep_deliveries(now=now) == 0  # not overdue yet
    assert services.sweep_deliveries(now=now + timedelta(minutes=2)) == 1
    assert redis_client.llen(alert_queue) == 1
    assert services.deliver(held.pk).status == "not-claimed"  # its lease is alive

    # The worker holding `held` died: once its lease ran out the row is sent again.
    Delivery.objects.filter(pk=held.pk).update(lease_until=now - timedelta(seconds=1))
    assert services.sweep_deliveries(now=now) == 1
    assert services.deliver(held.pk).status == "sent"
    assert services.deliver(lost.pk).status == "sent"
    assert len(receiver.requests) == 2


def test_mail_no_one_wants_is_skipped_and_says_why(team_a, smtp):
    rule = Rule.objects.create(
        team=team_a, name="E", condition=Condition.EVENT, event_kind="k"
    )
    rule.channels.set([email_channel(team_a)])  # the members have no address
    services.emit(team_a, "k", "one", "T", "D", "/")
    delivery = Delivery.objects.get()
    assert services.deliver(delivery.pk).status == Delivery.Status.SKIPPED
    delivery.refresh_from_db()
    assert delivery.last_error.startswith("No one wants this mail")
    assert smtp.messages == []


def test_slack_text_is_escaped():
    message = services.channels.Message(
        "opened",
        "<b> & co",
        "t",
        "a > b",
        "http://x/?a=1&b=2",
        "T",
        "R",
        "alert-event-1",
    )
    block = channels.slack_payload(message)["blocks"][0]["text"]["text"]
    assert "&lt;b&gt; &amp; co" in block and "a &gt; b" in block
    assert "<http://x/?a=1&amp;b=2|Open in Workroom>" in block


def test_a_sent_webhook_url_and_secret_are_masked_in_logs(team_a, receiver):
    from dashboard.lib.redact import redact

    rule = Rule.objects.create(
        team=team_a, name="E", condition=Condition.EVENT, event_kind="k"
    )
    rule.channels.set([webhook_channel(team_a, receiver)])
    services.emit(team_a, "k", "one", "T", "D", "/")
    assert services.deliver(Delivery.objects.get().pk).status == "sent"
    path = receiver.url.split(":", 2)[2].split("/", 1)[1]
    line = f'"POST /{path} HTTP/1.1" 200 secret is {receiver.secret}'
    masked = redact(line)
    assert path not in masked and receiver.secret not in masked


def test_syncs_finishing_together_queue_one_evaluation(
    ws, team_a, redis_client, alert_queue
):
    from django.core.cache import cache

    from dashboard.alerts.receivers import _enqueue

    cache.delete(f"alerts:evaluate:{ws.pk}")
    _enqueue(ws.pk)
    assert redis_client.llen(alert_queue) == 0  # no rule watches the workspace: no task
    Rule.objects.create(team=team_a, name="Keys", condition=Condition.KEY_REJECTED)
    _enqueue(ws.pk)
    _enqueue(ws.pk)
    # One message (its countdown is kept by the worker that takes it) for both syncs.
    assert redis_client.llen(alert_queue) == 1
    assert cache.get(f"alerts:evaluate:{ws.pk}") == 1


def test_rotating_the_encryption_key_reseals_channel_secrets(
    team_a, receiver, settings
):
    from cryptography.fernet import Fernet
    from django.core.management import call_command

    channel = webhook_channel(team_a, receiver)
    old_keys = list(settings.WORKROOM_ENCRYPTION_KEYS)
    settings.WORKROOM_ENCRYPTION_KEYS = [
        ("k2", Fernet.generate_key().decode()),
        *old_keys,
    ]
    call_command("rotate_alert_channel_keys")
    channel.refresh_from_db()
    assert channel.url_ciphertext.startswith("v1:fernet:k2:")
    assert channel.secret_ciphertext.startswith("v1:fernet:k2:")
    settings.WORKROOM_ENCRYPTION_KEYS = settings.WORKROOM_ENCRYPTION_KEYS[
        :1
    ]  # old key gone
    rule = Rule.objects.create(
        team=team_a, name="E", condition=Condition.EVENT, event_kind="k"
    )
    rule.channels.set([channel])
    services.emit(team_a, "k", "one", "T", "D", "/")
    assert services.deliver(Delivery.objects.get().pk).status == "sent"
    assert receiver.requests[0].verified


def test_a_stuck_run_and_long_pending_items_alert_and_recover(ws, team_a, emu):
    slow = emu.store.add_process("Slow", steps=["Read"], item_seconds=100_000.0)
    emu.store.create_run(slow.id, payloads=[{"n": n} for n in range(4)])
    emu.advance(60)
    full_sync(ws)
    run = ProcessRun.objects.get(workspace=ws, process__name="Slow")
    assert run.state == "in_progress"
    pending = WorkItem.objects.filter(workspace=ws, state="pending").count()
    assert pending >= 1
    stuck = Rule.objects.create(
        team=team_a, name="Stuck", condition=Condition.RUN_STUCK, window_minutes=30
    )
    waiting = Rule.objects.create(
        team=team_a,
        name="Waiting",
        condition=Condition.ITEMS_PENDING,
        window_minutes=30,
        threshold=0,
    )
    started = run.started_at or run.created_at
    assert (
        services.evaluate_rule(stuck, now=started + timedelta(minutes=29)).opened == 0
    )
    assert (
        services.evaluate_rule(stuck, now=started + timedelta(minutes=31)).opened == 1
    )
    [alert] = Alert.objects.filter(rule=stuck)
    assert alert.link.endswith(f"/workspaces/{ws.pk}/runs/{run.external_id}/")
    later = timezone.now() + timedelta(hours=2)
    assert services.evaluate_rule(waiting, now=later).opened == 1
    [waiting_alert] = Alert.objects.filter(rule=waiting)
    assert (
        f"{pending} item" in waiting_alert.title
        and "state=pending" in waiting_alert.link
    )

    emu.advance(10_000_000)  # the robot finishes: the run and its items are settled
    full_sync(ws)
    assert services.evaluate_rule(stuck, now=later).recovered == 1
    assert services.evaluate_rule(waiting, now=later).recovered == 1


def test_a_sync_failing_longer_than_t_alerts_and_recovers_after_a_good_sync(
    team_a, emulator_factory
):
    other = emulator_factory(workspace_id="failing-sync")
    key = other.create_key(ALL_PERMISSIONS)
    ws = workspace_on_emulator(other, team_a, name="Failing", api_key=key)
    rule = Rule.objects.create(
        team=team_a, name="Sync", condition=Condition.SYNC_FAILING, window_minutes=30
    )
    other.store.keys.pop(key)
    sync_run_execute(
        sync_run_id=sync_request(workspace=ws, trigger=SyncRun.Trigger.BEAT).pk
    )
    soon, later = (
        timezone.now() + timedelta(minutes=5),
        timezone.now() + timedelta(minutes=31),
    )
    assert services.evaluate_rule(rule, now=soon).opened == 0  # failing, not yet for T
    assert services.evaluate_rule(rule, now=later).opened == 1
    assert "1 failed syncs in a row; last error: Control Room rejected" in (
        Alert.objects.get(rule=rule).detail
    )

    workspace_services.replace_key(
        ws, team_a.memberships.first().user, api_key=other.create_key(ALL_PERMISSIONS)
    )
    ok = sync_request(workspace=ws, trigger=SyncRun.Trigger.MANUAL)
    sync_run_execute(sync_run_id=ok.pk)
    assert SyncRun.objects.get(pk=ok.pk).status == SyncRun.Status.SUCCEEDED
    assert services.evaluate_rule(rule, now=later).recovered == 1


def test_the_minute_beat_reminds_and_recovers_as_the_clock_moves(
    ws, team_a, emu, smtp, with_emails
):
    import time_machine

    add_runs(emu, processes=1, runs=1, items=4, failure_rate=1.0)
    full_sync(ws)
    rule = spike_rule(team_a, email_channel(team_a), renotify_minutes=60)
    with time_machine.travel(timezone.now(), tick=False) as clock:
        assert services.evaluate_all().opened == 1
        clock.shift(timedelta(minutes=59))
        assert services.evaluate_all().reminded == 0
        clock.shift(timedelta(minutes=2))
        assert services.evaluate_all().reminded == 1
        clock.shift(timedelta(hours=6))
        assert services.evaluate_all().recovered == 1
        assert services.evaluate_all() == services.Tally()
        deliver_pending()
    opened, reminder, recovered = smtp.subjects()
    assert opened.startswith("[Workroom] 4 failures of ")
    assert reminder == opened.replace("[Workroom] ", "[Workroom] Still open: ")
    assert recovered == opened.replace("[Workroom] ", "[Workroom] Recovered: ")
    assert rule.alerts.get().state == Alert.State.RECOVERED


def test_old_recovered_alerts_are_pruned_and_open_ones_kept(team_a, settings):
    from dashboard.alerts.models import DigestRun

    settings.WORKROOM_ALERT_HISTORY_DAYS = 30
    rule = Rule.objects.create(
        team=team_a, name="E", condition=Condition.EVENT, event_kind="k"
    )
    long_ago = timezone.now() - timedelta(days=40)
    services.emit(team_a, "k", "old", "T", "D", "/", now=long_ago)
    services.resolve(team_a, "k", "old", now=long_ago)
    services.emit(team_a, "k", "still-open", "T", "D", "/", now=long_ago)
    services.emit(team_a, "k", "recent", "T", "D", "/")
    services.resolve(team_a, "k", "recent")
    DigestRun.objects.create(team=team_a, day=long_ago.date())
    assert services.prune_history() == {"alerts": 1, "digests": 1}
    assert sorted(Alert.objects.filter(rule=rule).values_list("key", flat=True)) == [
        "recent",
        "still-open",
    ]
    assert not AlertEvent.objects.filter(alert__key="old").exists()


def test_a_title_with_a_newline_still_mails(team_a, smtp, with_emails):
    rule = Rule.objects.create(
        team=team_a, name="E", condition=Condition.EVENT, event_kind="k"
    )
    rule.channels.set([email_channel(team_a)])
    services.emit(team_a, "k", "one", "Process\nInjected: header", "D", "/")
    assert deliver_pending() == ["sent"]
    assert smtp.subjects() == ["[Workroom] Process Injected: header"]


def test_items_waiting_while_every_worker_is_offline_alert_and_recover(
    ws, team_a, emu, settings
):
    settings.WORKROOM_SYNC_WORKERS_SECONDS = 0  # read the workers on every sync
    process = emu.store.add_process("Invoices", steps=["Post"], failure_rate=0.0)
    rule = Rule.objects.create(
        team=team_a, name="No robot", condition=Condition.NO_WORKER
    )
    full_sync(ws)
    assert services.evaluate_rule(rule).opened == 0  # all workers online
    for name in ("worker-eu1-01", "worker-eu1-02"):
        emu.set_worker_online(name, False)
    emu.store.create_run(process.id, payloads=[{"n": n} for n in range(3)])
    emu.advance(30)
    full_sync(ws)
    assert services.evaluate_rule(rule).opened == 1
    assert services.evaluate_rule(rule).opened == 0  # once per condition
    [alert] = Alert.objects.filter(rule=rule)
    assert "items wait, no worker is online" in alert.title
    assert alert.link.endswith(f"/workspaces/{ws.pk}/workers/")
    emu.set_worker_online("worker-eu1-02", True)
    full_sync(ws)
    services.evaluate_rule(rule)
    alert.refresh_from_db()
    assert alert.state == Alert.State.RECOVERED
