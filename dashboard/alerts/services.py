"""Alerts: evaluate rules into open / reminded / recovered alerts, take pushed events, deliver.

Exactly once per condition: an alert opens by INSERT under the partial unique constraint
(rule, key) among open alerts, a reminder and a recovery by a conditional UPDATE of the alert;
only the evaluation whose write counted records the event, so two evaluations at once (a sync's
and the beat's, or a duplicated task) notify once. Each event gets one `Delivery` per channel,
enqueued on commit; `deliver` claims its row before sending, so a task run twice sends once.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from django.conf import settings
from django.db import DatabaseError, IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from dashboard.accounts.models import Membership, Team
from dashboard.alerts import channels
from dashboard.alerts.conditions import Finding, RuleError, find, rule_workspaces
from dashboard.alerts.models import (
    Alert,
    AlertEvent,
    Channel,
    Condition,
    Delivery,
    DigestRun,
    KnownGroup,
    Preference,
    Rule,
)
from dashboard.lib.leases import expired
from dashboard.workspaces.models import Workspace

log = logging.getLogger(__name__)


@dataclass
class Tally:
    opened: int = 0
    reminded: int = 0
    recovered: int = 0

    def add(self, other: Tally) -> None:
        self.opened += other.opened
        self.reminded += other.reminded
        self.recovered += other.recovered


# --- evaluation ---------------------------------------------------------------------------------


def evaluate_workspace(workspace_id: int, now: datetime | None = None) -> Tally:
    """Evaluate every enabled rule that watches the workspace, over that workspace only
    (after one of its syncs)."""
    tally = Tally()
    workspace = Workspace.objects.filter(pk=workspace_id).first()
    if workspace is None:
        return tally
    rules = Rule.objects.filter(team_id=workspace.team_id, enabled=True).exclude(
        condition=Condition.EVENT
    )
    for rule in rules.filter(Q(workspace__isnull=True) | Q(workspace_id=workspace_id)):
        tally.add(evaluate_rule(rule, only=[workspace_id], now=now))
    return tally


def evaluate_all(now: datetime | None = None) -> Tally:
    """Evaluate every enabled rule over all its workspaces (beat: the time-based conditions)."""
    tally = Tally()
    for rule in Rule.objects.filter(enabled=True).exclude(condition=Condition.EVENT):
        try:
            tally.add(evaluate_rule(rule, now=now))
        except DatabaseError:
            # One rule's failure (a lock timeout) must not starve the others; next minute
            # evaluates it again.
            log.exception("Evaluating alert rule %s failed", rule.pk)
    return tally


def evaluate_rule(
    rule: Rule, *, only: list[int] | None = None, now: datetime | None = None
) -> Tally:
    """Open, remind and recover the rule's alerts from what its condition sees now."""
    now = now or timezone.now()
    workspaces = rule_workspaces(rule, only)
    try:
        if rule.condition == Condition.NEW_GROUP and rule.baselined_at is None:
            _learn_groups(rule, find(rule, rule_workspaces(rule), now), now)
            return Tally()
        findings = find(rule, workspaces, now)
    except RuleError as err:
        Rule.objects.filter(pk=rule.pk).update(last_error=err.message[:500])
        return Tally()
    fresh = findings
    if rule.condition == Condition.NEW_GROUP:
        known = set(KnownGroup.objects.filter(rule=rule).values_list("key", flat=True))
        fresh = {
            k: f
            for k, f in findings.items()
            if k not in known and _first_sight(rule, k)
        }
    tally = Tally()
    for finding in fresh.values():
        tally.opened += _open(rule, finding, now)
    still_open = Alert.objects.filter(rule=rule, state=Alert.State.OPEN)
    if only is not None:
        still_open = still_open.filter(workspace_id__in=list(workspaces))
    for alert in still_open:
        if alert.key in findings:
            tally.reminded += _remind_if_due(rule, alert, findings[alert.key], now)
        else:
            tally.recovered += _recover(rule, alert, now)
    Rule.objects.filter(pk=rule.pk).update(last_evaluated_at=now, last_error="")
    return tally


