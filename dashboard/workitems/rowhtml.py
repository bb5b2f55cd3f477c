"""The HTML of an explorer row and of a triage group row, written in Python.

A page shows up to 200 rows; through the template engine each explorer row cost ~0.4 ms
(about 40 variable lookups, filters and two {% csrf_token %}s) and each triage group more
(its "work on this group" form), most of those pages' server time at any mirror size.
Here a row is a handful of string joins over values escaped once. The explorer list and
the single row an action answers (`_workitem_row.html`) both use `rows_html`, so the
markup has one source. Every value from the mirror goes through `esc`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, tzinfo
from html import escape
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from django.template.defaultfilters import linebreaksbr, urlize
from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import SafeString, mark_safe
from django.utils.text import Truncator

from dashboard.core.timefmt import absolute, relative

if TYPE_CHECKING:
    from dashboard.workitems.selectors import FailureGroup
    from dashboard.workitems.views import Row

MESSAGE_CHARS = 200


def esc(value: Any) -> str:
    """Escape text for an element or a quoted attribute (as Django's autoescape does)."""
    return escape(str(value), quote=True)


def short_id(value: str) -> str:
    """A long id as its head and tail ("f728b4fa…000c"): sibling ids often share a prefix."""
    text = str(value or "")
    return text if len(text) <= 14 else f"{text[:8]}…{text[-4:]}"


def _truncate(text: str, chars: int) -> str:
    """Django's `truncatechars`, without its cost for the (usual) text that fits."""
    return text if len(text) <= chars else Truncator(text).chars(chars)


def _message(text: str) -> str:
    return _truncate(text, MESSAGE_CHARS)


@dataclass(frozen=True)
class Clock:
    """The moment a page is written and its reader's zone, looked up once for all its rows."""

    now: datetime
    zone: tzinfo

    @classmethod
    def current(cls) -> Clock:
        return cls(timezone.now(), timezone.get_current_timezone())


def _ago(moment: datetime | None, clock: Clock | None = None) -> str:
    """What `{% when moment "relative" "—" %}` writes: "5 min ago", the exact time on hover."""
    if not isinstance(moment, datetime):
        return "—"
    now, zone = (clock.now, clock.zone) if clock else (None, None)
    return (
        f'<time datetime="{esc(moment.isoformat())}" title="{esc(absolute(moment, zone=zone))}">'
        f"{esc(relative(moment, now))}</time>"
    )


# What urlencode() writes (quote_plus): always-safe characters, + for a space, %XX, = and &.
_URLENCODED = re.compile(r"[A-Za-z0-9_.~+%=&-]*")


def _quote_query(query: str) -> str:
    """quote(query, safe="/") of a query string urlencode() wrote, without quote()'s walk
    over every character (a triage page quotes 200 of them)."""
    if not _URLENCODED.fullmatch(query):
        return quote(query, safe="/")
    return (
        query.replace("%", "%25")
        .replace("+", "%2B")
        .replace("=", "%3D")
        .replace("&", "%26")
    )


def _time(moment: tuple[str, str, str]) -> str:
    iso, shown, full = moment
    return f'<time datetime="{esc(iso)}" title="{esc(full)}">{esc(shown)}</time>'


def _state_cell(row: Row, review_labels: dict[str, str]) -> str:
    item = row.item
    parts = [
        f'<td class="state-cell"><span class="badge badge-{esc(item.state)}">'
        f"{esc(item.state.replace('_', ' '))}</span>"
    ]
    if item.gone_at:
        parts.append(' <span class="badge badge-stale">gone</span>')
    if row.review:
        label = review_labels.get(row.review, row.review)
        parts.append(
            f' <span class="badge badge-review review-{esc(row.review)}">{esc(label)}</span>'
        )
    if row.snoozed:
        parts.append(' <span class="badge badge-neutral snoozed">snoozed</span>')
    if row.owner:
        parts.append(
            f'<small class="owner clip" title="Owner">@{esc(row.owner)}</small>'
        )
    parts.append("</td>")
    return "".join(parts)


def _exception_cell(row: Row) -> str:
    item = row.item
    if item.exception_type:
        code = esc(item.exception_code)
        message = item.exception_message or ""
        body = (
            f'<span class="clip"><span class="exc-type exc-{esc(item.exception_type)}">'
            f"{esc(item.exception_type)}</span> "
            f'<code title="{code}">{code}</code></span>'
            f'<small class="clip exc-msg" title="{esc(message)}">{esc(_message(message))}</small>'
        )
    else:
        body = '<span class="muted">—</span>'
    notes = "".join(
        f'<small class="clip row-note" title="{esc(n)}">{esc(n)}</small>'
        for n in row.notes
    )
    return f'<td class="exc">{body}{notes}</td>'


def _action_form(url: str, csrf_input: str, button: str) -> str:
    return (
        f'<form method="post" action="{url}" class="inline-form" hx-post="{url}" '
        f'hx-target="closest tr" hx-swap="outerHTML">{csrf_input}'
        f'<input type="hidden" name="from" value="row">{button}</form>'
    )


def _button(label: str, css: str, action: str, reason: str) -> str:
    disabled = f' disabled title="{esc(reason)}"' if reason else ""
    return f'<button type="submit" class="{css}" name="do" value="{action}"{disabled}>{label}</button>'


def _actions_cell(row: Row, csrf_input: str) -> str:
    if not row.can_act:
        return '<td class="row-actions"></td>'
    # Each button posts in place: the answer is this row, re-rendered, plus the flash out of band.
    retry = _action_form(
        esc(row.retry_url),
        csrf_input,
        _button("Retry", "small", "retry", row.reasons.get("retry", "")),
    )
    done = _action_form(
        esc(row.done_url),
        csrf_input,
        _button(
            "Mark done",
            "small secondary",
            "mark_as_done",
            row.reasons.get("mark_as_done", ""),
        ),
    )
    return f'<td class="row-actions">{retry}{done}</td>'


def row_html(
    row: Row,
    *,
    csrf_input: str,
    select_column: bool,
    review_labels: dict[str, str],
) -> str:
    """Return one <tr> of the explorer (`select_column`: the table has a checkbox column)."""
    item = row.item
    short = esc(short_id(item.external_id))
    if row.can_act:
        select = (
            f'<td class="select"><input type="checkbox" name="ids" value="{item.pk}" '
            f'form="bulk-form" aria-label="Select item {short}"></td>'
        )
    else:
        select = '<td class="select"></td>' if select_column else ""
    process, workspace = esc(row.process_name), esc(row.workspace.name)
    as_of = row.as_of
    changed = row.changed
    return "".join(
        (
            f'<tr id="item-row-{item.pk}" class="item-row state-{esc(item.state)}'
            f'{" is-gone" if item.gone_at else ""}">',
            select,
            _state_cell(row, review_labels),
            f'<td class="id-cell"><a href="{esc(row.detail_url)}" class="item-link">'
            f'<code title="{esc(item.external_id)}">{short}</code></a></td>',
            f'<td class="proc-cell"><span class="clip" title="{process} · {workspace}">'
            f'{process}</span><small class="clip muted">{workspace}</small></td>',
            _exception_cell(row),
            # data-label names the time on a phone, where the row is a card (workitems.css).
            f'<td class="when" data-label="Created">{_time(row.created)}</td>',
            f'<td class="when" data-label="Changed">{_time(changed) if changed[0] else "—"}</td>',
            '<td class="when" data-label="Data as of"><small class="muted">'
            f"{_time(as_of) if as_of[0] else 'never synced'}</small></td>",
            _actions_cell(row, csrf_input),
            "</tr>",
        )
    )


def rows_html(
    rows: Iterable[Row], *, csrf_token: str, select_column: bool
) -> SafeString:
    """Return the <tr>s of a page of rows, ready for the template."""
    from dashboard.workitems.models import ReviewStatus

    csrf_input = (
        f'<input type="hidden" name="csrfmiddlewaretoken" value="{esc(csrf_token)}">'
    )
    labels = dict(ReviewStatus.choices)
    # Every value interpolated above went through esc(); the markup is this module's own.
    return mark_safe(  # noqa: S308
        "\n".join(
            row_html(
                row,
                csrf_input=csrf_input,
                select_column=select_column,
                review_labels=labels,
            )
            for row in rows
        )
    )


# --- triage groups ------------------------------------------------------------------------


@dataclass(frozen=True)
class GroupPage:
    """What every triage group row shares (computed once a page)."""

    csrf_input: str
    list_url: str
    bulk_url: str
    group_url: str
    can_act: bool
    here: str
    review_options: str  # the review status <option>s, the same for every group
    review_labels: dict[str, str]
    alert_urls: dict[str, str]  # team slug → "new alert rule" URL ("" when absent)
    clock: Clock | None = None


def _members_options(members: list[Any]) -> str:
    return "".join(
        f'<option value="{esc(m.pk)}">{esc(m.get_username())}</option>' for m in members
    )


def _group_bulk(g: FailureGroup, page: GroupPage, query: str) -> str:
    if not (page.bulk_url and page.can_act):
        return ""
    count = f"{g.count:,}"
    action, label = (
        ("retry", f"Retry all {count}")
        if g.transient
        else ("mark_as_done", f"Mark all {count} done")
    )
    # Posts the group's filter (never ids) straight to the bulk preview; nothing runs
    # before the operator confirms there.
    return (
        f'<form method="post" action="{esc(page.bulk_url)}" class="inline-form bulk-group-form">'
        f'{page.csrf_input}<input type="hidden" name="selection" value="filter">'
        f'<input type="hidden" name="filter" value="{query}">'
        f'<input type="hidden" name="action" value="{action}">'
        f'<button type="submit" class="link-button small bulk-link">{label}…</button></form>'
    )


def _group_alert(g: FailureGroup, page: GroupPage, raw_query: str) -> str:
    url = page.alert_urls.get(g.workspace.team.slug, "") if page.can_act else ""
    if not url:
        return ""
    return (
        f'<br><a class="small alert-link" href="{esc(url)}?condition=failure_spike&amp;'
        f'filter_query={esc(_quote_query(raw_query))}">Alert on this group…</a>'
    )


def _group_team(g: FailureGroup, page: GroupPage) -> str:
    parts = [
        f'<small class="owner">@{esc(owner)} \u00d7{n}</small> '
        for owner, n in g.owners.items()
    ]
    parts += [
        f'<span class="badge badge-review review-{esc(status)}">'
        f"{esc(page.review_labels.get(status, status))} {n}</span> "
        for status, n in g.reviews.items()
    ]
    if g.comments:
        comment = linebreaksbr(
            urlize(_truncate(g.latest_comment, 200), autoescape=True),
            autoescape=True,
        )
        parts.append(
            f'<small class="muted">{g.comments} comment{"s" if g.comments != 1 else ""}</small>'
            f'<p class="group-comment small">{comment}</p>'
        )
    if page.can_act:
        key = g.key
        hidden = "".join(
            f'<input type="hidden" name="{name}" value="{esc(value)}">'
            for name, value in (
                ("workspace", key.workspace_id),
                ("process_external_id", key.process_external_id),
                ("exception_type", key.exception_type),
                ("exception_code", key.exception_code),
                ("signature", key.signature),
                ("next", page.here),
            )
        )
        parts.append(
            '<details class="group-work"><summary>Work on this group</summary>'
            f'<form method="post" action="{esc(page.group_url)}" class="group-form">'
            f"{page.csrf_input}{hidden}"
            '<button type="submit" name="do" value="claim" class="small">Claim all</button>'
            ' <button type="submit" name="do" value="unassign" class="small secondary">Unassign all</button>'
            f' <select name="owner" aria-label="Assign to">{_members_options(g.members)}</select>'
            ' <button type="submit" name="do" value="assign" class="small secondary">Assign all</button>'
            f' <select name="review_status" aria-label="Review status">{page.review_options}</select>'
            ' <button type="submit" name="do" value="review" class="small secondary">Set review status</button>'
            ' <label class="inline">Snooze until <input type="datetime-local" name="until"></label>'
            ' <label class="check"><input type="checkbox" name="next_run" value="1"> or the next run</label>'
            ' <button type="submit" name="do" value="snooze" class="small secondary">Snooze group</button>'
            ' <button type="submit" name="do" value="wake" class="small secondary">Wake group</button>'
            ' <label>Comment on the group <textarea name="body" rows="2" maxlength="5000"></textarea></label>'
            ' <button type="submit" name="do" value="comment" class="small">Comment</button>'
            "</form></details>"
        )
    return f'<td class="group-team">{"".join(parts)}</td>'


def group_html(g: FailureGroup, page: GroupPage) -> str:
    """Return one <tr> of the triage table."""
    raw_query = g.explorer_query
    query = esc(raw_query)
    link = f"{esc(page.list_url)}?{query}"
    kind = esc(g.exception_type or "unspecified")
    message = _truncate(g.sample_message or "(no message)", 160)
    signature = (
        f'<br><small class="muted signature">{esc(_truncate(g.signature, 160))}</small>'
        if g.signature and g.signature != g.sample_message
        else ""
    )
    css = "is-transient" if g.transient else "is-business"
    return "".join(
        (
            f'<tr class="group {css} exc-row-{esc(g.exception_type)}">',
            f'<td class="num"><a class="group-link" href="{link}"><strong>{g.count:,}</strong></a></td>',
            f'<td><span class="exc-type exc-{kind}">{esc(g.kind_label)}</span><br>'
            f'<small class="advice">{esc(g.advice)}</small>',
            _group_bulk(g, page, query),
            _group_alert(g, page, raw_query),
            "</td>",
            f"<td><code>{esc(g.exception_code or '—')}</code></td>",
            f'<td><a class="group-link" href="{link}">{esc(message)}</a>{signature}</td>',
            f"<td>{esc(g.process.name if g.process else '?')}<br>"
            f'<small class="muted">{esc(g.workspace.name)}</small></td>',
            f"<td>{_ago(g.first_seen, page.clock)}</td>",
            f"<td>{_ago(g.last_seen, page.clock)}</td>",
            _group_team(g, page),
            "</tr>",
        )
    )


def groups_html(
    groups: list[FailureGroup],
    *,
    csrf_token: str,
    list_url: str,
    bulk_url: str,
    can_act: bool,
    here: str,
) -> SafeString:
    """Return the <tr>s of the triage groups, ready for the template."""
    from dashboard.workitems.models import ReviewStatus
    from dashboard.workitems.templatetags.workitems import safe_url

    slugs = {g.workspace.team.slug for g in groups} if can_act else set()
    page = GroupPage(
        csrf_input=(
            f'<input type="hidden" name="csrfmiddlewaretoken" value="{esc(csrf_token)}">'
        ),
        list_url=list_url,
        bulk_url=bulk_url,
        group_url=reverse("workitems-group"),
        can_act=can_act,
        here=here,
        review_options="".join(
            f'<option value="{esc(v)}">{esc(label)}</option>'
            for v, label in ReviewStatus.choices
        ),
        review_labels=dict(ReviewStatus.choices),
        alert_urls={s: safe_url("alerts-rule-new", team_slug=s) for s in slugs},
        clock=Clock.current(),
    )
    # Every value interpolated above went through esc() (or Django's own filters).
    return mark_safe("\n".join(group_html(g, page) for g in groups))  # noqa: S308
