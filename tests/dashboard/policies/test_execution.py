"""Retry policies evaluated in-process against the emulator's robots: the cap, backoff,
quiet hours, the hourly cap, the breaker, duplicates, and what is audited. Every retry is
counted where it lands: at the emulator's batch endpoint (`spy`)."""

from __future__ import annotations

import zoneinfo
from datetime import datetime, time, timedelta
from typing import Any

import pytest
import time_machine
from django.utils import timezone

from dashboard.audit.models import AuditEvent
from dashboard.mirror.models import FailureOccurrence, WorkItem
from dashboard.policies.execution import evaluate_workspace
from dashboard.policies.models import PolicyClaim, PolicyEvent, RetryPolicy
from dashboard.policies.signals import breaker_opened
from tests.dashboard.policies.conftest import seed_outage
from tests.dashboard.support.sync import full_sync

pytestmark = [pytest.mark.emulator]


def round_trip(ws: Any, emu: Any, **kwargs: Any) -> Any:
    """Evaluate, let the robots process what was retried, sync the outcome."""
    result = evaluate_workspace(ws.pk, **kwargs)
    emu.advance(3600)
    full_sync(ws)
    return result


def test_a_policy_retries_http_errors_up_to_its_cap_and_stops(
    db, ws, emu, spy, make_policy
):
    seed_outage(emu, 4, retry_failure_rate=1.0)
    full_sync(ws)
    policy = make_policy(max_attempts=3, breaker_min_sample=100)  # breaker aside
    sent = [round_trip(ws, emu).sent for _ in range(5)]
    assert sent == [4, 4, 4, 0, 0]
    per_item = spy.per_row("retry")
    assert len(per_item) == 4 and set(per_item.values()) == {3}
    skipped = PolicyClaim.objects.filter(policy=policy, state="skipped")
    assert skipped.count() == 4  # once per item, not once per evaluation
    assert {c.reason for c in skipped} == {"All 3 attempts used; left for a person."}
    assert set(
        FailureOccurrence.objects.filter(
            workspace=ws, retried_at__isnull=False
        ).values_list("retried_by", flat=True)
    ) == {"policy Retry ERP outages"}
    audit = AuditEvent.objects.filter(action="work_item.retry")
    assert audit.count() == 12
    assert set(audit.values_list("actor_label", flat=True)) == {
        "policy Retry ERP outages"
    }


def test_items_that_recover_are_not_retried_again(db, ws, emu, spy, make_policy):
    seed_outage(emu, 3, retry_failure_rate=0.0)
    full_sync(ws)
    make_policy()
    assert [round_trip(ws, emu).sent for _ in range(3)] == [3, 0, 0]
    assert WorkItem.objects.filter(workspace=ws, state="done").count() == 3
    assert set(FailureOccurrence.objects.values_list("outcome", flat=True)) == {"done"}


def test_only_matching_failures_are_retried(db, ws, emu, spy, make_policy):
    seed_outage(emu, 2, retry_failure_rate=1.0)
    seed_outage(
        emu,
        3,
        retry_failure_rate=1.0,
        name="Invoices",
        exception=("business", "INVALID_VAT", "VAT number DE12 is not valid"),
    )
    seed_outage(
        emu,
        2,
        retry_failure_rate=1.0,
        name="Payroll",
        exception=("application", "HTTP_ERROR", "HTTP 404 from https://hr.example.com"),
    )
    full_sync(ws)
    make_policy(
        process_names=["Order Intake", "Payroll"], message_pattern=r"HTTP 5\d\d"
    )
    assert evaluate_workspace(ws.pk).sent == 2
    retried = {emu.store.items.item_id(r) for r in spy.per_row("retry")}
    expected = WorkItem.objects.filter(workspace=ws, process__name="Order Intake")
    assert retried == set(expected.values_list("external_id", flat=True))