@transaction.atomic
def _learn_groups(rule: Rule, findings: dict[str, Finding], now: datetime) -> None:
    """A new-group rule's first look: every group failing now is known, none is "new".

    Only the evaluation that sets `baselined_at` learns: a late one holding a stale rule must
    not silently learn a group that appeared after the first look."""
    if not Rule.objects.filter(pk=rule.pk, baselined_at__isnull=True).update(
        baselined_at=now, last_evaluated_at=now, last_error=""
    ):
        return
    KnownGroup.objects.bulk_create(
        [KnownGroup(rule=rule, key=k, first_seen_at=now) for k in findings],
        ignore_conflicts=True,
        batch_size=500,
    )


def _first_sight(rule: Rule, key: str) -> bool:
    try:
        with transaction.atomic():
            KnownGroup.objects.create(rule=rule, key=key)
    except IntegrityError:
        return False
    return True


def _open(rule: Rule, finding: Finding, now: datetime) -> int:
    try:
        with transaction.atomic():
            alert = Alert.objects.create(
                rule=rule,
                team_id=rule.team_id,
                workspace_id=finding.workspace_id,
                key=finding.key,
                title=finding.title[:300],
                detail=finding.detail,
                link=finding.link[:2000],
                opened_at=now,
                last_seen_at=now,
                last_notified_at=now,
            )
            _record(rule, alert, AlertEvent.Kind.OPENED, now)
    except IntegrityError:
        # Open already (another evaluation got there first): nothing new to say.
        return 0
    return 1


def _remind_if_due(rule: Rule, alert: Alert, finding: Finding, now: datetime) -> int:
    title, detail = finding.title[:300], finding.detail
    fields: dict[str, Any] = {"last_seen_at": now, "title": title, "detail": detail}
    interval = timedelta(minutes=rule.renotify_minutes)
    if not rule.renotify_minutes or alert.last_notified_at + interval > now:
        Alert.objects.filter(pk=alert.pk, state=Alert.State.OPEN).update(**fields)
        return 0
    with transaction.atomic():
        won = Alert.objects.filter(
            pk=alert.pk, state=Alert.State.OPEN, last_notified_at=alert.last_notified_at
        ).update(last_notified_at=now, **fields)
        if won:
            alert.title, alert.detail = title, detail
            _record(rule, alert, AlertEvent.Kind.REMINDER, now)
    return won


def _recover(rule: Rule, alert: Alert, now: datetime) -> int:
    with transaction.atomic():
        won = Alert.objects.filter(pk=alert.pk, state=Alert.State.OPEN).update(
            state=Alert.State.RECOVERED, recovered_at=now
        )
        if won:
            _record(rule, alert, AlertEvent.Kind.RECOVERED, now)
    return won


def _record(rule: Rule, alert: Alert, kind: str, now: datetime) -> AlertEvent:
    """Record the event and, unless the rule is muted, one delivery per enabled channel."""
    muted = rule.is_muted(now)
    event = AlertEvent.objects.create(
        alert=alert, kind=kind, created_at=now, muted=muted
    )
    silent = muted or (kind == AlertEvent.Kind.RECOVERED and not rule.notify_recovered)
    if silent:
        return event
    for channel in rule.channels.filter(enabled=True):
        delivery = Delivery.objects.create(event=event, channel=channel, created_at=now)
        # robust: a broker outage is logged; the sweeper sends the committed delivery later.
        transaction.on_commit(partial(enqueue_delivery, delivery.pk), robust=True)
    return event


def enqueue_delivery(delivery_id: int, countdown: float = 0) -> None:
    from dashboard.alerts.tasks import deliver

    deliver.apply_async(args=(delivery_id,), **task_options(countdown))


def task_options(countdown: float = 0) -> dict[str, Any]:
    """apply_async options of alert tasks: their queue (when set) and a countdown."""
    options: dict[str, Any] = {}
    if settings.WORKROOM_ALERT_QUEUE:
        options["queue"] = settings.WORKROOM_ALERT_QUEUE
    if countdown:
        options["countdown"] = countdown
    return options


# --- pushed events ------------------------------------------------------------------------------


