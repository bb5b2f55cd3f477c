"""The policy pages: who may read and write, the form (validation, dry run with and without
HTMX), state changes, and the explorer / item page lines policies add."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from dashboard.audit.models import AuditEvent
from dashboard.policies.execution import evaluate_workspace
from dashboard.policies.models import PolicyEvent, RetryPolicy
from tests.dashboard.policies.conftest import seed_outage
from tests.dashboard.support.sync import full_sync

pytestmark = [pytest.mark.emulator]

FORM = {
    "name": "ERP outages",
    "process_names": "Order Intake",
    "exception_type": "",
    "exception_codes": "HTTP_ERROR",
    "message_pattern": r"HTTP 5\d\d",
    "backoff": "5, 30",
    "max_attempts": "3",
    "max_items_per_hour": "100",
    "breaker_window": "20",
    "breaker_min_sample": "5",
    "breaker_min_success_percent": "30",
    "breaker_exhausted_items": "10",
}


def test_a_team_admin_creates_a_disabled_policy_then_enables_it(
    db, client_for, alice, team_a, ws
):
    client = client_for(alice)
    url = reverse("policies-new", args=[team_a.slug])
    assert client.get(url).status_code == 200
    response = client.post(url, FORM | {"workspaces": [ws.pk]})
    assert response.status_code == 302
    policy = RetryPolicy.objects.get(team=team_a)
    assert policy.state == RetryPolicy.State.DISABLED
    assert policy.backoff_minutes == [5, 30]
    assert policy.exception_codes == ["HTTP_ERROR"]
    assert policy.process_names == ["Order Intake"]
    assert list(policy.workspaces.all()) == [ws]
    state_url = reverse("policies-state", args=[policy.pk])
    assert client.post(state_url, {"transition": "enable"}).status_code == 302
    policy.refresh_from_db()
    assert policy.state == RetryPolicy.State.ENABLED and policy.acting_user == alice
    assert set(AuditEvent.objects.values_list("action", flat=True)) >= {
        "policy.created",
        "policy.enable",
    }
    page = client.get(reverse("policies-detail", args=[policy.pk])).content.decode()
    assert "Enabled by alice" in page and "Created by alice" in page


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("message_pattern", r"(a)\1", "Not a valid pattern"),
        ("backoff", "1, five", "is not a whole number"),
        ("quiet_start", "22:00", "Give both ends"),
    ],
)
def test_bad_input_is_refused_next_to_its_field(
    db, client_for, alice, team_a, field, value, message
):
    response = client_for(alice).post(
        reverse("policies-new", args=[team_a.slug]), FORM | {field: value}
    )
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not RetryPolicy.objects.exists()


def test_members_read_admins_write_other_teams_see_nothing(
    db, client_for, make_policy, bob, carol, charlie, team_a
):
    policy = make_policy()
    detail = reverse("policies-detail", args=[policy.pk])
    edit = reverse("policies-edit", args=[policy.pk])
    state = reverse("policies-state", args=[policy.pk])
    for user in (bob, carol):
        client = client_for(user)
        assert client.get(detail).status_code == 200
        assert client.get(edit).status_code == 403
        assert client.post(state, {"transition": "pause"}).status_code == 403
        assert (
            client.get(reverse("policies-new", args=[team_a.slug])).status_code == 403
        )
    outsider = client_for(charlie)
    assert outsider.get(detail).status_code == 404
    assert outsider.post(state, {"transition": "pause"}).status_code == 404
    assert (
        "Retry ERP outages"
        not in outsider.get(reverse("policies-list")).content.decode()
    )
    policy.refresh_from_db()
    assert policy.state == RetryPolicy.State.ENABLED
    assert client_for(None).get(detail).status_code == 302


def test_the_dry_run_replays_last_week_before_enabling(
    db, client_for, alice, team_a, ws, emu, bob
):
    from tests.dashboard.mirror.test_occurrences import retry_all

    seed_outage(emu, 4, retry_failure_rate=1.0)
    full_sync(ws)
    retry_all(ws, bob)  # a person retried them once; they failed again
    emu.advance(3600)
    full_sync(ws)
    client = client_for(alice)
    url = reverse("policies-new", args=[team_a.slug])
    data = FORM | {"backoff": "0", "max_attempts": "3", "days": "7", "preview": "1"}
    swapped = client.post(url, data, HTTP_HX_REQUEST="true")
    assert swapped.status_code == 200
    html = swapped.content.decode()
    assert html.lstrip().startswith('<section id="dry-run"')
    assert "<strong>4 items</strong>" in html
    assert "<strong>8 retries</strong>" in html
    assert "0%" in html  # 4 past retries of HTTP_ERROR, none succeeded
    plain = client.post(url, data)  # without JavaScript: the whole page with the result
    assert (
        plain.status_code == 200
        and "<strong>4 items</strong>" in plain.content.decode()
    )
    assert not RetryPolicy.objects.exists()  # a dry run saves nothing


def test_the_explorer_says_when_a_policy_will_retry(
    db, client_for, bob, ws, emu, make_policy
):
    seed_outage(emu, 2, retry_failure_rate=1.0)
    full_sync(ws)
    make_policy(backoff_minutes=[30, 60], max_attempts=3)
    page = client_for(bob).get(reverse("workitems-item-list")).content.decode()
    notes = re.findall(r'class="clip row-note"[^>]*>([^<]*)<', page)
    assert len(notes) == 2
    assert all(n.startswith("policy Retry ERP outages will retry at") for n in notes)
    assert "(attempt 1 of 3)" in page


def test_the_item_page_shows_failures_and_policy_retries(
    db, client_for, bob, ws, emu, make_policy
):
    from dashboard.mirror.models import WorkItem

    seed_outage(emu, 1, retry_failure_rate=1.0)
    full_sync(ws)
    policy = make_policy()
    evaluate_workspace(ws.pk)
    emu.advance(3600)
    full_sync(ws)
    item = WorkItem.objects.get(workspace=ws)
    page = (
        client_for(bob)
        .get(reverse("workitems-item-detail", args=[item.pk]))
        .content.decode()
    )
    assert "Failures and retries" in page
    assert "policy Retry ERP outages" in page
    assert "Failed again" in page
    assert (
        "policy Retry ERP outages will retry after the next sync (attempt 2 of 3)"
        in page
    )
    detail = (
        client_for(bob)
        .get(reverse("policies-detail", args=[policy.pk]))
        .content.decode()
    )
    assert "1 of 3" in detail  # the activity list shows the attempt


def test_a_breaker_open_policy_is_resumed_by_an_admin(
    db, client_for, alice, make_policy
):
    from dashboard.policies.breaker import open_breaker

    policy = make_policy()
    assert open_breaker(policy, "only 0 of the last 5 retries succeeded")
    page = (
        client_for(alice)
        .get(reverse("policies-detail", args=[policy.pk]))
        .content.decode()
    )
    assert "Breaker opened: only 0 of the last 5 retries succeeded." in page
    assert "Close the breaker and resume" in page
    client_for(alice).post(
        reverse("policies-state", args=[policy.pk]), {"transition": "enable"}
    )
    policy.refresh_from_db()
    assert policy.state == RetryPolicy.State.ENABLED
    assert list(
        PolicyEvent.objects.filter(policy=policy).values_list("kind", flat=True)
    )[:2] == ["enable", "breaker_opened"]


def test_an_impossible_transition_says_why(db, client_for, alice, make_policy):
    policy = make_policy(enable=False)
    response = client_for(alice).post(
        reverse("policies-state", args=[policy.pk]),
        {"transition": "pause"},
        follow=True,
    )
    assert "it cannot be paused now" in response.content.decode()


def test_a_dry_run_of_an_invalid_form_lists_the_errors_in_its_partial(
    db, client_for, alice, team_a
):
    response = client_for(alice).post(
        reverse("policies-new", args=[team_a.slug]),
        FORM | {"message_pattern": "(unclosed", "preview": "1"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200  # swapped by HTMX
    html = response.content.decode()
    assert html.lstrip().startswith('<section id="dry-run"')
    assert "Message pattern: Not a valid pattern" in html


def test_an_evaluation_is_enqueued_after_any_successful_sync_webhooks_included(
    db, ws, make_policy, policy_queue, redis_client, django_capture_on_commit_callbacks
):
    from dashboard.mirror.models import SyncRun
    from dashboard.mirror.signals import sync_finished

    make_policy()
    runs = [
        SyncRun.objects.create(workspace=ws, trigger=trigger, status=status)
        for trigger, status in (
            (SyncRun.Trigger.WEBHOOK, SyncRun.Status.SUCCEEDED),
            (SyncRun.Trigger.BEAT, SyncRun.Status.SUCCEEDED),
            (SyncRun.Trigger.BEAT, SyncRun.Status.FAILED),
        )
    ]
    with django_capture_on_commit_callbacks(execute=True):
        for run in runs:
            sync_finished.send_robust(sender=SyncRun, sync_run=run)
    assert redis_client.llen(policy_queue) == 2  # the failed sync evaluates nothing


def test_an_admin_edits_a_policy_and_the_change_is_recorded(
    db, client_for, alice, make_policy
):
    policy = make_policy()
    client = client_for(alice)
    url = reverse("policies-edit", args=[policy.pk])
    form = client.get(url).content.decode()
    assert 'value="0"' in form and "HTTP_ERROR" in form  # the current values
    data = FORM | {"name": policy.name, "backoff": "1, 5, 30", "max_attempts": "4"}
    assert client.post(url, data).status_code == 302
    policy.refresh_from_db()
    assert policy.backoff_minutes == [1, 5, 30] and policy.max_attempts == 4
    event = PolicyEvent.objects.filter(policy=policy, kind="edited").get()
    assert "backoff_minutes" in event.message and "max_attempts" in event.message
    assert policy.state == RetryPolicy.State.ENABLED  # editing keeps the state


def test_the_explorer_notes_cost_the_same_queries_whatever_the_page_size(
    db, client_for, bob, ws, emu, make_policy
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    seed_outage(emu, 60, retry_failure_rate=1.0)
    full_sync(ws)
    make_policy(backoff_minutes=[30])
    client = client_for(bob)

    def queries(size: int) -> int:
        with CaptureQueriesContext(connection) as ctx:
            page = client.get(
                reverse("workitems-item-list") + f"?page_size={size}&state=failed",
                HTTP_HX_REQUEST="true",
            )
        notes = re.findall(
            r'class="clip row-note"[^>]*>([^<]*)<', page.content.decode()
        )
        assert len(notes) == size and all("will retry at" in n for n in notes)
        return len(ctx.captured_queries)

    assert queries(25) == queries(50)