def test_backoff_waits_between_attempts(db, ws, emu, spy, make_policy):
    seed_outage(emu, 2, retry_failure_rate=1.0)
    start = timezone.now()
    with time_machine.travel(start, tick=True) as clock:
        full_sync(ws)
        make_policy(backoff_minutes=[5, 30])
        assert evaluate_workspace(ws.pk).sent == 0  # 5 minutes not yet passed
        clock.shift(timedelta(minutes=4))
        assert evaluate_workspace(ws.pk).sent == 0
        clock.shift(timedelta(minutes=2))
        assert round_trip(ws, emu).sent == 2  # the retries fail again; seen now
        # Attempt 2 is due 30 minutes after the new failure was seen.
        clock.shift(timedelta(minutes=29))
        assert evaluate_workspace(ws.pk).sent == 0
        clock.shift(timedelta(minutes=2))
        assert evaluate_workspace(ws.pk).sent == 2
    assert sum(spy.per_row("retry").values()) == 4


def test_quiet_hours_are_respected(db, ws, emu, spy, make_policy, team_a):
    team_a.time_zone = "Europe/Helsinki"  # quiet hours are in the team's zone
    team_a.save()
    seed_outage(emu, 2, retry_failure_rate=1.0)
    full_sync(ws)
    make_policy(quiet_start=time(22, 0), quiet_end=time(6, 0))
    helsinki = zoneinfo.ZoneInfo("Europe/Helsinki")
    today = timezone.now().astimezone(helsinki).date()
    night = datetime.combine(today, time(23, 30), tzinfo=helsinki)
    with time_machine.travel(night + timedelta(days=1), tick=True):
        assert evaluate_workspace(ws.pk).sent == 0
    with time_machine.travel(night + timedelta(days=1, hours=7), tick=True):
        assert evaluate_workspace(ws.pk).sent == 2
    assert sum(spy.per_row("retry").values()) == 2


def test_the_hourly_cap_limits_items_per_policy(db, ws, emu, spy, make_policy):
    seed_outage(emu, 5, retry_failure_rate=1.0)
    full_sync(ws)
    make_policy(max_items_per_hour=3)
    assert evaluate_workspace(ws.pk).sent == 3
    assert evaluate_workspace(ws.pk).sent == 0
    assert (
        evaluate_workspace(ws.pk, now=timezone.now() + timedelta(minutes=61)).sent == 2
    )


def test_the_breaker_opens_when_retries_keep_failing(db, ws, emu, spy, make_policy):
    seed_outage(emu, 4, retry_failure_rate=1.0)
    full_sync(ws)
    policy = make_policy(
        max_attempts=5,
        breaker_window=10,
        breaker_min_sample=4,
        breaker_min_success_percent=50,
    )
    heard: list[str] = []

    def listen(sender: Any, policy: RetryPolicy, reason: str, **kwargs: Any) -> None:
        heard.append(reason)

    breaker_opened.connect(listen)
    try:
        first = round_trip(ws, emu)
        second = round_trip(ws, emu)
        third = round_trip(ws, emu)
    finally:
        breaker_opened.disconnect(listen)
    assert (first.sent, second.sent, third.sent) == (4, 0, 0)
    policy.refresh_from_db()
    assert policy.state == RetryPolicy.State.BREAKER_OPEN
    assert "only 0 of the last 4 retries succeeded" in policy.state_reason
    assert len(heard) == 1
    assert PolicyEvent.objects.filter(policy=policy, kind="breaker_opened").count() == 1
    assert AuditEvent.objects.filter(action="policy.breaker_opened").count() == 1
    assert sum(spy.per_row("retry").values()) == 4


def test_the_breaker_opens_when_the_same_items_keep_failing(
    db, ws, emu, spy, make_policy
):
    seed_outage(emu, 3, retry_failure_rate=1.0)
    full_sync(ws)
    policy = make_policy(
        max_attempts=2, breaker_min_sample=100, breaker_exhausted_items=3
    )
    assert [round_trip(ws, emu).sent for _ in range(3)] == [3, 3, 0]
    policy.refresh_from_db()
    assert policy.state == RetryPolicy.State.BREAKER_OPEN
    assert "3 items failed again after all 2 attempts" in policy.state_reason