def emit(
    team: Team,
    kind: str,
    key: str,
    title: str,
    detail: str,
    link: str,
    *,
    workspace: Workspace | None = None,
    now: datetime | None = None,
) -> int:
    """Raise a pushed event (e.g. "policy_breaker_opened") for the team's rules that watch
    `kind`: each opens one alert per `key` (again while open: a reminder when due).
    Return how many alerts opened. `link` may be a path: it is made absolute."""
    now = now or timezone.now()
    if link.startswith("/"):
        link = settings.WORKROOM_BASE_URL + link
    finding = Finding(key, workspace.pk if workspace else None, title, detail, link)
    opened = 0
    for rule in _event_rules(team, kind, workspace):
        alert = Alert.objects.filter(rule=rule, key=key, state=Alert.State.OPEN).first()
        if alert is None:
            opened += _open(rule, finding, now)
        else:
            _remind_if_due(rule, alert, finding, now)
    return opened


def resolve(
    team: Team,
    kind: str,
    key: str,
    *,
    workspace: Workspace | None = None,
    now: datetime | None = None,
) -> int:
    """The pushed condition is over (e.g. the breaker closed): recover its open alerts."""
    now = now or timezone.now()
    recovered = 0
    for rule in _event_rules(team, kind, workspace):
        for alert in Alert.objects.filter(rule=rule, key=key, state=Alert.State.OPEN):
            recovered += _recover(rule, alert, now)
    return recovered


def _event_rules(team: Team, kind: str, workspace: Workspace | None) -> list[Rule]:
    rules = Rule.objects.filter(
        team=team, enabled=True, condition=Condition.EVENT, event_kind=kind
    )
    if workspace is not None:
        rules = rules.filter(Q(workspace__isnull=True) | Q(workspace=workspace))
    else:
        rules = rules.filter(workspace__isnull=True)
    return list(rules)


# --- muting -------------------------------------------------------------------------------------


def mute(rule: Rule, until: datetime | None) -> None:
    """Mute the rule until `until` (None: unmute). Alerts still open and recover, unsent."""
    Rule.objects.filter(pk=rule.pk).update(muted_until=until)
    rule.muted_until = until


# --- delivery -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class DeliveryOutcome:
    status: str
    retry_in: float | None = None


def deliver(delivery_id: int) -> DeliveryOutcome:
    """Send one delivery if it is still to be sent; claim it first (a duplicate is a no-op)."""
    owner = uuid.uuid4().hex
    now = timezone.now()
    # A pending row waiting out a retry's back-off is not claimable before it is due (an early
    # duplicate message is dropped; the retry or the sweeper comes back for it).
    claimable = Q(status=Delivery.Status.PENDING, due_at__lte=now) | (
        Q(status=Delivery.Status.SENDING) & expired(now)
    )
    claimed = (
        Delivery.objects.filter(pk=delivery_id)
        .filter(claimable)
        .update(
            status=Delivery.Status.SENDING,
            lease_owner=owner,
            lease_until=now + timedelta(seconds=settings.WORKROOM_ALERT_LEASE_SECONDS),
            attempts=F("attempts") + 1,
        )
    )
    if not claimed:
        return DeliveryOutcome("not-claimed")
    delivery = Delivery.objects.select_related(
        "event__alert__rule__team", "channel"
    ).get(pk=delivery_id)
    mine = Delivery.objects.filter(pk=delivery_id, lease_owner=owner)
    recipients = _recipients(delivery)
    if delivery.channel.kind == Channel.Kind.EMAIL and not recipients:
        mine.update(
            status=Delivery.Status.SKIPPED,
            last_error="No one wants this mail (preferences) and no extra address.",
            lease_owner="",
            lease_until=None,
        )
        return DeliveryOutcome(Delivery.Status.SKIPPED)
    try:
        channels.send(delivery.channel, message_of(delivery.event), recipients)
    except channels.DeliveryFailed as err:
        log.warning(
            "Alert delivery %s to channel %s failed (attempt %s): %s",
            delivery.pk,
            delivery.channel_id,
            delivery.attempts,
            err.message,
        )
        retry = (
            err.retryable and delivery.attempts <= settings.WORKROOM_ALERT_MAX_RETRIES
        )
        released = {
            "last_error": err.message[:500],
            "lease_owner": "",
            "lease_until": None,
        }
        if retry:
            delay = settings.WORKROOM_ALERT_RETRY_BASE * 2 ** (delivery.attempts - 1)
            due = timezone.now() + timedelta(seconds=delay)
            mine.update(status=Delivery.Status.PENDING, due_at=due, **released)
            return DeliveryOutcome(Delivery.Status.PENDING, retry_in=delay)
        mine.update(status=Delivery.Status.FAILED, **released)
        return DeliveryOutcome(Delivery.Status.FAILED)
    mine.update(
        status=Delivery.Status.SENT,
        sent_at=timezone.now(),
        last_error="",
        lease_owner="",
        lease_until=None,
    )
    return DeliveryOutcome(Delivery.Status.SENT)


