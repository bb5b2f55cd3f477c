"""Alert pages: who may see and change what, forms that refuse bad input with a message, secrets
shown once and never again, mute through HTMX, history and preferences."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.urls import reverse

from dashboard.alerts.models import (
    Alert,
    Channel,
    Condition,
    DigestSettings,
    Preference,
    Rule,
)
from dashboard.audit.models import AuditEvent
from tests.dashboard.alerts.conftest import email_channel
from tests.dashboard.factories import make_workspace_row

pytestmark = pytest.mark.django_db


@pytest.fixture
def rule(team_a: Any) -> Rule:
    return Rule.objects.create(
        team=team_a, name="Keys", condition=Condition.KEY_REJECTED
    )


@pytest.fixture
def channel(team_a: Any) -> Channel:
    return email_channel(team_a)


def _urls(team: Any, rule: Rule, channel: Channel) -> dict[str, tuple[str, str]]:
    return {
        "list": ("GET", reverse("alerts-rule-list", args=[team.slug])),
        "history": ("GET", reverse("alerts-history", args=[team.slug])),
        "detail": ("GET", reverse("alerts-rule-detail", args=[rule.pk])),
        "new": ("GET", reverse("alerts-rule-new", args=[team.slug])),
        "edit": ("GET", reverse("alerts-rule-edit", args=[rule.pk])),
        "mute": ("POST", reverse("alerts-rule-mute", args=[rule.pk])),
        "delete": ("POST", reverse("alerts-rule-delete", args=[rule.pk])),
        "channels": ("GET", reverse("alerts-channel-list", args=[team.slug])),
        "channel": ("GET", reverse("alerts-channel-edit", args=[channel.pk])),
        "channel-test": ("POST", reverse("alerts-channel-test", args=[channel.pk])),
        "channel-delete": ("POST", reverse("alerts-channel-delete", args=[channel.pk])),
        "digest": ("POST", reverse("alerts-digest-settings", args=[team.slug])),
    }


EXPECTED = {
    # page: (viewer, operator, admin, admin of another team)
    "list": (200, 200, 200, 404),
    "history": (200, 200, 200, 404),
    "detail": (200, 200, 200, 404),
    "new": (403, 403, 200, 404),
    "edit": (403, 403, 200, 404),
    "mute": (403, 302, 302, 404),
    "delete": (403, 403, 302, 404),
    "channels": (403, 403, 200, 404),
    "channel": (403, 403, 200, 404),
    "channel-test": (403, 403, 302, 404),
    "channel-delete": (403, 403, 302, 404),
    "digest": (403, 403, 302, 404),
}


@pytest.mark.parametrize("page", list(EXPECTED))
def test_each_page_for_each_role(
    page, client_for, alice, bob, carol, charlie, team_a, team_b, rule, channel, client
):
    method, url = _urls(team_a, rule, channel)[page]
    data = {"minutes": "60", "hour_utc": "7", "stuck_run_hours": "2", "enabled": "on"}
    assert (
        client.get(url) if method == "GET" else client.post(url, data)
    ).status_code == 302
    statuses = []
    for user in (
        carol,
        bob,
        charlie,
        alice,
    ):  # the admin last: deleting comes after the others
        c = client_for(user)
        statuses.append(
            (c.get(url) if method == "GET" else c.post(url, data)).status_code
        )
    viewer, operator, other, admin = statuses
    assert (viewer, operator, admin, other) == EXPECTED[page]


def test_an_admin_creates_a_rule_and_it_is_audited(client_for, alice, team_a, channel):
    ws = make_workspace_row(team_a, name="Orders")
    response = client_for(alice).post(
        reverse("alerts-rule-new", args=[team_a.slug]),
        {
            "name": "Order Intake spikes",
            "condition": Condition.FAILURE_SPIKE,
            "workspace": ws.pk,
            "filter_query": f"http://workroom.example/items/?workspace={ws.pk}&exception_type=application",
            "threshold": "10",
            "window_minutes": "15",
            "renotify_minutes": "60",
            "notify_recovered": "on",
            "channels": [channel.pk],
            "enabled": "on",
        },
    )
    rule = Rule.objects.get(name="Order Intake spikes")
    assert response.status_code == 302 and response["Location"] == reverse(
        "alerts-rule-detail", args=[rule.pk]
    )
    assert rule.filter_query == f"workspace={ws.pk}&exception_type=application"
    assert list(rule.channels.all()) == [channel]
    event = AuditEvent.objects.get(action="alert_rule.create")
    assert event.data["threshold"] == 10 and event.actor == alice


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"condition": Condition.EVENT}, "Choose the event this rule listens to."),
        (
            {"condition": Condition.RUN_STUCK, "window_minutes": "0"},
            "This condition needs a number of minutes.",
        ),
        ({"filter_query": "state=bogus"}, "The filter is not valid"),
        ({"filter_query": "workspace=999999"}, "The filter is not valid"),
        ({"window_minutes": "99999999"}, "less than or equal to 527040"),
        ({"name": "Keys"}, "A rule of this team already has this name."),
    ],
)
def test_a_bad_rule_is_refused_with_a_message(
    client_for, alice, team_a, data, message, rule
):
    base = {
        "name": "Bad",
        "condition": Condition.FAILURE_SPIKE,
        "threshold": "1",
        "window_minutes": "10",
        "renotify_minutes": "0",
    }
    response = client_for(alice).post(
        reverse("alerts-rule-new", args=[team_a.slug]), {**base, **data}
    )
    assert response.status_code == 400
    assert message in response.content.decode()
    assert list(Rule.objects.all()) == [rule]


def test_a_webhook_channel_shows_its_secret_once_and_its_url_never(
    client_for, alice, team_a
):
    url = "http://127.0.0.1:9/hooks/T0KEN-in-the-path"
    c = client_for(alice)
    page = c.post(
        reverse("alerts-channel-list", args=[team_a.slug]),
        {"name": "Receiver", "kind": Channel.Kind.WEBHOOK, "url": url, "enabled": "on"},
    ).content.decode()
    channel = Channel.objects.get(name="Receiver")
    assert 'id="new-secret"' in page and "whsec_" in page
    assert "T0KEN" not in page
    for later in (
        c.get(reverse("alerts-channel-list", args=[team_a.slug])),
        c.get(reverse("alerts-channel-edit", args=[channel.pk])),
    ):
        body = later.content.decode()
        assert "whsec_" not in body and "T0KEN" not in body
        assert "http://127.0.0.1:9/…" in body
    assert "T0KEN" not in str(list(AuditEvent.objects.values_list("summary", "data")))
    assert "T0KEN" not in channel.url_ciphertext and "T0KEN" not in repr(channel)

    rotated = c.post(
        reverse("alerts-channel-rotate", args=[channel.pk])
    ).content.decode()
    assert "whsec_" in rotated
    channel_before = channel.secret_ciphertext
    channel.refresh_from_db()
    assert channel.secret_ciphertext != channel_before


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            {"kind": Channel.Kind.SLACK, "url": ""},
            "This channel needs its webhook URL.",
        ),
        (
            {"kind": Channel.Kind.SLACK, "url": "http://hooks.example.com/x"},
            "must use https://",
        ),
        (
            {"kind": Channel.Kind.EMAIL, "extra_recipients": "ops@example.com, nope"},
            "nope is not an email address.",
        ),
    ],
)
def test_a_bad_channel_is_refused_with_a_message(
    client_for, alice, team_a, data, message
):
    response = client_for(alice).post(
        reverse("alerts-channel-list", args=[team_a.slug]), {"name": "C", **data}
    )
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not Channel.objects.exists()


def test_an_operator_mutes_through_htmx_and_the_partial_comes_back(
    client_for, bob, rule
):
    response = client_for(bob).post(
        reverse("alerts-rule-mute", args=[rule.pk]),
        {"minutes": "240"},
        HTTP_HX_REQUEST="true",
    )
    body = response.content.decode()
    assert response.status_code == 200
    assert body.lstrip().startswith('<section id="mute">') and "Muted until" in body
    rule.refresh_from_db()
    assert rule.is_muted()
    client_for(bob).post(reverse("alerts-rule-mute", args=[rule.pk]), {"minutes": "0"})
    rule.refresh_from_db()
    assert not rule.is_muted()
    assert (
        AuditEvent.objects.filter(
            action__in=["alert_rule.mute", "alert_rule.unmute"]
        ).count()
        == 2
    )


def test_history_lists_the_teams_alerts_filtered_by_state(
    client_for, carol, team_a, team_b, rule
):
    Alert.objects.create(rule=rule, team=team_a, key="a", title="Open one")
    Alert.objects.create(
        rule=rule, team=team_a, key="b", title="Old one", state=Alert.State.RECOVERED
    )
    other = Rule.objects.create(team=team_b, name="B", condition=Condition.KEY_REJECTED)
    Alert.objects.create(rule=other, team=team_b, key="c", title="Not yours")
    url = reverse("alerts-history", args=[team_a.slug])
    body = client_for(carol).get(url).content.decode()
    assert "Open one" in body and "Old one" in body and "Not yours" not in body
    body = (
        client_for(carol)
        .get(url, {"state": "open"}, HTTP_HX_REQUEST="true")
        .content.decode()
    )
    assert body.lstrip().startswith('<section id="history">')  # the page's own partial
    assert "Open one" in body and "Old one" not in body


def test_a_user_sets_their_own_preferences_per_team(client_for, bob, team_a):
    prefix = f"t{team_a.pk}"
    response = client_for(bob).post(
        reverse("alerts-preferences"),
        {f"{prefix}-email_digest": "on", f"{prefix}-mute_hours": "24"},
    )
    assert response.status_code == 302
    pref = Preference.objects.get(user=bob, team=team_a)
    assert not pref.email_alerts and pref.email_digest and pref.muted_until is not None


def test_an_admin_sets_the_digest_hour_and_a_bad_hour_is_refused(
    client_for, alice, team_a
):
    c = client_for(alice)
    url = reverse("alerts-digest-settings", args=[team_a.slug])
    c.post(url, {"enabled": "on", "hour_utc": "6", "stuck_run_hours": "3"})
    assert DigestSettings.objects.get(team=team_a).hour_utc == 6
    response = c.post(
        url, {"enabled": "on", "hour_utc": "25", "stuck_run_hours": "3"}, follow=True
    )
    assert "An hour from 0 to 23." in response.content.decode()
    assert DigestSettings.objects.get(team=team_a).hour_utc == 6


def test_the_rule_form_is_prefilled_from_a_link(client_for, alice, team_a):
    body = (
        client_for(alice)
        .get(
            reverse("alerts-rule-new", args=[team_a.slug]),
            {"condition": "new_group", "filter_query": "exception_type=application"},
        )
        .content.decode()
    )
    assert '<option value="new_group" selected>' in body
    assert 'value="exception_type=application"' in body


def test_a_test_message_reaches_the_receiver_or_says_why_not(
    client_for, alice, team_a, receiver
):
    from tests.dashboard.alerts.conftest import webhook_channel

    channel = webhook_channel(team_a, receiver)
    url = reverse("alerts-channel-test", args=[channel.pk])
    page = client_for(alice).post(url, follow=True).content.decode()
    assert "Test message sent." in page
    [request] = receiver.requests
    assert request.verified and request.json()["kind"] == "test"
    receiver.status = 500
    page = client_for(alice).post(url, follow=True).content.decode()
    assert "Not delivered: The receiver answered HTTP 500." in page


def test_a_test_mail_goes_to_the_admin_alone(
    client_for, alice, team_a, smtp, with_emails
):
    channel = email_channel(team_a)
    page = (
        client_for(alice)
        .post(reverse("alerts-channel-test", args=[channel.pk]), follow=True)
        .content.decode()
    )
    assert "Test message sent to alice@example.com." in page
    [(rcpts, _mail)] = smtp.messages
    assert rcpts == ["alice@example.com"]


@pytest.mark.emulator
def test_triage_links_a_group_to_a_prefilled_rule(client_for, alice, team_a, emu):
    from tests.dashboard.mirror.helpers import add_runs
    from tests.dashboard.support.sync import full_sync
    from tests.dashboard.support.workspaces import workspace_on_emulator

    ws = workspace_on_emulator(emu, team_a)
    add_runs(emu, processes=1, runs=1, items=3, failure_rate=1.0)
    full_sync(ws)
    page = client_for(alice).get(reverse("workitems-triage")).content.decode()
    link = re.search(r'href="([^"]+)">Alert on this group', page)
    assert link is not None
    form = client_for(alice).get(link.group(1).replace("&amp;", "&")).content.decode()
    assert '<option value="failure_spike" selected>' in form
    assert f"workspace={ws.pk}" in form and "state=failed" in form


def test_a_saved_view_links_to_a_rule_on_it(client_for, alice, team_a):
    from dashboard.workitems.models import SavedView

    make_workspace_row(team_a, name="Orders")
    view = SavedView.objects.create(
        team=team_a, name="ERP errors", query="exception_type=application"
    )
    page = client_for(alice).get(reverse("workitems-item-list")).content.decode()
    link = re.search(r'href="([^"]+)" aria-label="Alert on view ERP errors"', page)
    assert link is not None
    form = client_for(alice).get(link.group(1).replace("&amp;", "&")).content.decode()
    assert f'<option value="{view.pk}" selected>ERP errors</option>' in form
