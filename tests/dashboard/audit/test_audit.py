"""The audit trail: append-only, client IP, and the admin-only filtered page."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone

from dashboard.accounts.models import Membership, Role
from dashboard.accounts.services import change_role
from dashboard.audit import services
from dashboard.audit.models import AuditEvent, AuditEventImmutable

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


def test_it_records_actor_object_and_ip(team_a, alice):
    request = RequestFactory().post(
        "/", REMOTE_ADDR="10.1.2.3", HTTP_USER_AGENT="pytest-agent"
    )
    request.user = alice
    event = services.record(
        request,
        team=team_a,
        action="thing.done",
        obj=team_a,
        summary="did it",
        data={"n": 1},
    )
    assert (event.actor, event.actor_label, event.ip, event.user_agent) == (
        alice,
        "alice",
        "10.1.2.3",
        "pytest-agent",
    )
    assert (event.object_type, event.object_id, event.object_repr) == (
        "accounts.team",
        str(team_a.pk),
        "Team A",
    )


def test_it_ignores_x_forwarded_for_unless_trusted(team_a, alice, settings):
    request = RequestFactory().post(
        "/", REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="203.0.113.9, 10.0.0.1"
    )
    request.user = alice
    assert (
        services.record(request, team=team_a, action="a.b", summary="x").ip
        == "10.0.0.1"
    )
    settings.WORKROOM_TRUST_X_FORWARDED_FOR = True
    assert (
        services.record(request, team=team_a, action="a.b", summary="x").ip
        == "203.0.113.9"
    )


def test_it_is_append_only(team_a, alice):
    event = services.record(None, team=team_a, action="a.b", summary="x", actor=alice)
    event.summary = "changed"
    with pytest.raises(AuditEventImmutable):
        event.save()
    with pytest.raises(AuditEventImmutable):
        event.delete()
    with pytest.raises(AuditEventImmutable):
        AuditEvent.objects.filter(pk=event.pk).update(summary="changed")
    with pytest.raises(AuditEventImmutable):
        AuditEvent.objects.filter(pk=event.pk).delete()
    assert AuditEvent.objects.get(pk=event.pk).summary == "x"


def test_audit_page_is_admin_only(client_for, team_a, alice, bob, carol, charlie):
    url = reverse("audit-event-list", args=[team_a.slug])
    assert client_for(alice).get(url).status_code == 200
    assert client_for(bob).get(url).status_code == 403
    assert client_for(carol).get(url).status_code == 403
    assert client_for(charlie).get(url).status_code == 404


def _events(
    team: Any, actor: Any, n: int, action: str = "demo.event", when: Any = None
) -> None:
    for i in range(n):
        with time_machine.travel(
            when or timezone.now() - timedelta(minutes=n - i), tick=False
        ):
            services.record(
                None, team=team, action=action, summary=f"{action} {i}", actor=actor
            )


def test_it_filters_by_actor_action_and_date(
    client_for, team_a, team_b, alice, bob, charlie
):
    _events(team_a, alice, 2, "workspace.created")
    _events(team_a, bob, 3, "membership.role_changed")
    _events(team_a, bob, 1, "old.event", when=timezone.now() - timedelta(days=10))
    _events(team_b, charlie, 4, "workspace.created")
    admin = client_for(alice)
    url = reverse("audit-event-list", args=[team_a.slug])

    body = admin.get(url).content.decode()
    assert "6 events" in body and "workspace.created 3" not in body

    body = admin.get(url, {"actor": bob.pk}).content.decode()
    assert "4 events" in body and "workspace.created 0" not in body

    body = admin.get(url, {"action": "workspace.created"}).content.decode()
    assert "2 events" in body

    since = (timezone.now() - timedelta(days=1)).date().isoformat()
    body = admin.get(url, {"actor": bob.pk, "since": since}).content.decode()
    assert "3 events" in body and "old.event" not in body.split('id="results"')[1]

    until = (timezone.now() - timedelta(days=5)).date().isoformat()
    body = admin.get(url, {"until": until}).content.decode()
    assert "1 event," in body


def test_it_rejects_bad_filters_without_error(client_for, team_a, alice):
    response = client_for(alice).get(
        reverse("audit-event-list", args=[team_a.slug]),
        {"since": "yesterday", "actor": "x", "action": "nope"},
    )
    assert (
        response.status_code == 200
        and "invalid and were ignored" in response.content.decode()
    )


def test_it_lists_newest_first_and_paginates(client_for, team_a, alice):
    _events(team_a, alice, 55)
    admin = client_for(alice)
    url = reverse("audit-event-list", args=[team_a.slug])
    first = admin.get(url).content.decode()
    assert first.index("demo.event 54") < first.index("demo.event 53")
    assert "demo.event 4<" not in first and "Page 1 of 2" in first
    second = admin.get(url, {"page": 2}).content.decode()
    assert "demo.event 4<" in second and "demo.event 54" not in second


def test_htmx_filter_returns_only_results(client_for, team_a, alice):
    _events(team_a, alice, 3)
    response = client_for(alice).get(
        reverse("audit-event-list", args=[team_a.slug]), {"page": "1"}, **HTMX
    )
    body = response.content.decode()
    assert body.lstrip().startswith('<section id="results">') and "<form" not in body


def test_membership_changes_are_audited_with_the_request_ip(
    client_for, team_a, alice, bob
):
    membership = Membership.objects.get(team=team_a, user=bob)
    client_for(alice).post(
        reverse("accounts-member-role", args=[team_a.slug, membership.pk]),
        {"role": Role.ADMIN},
        REMOTE_ADDR="192.0.2.7",
    )
    event = AuditEvent.objects.get(action="membership.role_changed")
    assert (event.actor, event.ip) == (alice, "192.0.2.7")


def test_a_failed_service_call_leaves_no_event(team_a, alice):
    from dashboard.accounts.services import LastAdminError

    with pytest.raises(LastAdminError):
        change_role(Membership.objects.get(team=team_a, user=alice), Role.VIEWER, alice)
    assert not AuditEvent.objects.filter(action="membership.role_changed").exists()


def test_audit_page_query_count_does_not_grow_with_events(client_for, team_a, alice):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    admin = client_for(alice)
    url = reverse("audit-event-list", args=[team_a.slug])
    _events(team_a, alice, 2)
    with CaptureQueriesContext(connection) as few:
        admin.get(url)
    _events(team_a, alice, 40)
    with CaptureQueriesContext(connection) as many:
        admin.get(url)
    assert len(many.captured_queries) == len(few.captured_queries)