_PREFIX: dict[str, str] = {
    AlertEvent.Kind.OPENED: "",
    AlertEvent.Kind.REMINDER: "Still open: ",
    AlertEvent.Kind.RECOVERED: "Recovered: ",
}


def one_line(text: str) -> str:
    """Collapse whitespace: a title built from Control Room names may hold a newline, which a
    mail header refuses (BadHeaderError)."""
    return " ".join(text.split())


def message_of(event: AlertEvent) -> channels.Message:
    alert = event.alert
    return channels.Message(
        kind=event.kind,
        subject=one_line(f"[Workroom] {_PREFIX.get(event.kind, '')}{alert.title}"),
        title=alert.title,
        detail=alert.detail,
        link=alert.link,
        team=alert.rule.team.name,
        rule=alert.rule.name,
        event_id=f"alert-event-{event.pk}",
    )


def _recipients(delivery: Delivery) -> list[str]:
    channel = delivery.channel
    if channel.kind != Channel.Kind.EMAIL:
        return []
    return sorted(
        set(alert_recipients(channel.team, digest=False))
        | set(channels.parse_addresses(channel.extra_recipients))
    )


def alert_recipients(
    team: Team, *, digest: bool, now: datetime | None = None
) -> list[str]:
    """E-mail addresses of the team's active members whose preferences ask for this mail
    (no preference row: yes) and who have not muted everything."""
    now = now or timezone.now()
    prefs = {p.user_id: p for p in Preference.objects.filter(team=team)}
    emails = []
    for m in Membership.objects.filter(team=team, user__is_active=True).select_related(
        "user"
    ):
        pref = prefs.get(m.user_id)
        if not m.user.email:
            continue
        if pref is not None:
            wanted = pref.email_digest if digest else pref.email_alerts
            if not wanted or (pref.muted_until is not None and pref.muted_until > now):
                continue
        emails.append(m.user.email)
    return emails


def sweep_deliveries(now: datetime | None = None) -> int:
    """Re-enqueue deliveries whose message was lost or whose sender died (lease expired)."""
    now = now or timezone.now()
    lost = Delivery.objects.filter(
        Q(status=Delivery.Status.PENDING, due_at__lt=now - timedelta(minutes=1))
        | (Q(status=Delivery.Status.SENDING) & Q(lease_until__lt=now))
    ).exclude(attempts__gt=settings.WORKROOM_ALERT_MAX_RETRIES)
    ids = list(lost.values_list("pk", flat=True)[:500])
    for pk in ids:
        enqueue_delivery(pk)
    return len(ids)


def prune_history(now: datetime | None = None) -> dict[str, int]:
    """Delete recovered alerts (their events and deliveries go with them) and digest records
    older than WORKROOM_ALERT_HISTORY_DAYS; open alerts are kept however old."""
    cutoff = (now or timezone.now()) - timedelta(
        days=settings.WORKROOM_ALERT_HISTORY_DAYS
    )
    old = Alert.objects.filter(state=Alert.State.RECOVERED, recovered_at__lt=cutoff)
    alerts = 0
    while ids := list(old.values_list("pk", flat=True)[:500]):
        Alert.objects.filter(pk__in=ids).delete()
        alerts += len(ids)
    digests, _ = DigestRun.objects.filter(day__lt=cutoff.date()).delete()
    return {"alerts": alerts, "digests": digests}