def test_a_repeated_evaluation_never_retries_twice(db, ws, emu, spy, make_policy):
    seed_outage(emu, 6, retry_failure_rate=1.0)
    full_sync(ws)
    make_policy()
    assert evaluate_workspace(ws.pk).sent == 6
    assert evaluate_workspace(ws.pk).sent == 0
    assert set(spy.per_row("retry").values()) == {1}


def test_a_disabled_or_paused_policy_does_nothing(db, ws, emu, spy, make_policy, alice):
    from dashboard.audit.services import Actor
    from dashboard.policies import services

    seed_outage(emu, 2, retry_failure_rate=1.0)
    full_sync(ws)
    policy = make_policy(enable=False)
    assert evaluate_workspace(ws.pk).sent == 0
    services.change_state(Actor.of(alice), policy, "enable")
    services.change_state(Actor.of(alice), policy, "pause")
    assert evaluate_workspace(ws.pk).sent == 0
    assert spy.per_row() == {}


def test_a_policy_stops_when_its_acting_admin_loses_the_operator_role(
    db, ws, emu, spy, make_policy, alice, team_a
):
    from dashboard.accounts.models import Membership, Role

    seed_outage(emu, 2, retry_failure_rate=1.0)
    full_sync(ws)
    policy = make_policy()
    Membership.objects.filter(team=team_a, user=alice).update(role=Role.VIEWER)
    assert evaluate_workspace(ws.pk).sent == 0
    assert spy.per_row() == {}
    # Nothing claimed: the failures stay for when an admin enables the policy again.
    assert not PolicyClaim.objects.filter(policy=policy).exists()
    policy.refresh_from_db()
    assert policy.state == RetryPolicy.State.PAUSED
    assert "operator role is needed" in policy.state_reason
    assert AuditEvent.objects.filter(action="policy.pause").count() == 1


def test_an_expired_claim_is_reconciled_not_resent(
    db, ws, emu, spy, make_policy, settings
):
    """A claim whose evaluation died after Control Room applied the retry is recorded as
    sent from a re-read; one that died before sending is released and sent once."""
    from dashboard.workspaces.services import build_client

    seed_outage(emu, 2, retry_failure_rate=1.0)
    full_sync(ws)
    policy = make_policy()
    items = list(WorkItem.objects.filter(workspace=ws).order_by("pk"))
    occ = {o.work_item_id: o for o in FailureOccurrence.objects.filter(workspace=ws)}
    past = timezone.now() - timedelta(minutes=10)
    for item in items:
        PolicyClaim.objects.create(
            policy=policy,
            workspace=ws,
            work_item=item,
            occurrence_number=1,
            occurrence=occ[item.pk],
            failed_at=occ[item.pk].failed_at,
            attempt=1,
            lease_owner="dead-worker",
            lease_until=past,
        )
    # The dead evaluation got the first item's retry through, not the second's.
    with build_client(ws) as client:
        client.work_items.batch("retry", [items[0].external_id])
    result = evaluate_workspace(ws.pk)
    assert result.reconciled == 2
    per_row = spy.per_row("retry")
    assert {emu.store.items.item_id(r) for r in per_row} == {
        i.external_id for i in items
    }
    assert set(per_row.values()) == {1}
    states = dict(PolicyClaim.objects.values_list("work_item_id", "state"))
    assert states == {items[0].pk: "sent", items[1].pk: "sent"}
    assert (
        AuditEvent.objects.filter(
            action="work_item.retry", summary__contains="interrupted evaluation"
        ).count()
        == 1
    )


