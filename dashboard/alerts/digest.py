"""The daily digest of a team, by email: yesterday's failures by group, the groups that were
new, what people retried and how it ended, runs stuck in progress (and sections registered by
higher floors, e.g. what retry policies did: `extensions.add_digest_section`).

Sent once per team and day: the (team, day) row of `DigestRun` is inserted before sending, so
two beats at once send one digest; a failed send is tried again by the next beat (3 times).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import IntegrityError, transaction
from django.db.models import Count, F, Q, QuerySet
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from dashboard.accounts.models import Team
from dashboard.alerts.conditions import RUN_ACTIVE_STATES, absolute
from dashboard.alerts.extensions import DigestSection, digest_sections
from dashboard.alerts.models import DigestRun, DigestSettings
from dashboard.alerts.services import alert_recipients, one_line
from dashboard.audit.models import AuditEvent
from dashboard.mirror.models import ProcessRun, WorkItem, WorkItemStateChange

log = logging.getLogger(__name__)

MAX_DIGEST_ATTEMPTS = 3
NEW_GROUP_LOOKBACK_DAYS = 30
GROUPS_SHOWN = 25


@dataclass(frozen=True)
class GroupLine:
    workspace: str
    process: str
    exception_type: str
    exception_code: str
    signature: str
    count: int
    link: str
    new: bool


@dataclass
class Digest:
    team: Team
    day: date
    failures: int = 0
    groups: list[GroupLine] = field(default_factory=list)
    new_groups: list[GroupLine] = field(default_factory=list)
    retried_by_people: int = 0
    retry_outcomes: dict[str, int] = field(default_factory=dict)
    stuck_runs: list[tuple[str, str, str, datetime, str]] = field(default_factory=list)
    sections: list[DigestSection] = field(default_factory=list)
    triage_link: str = ""


def _bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time.min, tzinfo=UTC)
    return start, start + timedelta(days=1)


def build_digest(team: Team, day: date, now: datetime | None = None) -> Digest:
    now = now or timezone.now()
    start, end = _bounds(day)
    digest = Digest(team, day, triage_link=absolute(reverse("workitems-triage")))
    _failures(digest, start, end)
    _retries(digest, start, end)
    conf = DigestSettings.objects.filter(team=team).first() or DigestSettings(team=team)
    stuck_since = now - timedelta(hours=conf.stuck_run_hours)
    for run in (
        ProcessRun.objects.filter(
            workspace__team=team,
            gone_at__isnull=True,
            state__in=RUN_ACTIVE_STATES,
            started_at__lt=stuck_since,
        )
        .select_related("process", "workspace")
        .order_by("started_at")[:50]
    ):
        link = absolute(
            reverse("processes-run-detail", args=[run.workspace_id, run.external_id])
        )
        assert run.started_at is not None
        digest.stuck_runs.append(
            (
                run.workspace.name,
                run.process.name,
                run.external_id,
                run.started_at,
                link,
            )
        )
    for _name, build in digest_sections():
        digest.sections.append(build(team, day))
    return digest


_GROUP_FIELDS = (
    "workspace_id",
    "workspace__name",
    "process_id",
    "process__name",
    "exception_type",
    "exception_code",
    "message_signature",
)


def failed_items(team: Team, start: datetime, end: datetime) -> QuerySet[WorkItem]:
    """Items that failed in [start, end): still failed since then, or seen failing by a sync
    (a state change) whatever they are now."""
    changed = WorkItemStateChange.objects.filter(
        work_item__workspace__team=team,
        new_state="failed",
        observed_at__gte=start,
        observed_at__lt=end,
    ).values("work_item_id")
    return WorkItem.objects.filter(workspace__team=team, gone_at__isnull=True).filter(
        Q(state="failed", state_updated_at__gte=start, state_updated_at__lt=end)
        | Q(pk__in=changed)
    )


def _failures(digest: Digest, start: datetime, end: datetime) -> None:
    rows = list(
        failed_items(digest.team, start, end)
        .values_list(*_GROUP_FIELDS)
        .annotate(n=Count("id"))
        .order_by("-n")
    )
    earlier = set(
        failed_items(
            digest.team, start - timedelta(days=NEW_GROUP_LOOKBACK_DAYS), start
        )
        .values_list(
            "workspace_id",
            "process_id",
            "exception_type",
            "exception_code",
            "message_signature",
        )
        .distinct()
    )
    explorer = reverse("workitems-item-list")
    for ws_id, ws, p_id, process, exc_type, code, signature, n in rows:
        digest.failures += n
        new = (ws_id, p_id, exc_type, code, signature) not in earlier
        link = absolute(
            explorer,
            {
                "workspace": ws_id,
                "process": p_id,
                "exception_type": exc_type,
                "exception_code": code,
                "signature": signature,
            },
        )
        line = GroupLine(
            ws, process, exc_type or "unspecified", code, signature, n, link, new
        )
        if len(digest.groups) < GROUPS_SHOWN:
            digest.groups.append(line)
        if new:
            digest.new_groups.append(line)


def _retries(digest: Digest, start: datetime, end: datetime) -> None:
    events = AuditEvent.objects.filter(
        team=digest.team,
        action="work_item.retry",
        created_at__gte=start,
        created_at__lt=end,
        data__outcome="ok",
    )
    item_ids = {
        int(i) for i in events.values_list("object_id", flat=True) if i.isdigit()
    }
    digest.retried_by_people = events.count()
    digest.retry_outcomes = dict(
        WorkItem.objects.filter(pk__in=item_ids)
        .values_list("state")
        .annotate(n=Count("id"))
        .order_by()
    )


def render(digest: Digest) -> tuple[str, str, str]:
    """Return (subject, text, html) of the digest."""
    subject = (
        f"[Workroom] {digest.team.name}: daily digest of {digest.day:%Y-%m-%d} — "
        f"{digest.failures} failure{'s' if digest.failures != 1 else ''}"
    )
    subject = one_line(subject)
    context = {"digest": digest, "subject": subject}
    return (
        subject,
        render_to_string("alerts/email/digest.txt", context),
        render_to_string("alerts/email/digest.html", context),
    )


def send_digest(team: Team, day: date, now: datetime | None = None) -> str:
    """Send the team's digest of `day` unless it was sent already; return what happened."""
    if not _claim(team, day):
        return "already"
    try:
        recipients = alert_recipients(team, digest=True, now=now)
        if recipients:
            subject, text, html = render(build_digest(team, day, now))
            mail = EmailMultiAlternatives(
                subject, text, settings.DEFAULT_FROM_EMAIL, to=recipients
            )
            mail.attach_alternative(html, "text/html")
            mail.send()
    except OSError as err:
        log.warning(
            "Digest of team %s for %s failed: %s", team.pk, day, type(err).__name__
        )
        DigestRun.objects.filter(team=team, day=day).update(
            status=DigestRun.Status.FAILED,
            error=f"Mail not sent: {type(err).__name__}.",
        )
        return "failed"
    DigestRun.objects.filter(team=team, day=day).update(
        status=DigestRun.Status.SENT,
        sent_at=timezone.now(),
        recipients=len(recipients),
        error="",
    )
    return "sent"


def _claim(team: Team, day: date) -> bool:
    try:
        with transaction.atomic():
            DigestRun.objects.create(team=team, day=day)
    except IntegrityError:
        return bool(
            DigestRun.objects.filter(
                team=team,
                day=day,
                status=DigestRun.Status.FAILED,
                attempts__lt=MAX_DIGEST_ATTEMPTS,
            ).update(status=DigestRun.Status.SENDING, attempts=F("attempts") + 1)
        )
    return True


def send_due_digests(now: datetime | None = None) -> int:
    """Send yesterday's digest of every team whose digest hour has come (beat)."""
    now = now or timezone.now()
    day = now.astimezone(UTC).date() - timedelta(days=1)
    configured = {s.team_id: s for s in DigestSettings.objects.all()}
    sent = 0
    for team in Team.objects.all():
        conf = configured.get(team.pk) or DigestSettings(team=team)
        if not conf.enabled or now.astimezone(UTC).hour < conf.hour_utc:
            continue
        if DigestRun.objects.filter(
            team=team, day=day, status=DigestRun.Status.SENT
        ).exists():
            continue
        sent += send_digest(team, day, now) == "sent"
    return sent