def test_failures_are_read_in_batches_until_the_hourly_room_is_filled(
    db, ws, emu, spy, make_policy, monkeypatch
):
    from dashboard.policies import execution

    monkeypatch.setattr(execution, "CANDIDATE_BATCH", 2)
    seed_outage(emu, 7, retry_failure_rate=1.0)
    full_sync(ws)
    make_policy(max_items_per_hour=3)
    assert evaluate_workspace(ws.pk).sent == 3
    later = timezone.now() + timedelta(minutes=61)
    assert evaluate_workspace(ws.pk, now=later).sent == 3
    assert evaluate_workspace(ws.pk, now=later + timedelta(minutes=61)).sent == 1
    assert set(spy.per_row("retry").values()) == {1}


def test_the_workspace_throttle_is_shared_with_bulk_operations(
    db, ws, emu, spy, make_policy, settings
):
    from dashboard.bulk.models import BulkThrottle

    settings.WORKROOM_BULK_MAX_ITEMS_PER_MINUTE = 4
    seed_outage(emu, 6, retry_failure_rate=1.0)
    full_sync(ws)
    make_policy()
    # A bulk operation holds the next minute of this workspace's send schedule.
    BulkThrottle.objects.create(
        workspace=ws, next_free_at=timezone.now() + timedelta(seconds=60)
    )
    assert evaluate_workspace(ws.pk).sent == 0
    later = timezone.now() + timedelta(seconds=61)
    assert evaluate_workspace(ws.pk, now=later).sent == 4  # one minute's worth
    reserved = BulkThrottle.objects.get(pk=ws.pk).next_free_at
    assert reserved == later + timedelta(seconds=60)


def test_old_claims_are_pruned_once_the_item_no_longer_fails(
    db, ws, emu, spy, make_policy, settings
):
    from dashboard.policies.hooks import prune

    seed_outage(emu, 2, retry_failure_rate=1.0)
    seed_outage(emu, 2, retry_failure_rate=0.0, name="Recovers")
    full_sync(ws)
    make_policy()
    assert round_trip(ws, emu).sent == 4
    later = timezone.now() + timedelta(days=settings.WORKROOM_SYNC_HISTORY_DAYS + 1)
    with time_machine.travel(later, tick=False):
        assert prune() == 2  # the recovered items' claims; the failing ones still count
    left = PolicyClaim.objects.select_related("work_item__process")
    assert {c.work_item.process.name for c in left} == {"Order Intake"}


def test_retries_go_out_in_chunks_and_a_429_gives_the_rest_back(
    db, ws, emu, spy, make_policy, settings
):
    settings.WORKROOM_BULK_CHUNK_SIZE = 4
    seed_outage(emu, 10, retry_failure_rate=1.0)
    full_sync(ws)
    make_policy()
    # Control Room answers the first batch call with 429: nothing of any chunk is applied.
    emu.faults.add(
        kind="rate_limit",
        path=r"/work-items/batch$",
        retry_after="30",
        rate=1.0,
        times=1,
    )
    first = evaluate_workspace(ws.pk)
    assert first.sent == 0 and "asked to wait" in " ".join(first.notes)
    assert not PolicyClaim.objects.exists()  # nothing was applied: all given back
    second = evaluate_workspace(ws.pk)
    assert second.sent == 10
    assert [len(rows) for _op, rows in spy.calls] == [4, 4, 2]
    assert set(spy.per_row("retry").values()) == {1}


def test_items_a_person_marked_verified_are_left_alone(
    db, ws, emu, spy, make_policy, alice
):
    from dashboard.audit.services import Actor
    from dashboard.workitems import collab

    seed_outage(emu, 3, retry_failure_rate=1.0)
    full_sync(ws)
    verified = WorkItem.objects.filter(workspace=ws, state="failed").order_by("pk")[:1]
    collab.set_review(list(verified), "verified", Actor.of(alice))
    make_policy(max_attempts=3)
    left_alone = verified[0]
    assert round_trip(ws, emu).sent == 2
    assert sum(spy.per_row("retry").values()) == 2
    assert not PolicyClaim.objects.filter(work_item=left_alone).exists()
    left_alone.refresh_from_db()
    assert left_alone.state == "failed"
