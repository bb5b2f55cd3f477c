"""Pages and fragments of working on failures together: an item's owner, review status,
snooze and comments (a panel the item page polls), the same for a triage group, the payload
history, undoing a held action, and the mention notices.

Views are thin: they read the form, call `collab` / `undo` / `payload_history`, and render.
Reading needs membership of the item's team (another team's item is a 404); changing needs
the operator role (403), checked again by the service when the change happens.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import trigger_client_event

from dashboard.accounts.http import HtmxHttpRequest
from dashboard.accounts.models import Role, User
from dashboard.accounts.permissions import get_membership_or_404, require_role
from dashboard.audit.services import Actor
from dashboard.mirror.models import WorkItem
from dashboard.workitems import collab, payload_history, services, undo
from dashboard.workitems.collab import CollabError, GroupKey
from dashboard.workitems.models import (
    ItemHandling,
    Notification,
    PayloadVersion,
    PendingAction,
    ReviewStatus,
)
from dashboard.workitems.selectors import Scope
from dashboard.workspaces.models import Workspace

DETAIL = "workitems/workitem_detail.html"


def _item(request: HttpRequest, item_id: int, *, act: bool = False) -> WorkItem:
    item = (
        WorkItem.objects.select_related("workspace__team", "process")
        .filter(pk=item_id)
        .first()
    )
    if item is None:
        raise Http404("No such work item.")
    if act:
        require_role(request.user, item.workspace.team, Role.OPERATOR)
    else:
        get_membership_or_404(request.user, item.workspace.team)
    return item


def collab_context(item: WorkItem, user: Any) -> dict[str, Any]:
    """What the item page's collaboration panel shows (also used by the first render)."""
    handling = (
        ItemHandling.objects.filter(work_item=item).select_related("owner").first()
    )
    key = GroupKey.of(item)
    group = collab.find_group_row(key)
    scope = Scope.for_user(user)
    return {
        "item": item,
        "handling": handling,
        "review_choices": ReviewStatus.choices,
        "members": collab.assignable_members(item.workspace.team),
        "comments": collab.comments_for_item(item),
        "group_snooze": group,
        "snoozed_now": _snoozed_now(item),
        "held": undo.pending_for_items([item]),
        "can_act": scope.can_act(item.workspace),
        "me": user,
    }


def _snoozed_now(item: WorkItem) -> bool:
    return (
        WorkItem.objects.filter(pk=item.pk).filter(collab.snoozed_condition()).exists()
    )


def _panel(
    request: HttpRequest, item: WorkItem, flash: str = "", level: str = "success"
) -> HttpResponse:
    if not getattr(request, "htmx", False):
        if flash:
            getattr(messages, level if level in ("success", "error") else "info")(
                request, flash
            )
        return redirect("workitems-item-detail", item_id=item.pk)
    ctx = collab_context(item, request.user) | {
        "collab_flash": flash,
        "collab_flash_level": level,
    }
    response = render(request, DETAIL + "#collab-live", ctx)
    return trigger_client_event(response, "collabChanged") if flash else response


@login_required
@require_GET
def item_collab(request: HtmxHttpRequest, item_id: int) -> HttpResponse:
    """The live part of the collaboration panel (the item page polls it)."""
    item = _item(request, item_id)
    return render(request, DETAIL + "#collab-live", collab_context(item, request.user))


@login_required
@require_POST
def item_owner(request: HtmxHttpRequest, item_id: int) -> HttpResponse:
    item = _item(request, item_id, act=True)
    actor = Actor.from_request(request)
    do = request.POST.get("do", "")
    try:
        if do == "claim":
            collab.claim([item], actor)
            flash = "You own this item now."
        elif do == "unassign":
            collab.assign([item], None, actor)
            flash = "Nobody owns this item now."
        elif do == "assign":
            owner = _member(request.POST.get("owner", ""), item.workspace)
            collab.assign([item], owner, actor)
            flash = f"Assigned to {owner.get_username()}."
        else:
            return _panel(request, item, "Choose claim, assign or unassign.", "error")
    except CollabError as err:
        return _panel(request, item, err.message, "error")
    return _panel(request, item, flash)


def _member(value: str, workspace: Workspace) -> User:
    if not value.isdigit():
        raise CollabError("Choose a team member to assign.")
    user = User.objects.filter(
        pk=int(value), memberships__team_id=workspace.team_id
    ).first()
    if user is None:
        raise CollabError("That person is not a member of this team.")
    return user


@login_required
@require_POST
def item_review(request: HtmxHttpRequest, item_id: int) -> HttpResponse:
    item = _item(request, item_id, act=True)
    status = request.POST.get("review_status", "")
    try:
        collab.set_review([item], status, Actor.from_request(request))
    except CollabError as err:
        return _panel(request, item, err.message, "error")
    return _panel(request, item, f"Review status: {collab.REVIEW_LABELS[status]}.")


def parse_snooze(data: QueryDict) -> tuple[datetime | None, bool]:
    """Read a snooze form: ("until" a local date-time | "next_run" checked).

    Raises:
        CollabError: neither, or a date-time that cannot be read.
    """
    if data.get("next_run"):
        return None, True
    text = (data.get("until") or "").strip()[:40]
    try:
        moment = parse_datetime(text) if text else None
    except ValueError:  # well formed, but no such date (a 31st of February)
        moment = None
    if moment is None:
        raise CollabError("Choose a date and time, or “until the next run”.")
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment)
    return moment, False


@login_required
@require_POST
def item_snooze(request: HtmxHttpRequest, item_id: int) -> HttpResponse:
    item = _item(request, item_id, act=True)
    actor = Actor.from_request(request)
    try:
        if request.POST.get("do") == "wake":
            collab.unsnooze_items([item], actor)
            return _panel(request, item, "Woken up: the item is back in the inbox.")
        until, next_run = parse_snooze(request.POST)
        collab.snooze_items([item], actor, until=until, next_run=next_run)
    except CollabError as err:
        return _panel(request, item, err.message, "error")
    return _panel(request, item, "Snoozed: hidden from the failed inbox until then.")


@login_required
@require_POST
def item_comment(request: HtmxHttpRequest, item_id: int) -> HttpResponse:
    item = _item(request, item_id, act=True)
    try:
        collab.add_comment(
            Actor.from_request(request), request.POST.get("body", ""), item=item
        )
    except CollabError as err:
        return _panel(request, item, err.message, "error")
    return _panel(request, item, "Comment added.")


@login_required
@require_POST
def items_owner(request: HtmxHttpRequest) -> HttpResponse:
    """Claim or unassign the rows ticked in the explorer (split a group between people)."""
    ids = [int(v) for v in request.POST.getlist("ids") if v.isdigit() and len(v) < 12]
    scope = Scope.for_user(request.user)
    items = list(
        WorkItem.objects.filter(
            pk__in=ids[:500], workspace_id__in=list(scope.workspaces)
        )
        .select_related("workspace__team")
        .order_by("workspace_id", "pk")
    )
    actor = Actor.from_request(request)
    do = request.POST.get("do", "")
    by_workspace: dict[int, list[WorkItem]] = {}
    for item in items:
        by_workspace.setdefault(item.workspace_id, []).append(item)
    changed, problems = 0, []
    for group in by_workspace.values():
        try:
            if do == "claim":
                changed += collab.claim(group, actor)
            elif do == "unassign":
                changed += collab.assign(group, None, actor)
        except CollabError as err:
            problems.append(err.message)
    if not items:
        messages.error(request, "Tick the rows to claim or unassign first.")
    elif problems:
        messages.error(request, " ".join(problems))
    else:
        verb = "You own" if do == "claim" else "Unassigned"
        messages.success(request, f"{verb} {changed} more item(s).")
    query = request.POST.get("filter", "")
    return redirect(reverse("workitems-item-list") + (f"?{query}" if query else ""))


# --- triage groups --------------------------------------------------------------------------


def _group_key(request: HttpRequest) -> tuple[GroupKey, Workspace]:
    data = request.POST
    ws_id = data.get("workspace", "")
    if not ws_id.isdigit():
        raise Http404("No such group.")
    workspace = get_object_or_404(
        Workspace.objects.select_related("team"), pk=int(ws_id)
    )
    require_role(request.user, workspace.team, Role.OPERATOR)
    key = GroupKey(
        workspace.pk,
        data.get("process_external_id", "")[:100],
        data.get("exception_type", "")[:32],
        data.get("exception_code", "")[:200],
        data.get("signature", "")[:255],
    )
    return key, workspace


@login_required
@require_POST
def group_action(request: HtmxHttpRequest) -> HttpResponse:
    """Claim, assign, unassign, set the review status of, snooze, wake or comment on a whole
    triage group (its failed items now; a snooze or comment also reaches future ones)."""
    key, workspace = _group_key(request)
    actor = Actor.from_request(request)
    do = request.POST.get("do", "")
    items = list(key.failed_items().select_related("workspace__team"))
    try:
        message = _group_do(do, key, workspace, items, actor, request.POST)
        level = "success"
    except CollabError as err:
        message, level = err.message, "error"
    getattr(messages, level)(request, message)
    back = request.POST.get("next", "")
    if back.startswith("/") and not back.startswith("//"):
        return redirect(back)
    return redirect(reverse("workitems-triage"))


def _group_do(
    do: str,
    key: GroupKey,
    workspace: Workspace,
    items: list[WorkItem],
    actor: Actor,
    data: QueryDict,
) -> str:
    if do == "claim":
        return f"You own {collab.claim(items, actor)} more item(s) of the group."
    if do == "assign":
        owner = _member(data.get("owner", ""), workspace)
        n = collab.assign(items, owner, actor)
        return f"Assigned {n} item(s) of the group to {owner.get_username()}."
    if do == "unassign":
        return f"Unassigned {collab.assign(items, None, actor)} item(s) of the group."
    if do == "review":
        status = data.get("review_status", "")
        n = collab.set_review(items, status, actor)
        return f"Review status of {n} item(s) set to {collab.REVIEW_LABELS.get(status, '?')}."
    if do == "snooze":
        until, next_run = parse_snooze(data)
        collab.snooze_group(key, actor, until=until, next_run=next_run)
        return "Snoozed the group: its items (new ones too) are hidden until then."
    if do == "wake":
        collab.unsnooze_group(key, actor)
        return "Woke the group up."
    if do == "comment":
        collab.add_comment(actor, data.get("body", ""), group=key)
        return "Comment added to the group: it shows on every item of the group."
    raise CollabError("Unknown group action.")


# --- payload history ------------------------------------------------------------------------


@login_required
@require_GET
def payload_versions(request: HtmxHttpRequest, item_id: int) -> HttpResponse:
    """The payload versions and the JSON diff between two of them (?a=&b=; 0 = original)."""
    item = _item(request, item_id)
    versions = payload_history.versions(item)
    numbers = [v.number for v in versions]
    newest = numbers[0] if numbers else 0
    a, b = (
        _version_number(request.GET.get("a"), newest - 1),
        _version_number(request.GET.get("b"), newest),
    )
    changes: list[payload_history.Change] = []
    error = ""
    if versions:
        try:
            changes = payload_history.json_diff(
                payload_history.payload_at(item, a), payload_history.payload_at(item, b)
            )
        except PayloadVersion.DoesNotExist:
            error = "No such version of this payload."
    ctx = {
        "item": item,
        "versions": versions,
        "a": a,
        "b": b,
        "changes": changes,
        "diff_error": error,
        "can_act": Scope.for_user(request.user).can_act(item.workspace),
    }
    template = "workitems/payload_history.html"
    if request.htmx and not request.htmx.boosted:
        return render(request, template + "#diff", ctx)
    return render(request, template, ctx, status=404 if error else 200)


def _version_number(value: str | None, default: int) -> int:
    return int(value) if value and value.isdigit() else max(default, 0)


@login_required
@require_POST
def payload_revert(request: HtmxHttpRequest, item_id: int) -> HttpResponse:
    """Put back the payload as version N left it: a new edit through the action core."""
    item = _item(request, item_id, act=True)
    number = _version_number(request.POST.get("version"), -1)
    try:
        payload = payload_history.payload_at(item, number)
    except PayloadVersion.DoesNotExist:
        messages.error(request, "No such version of this payload.")
        return redirect("workitems-item-payload-history", item_id=item.pk)
    try:
        result = services.update_payload(
            item,
            payload,
            Actor.from_request(request),
            note=f"revert to version {number}",
        )
    except services.ActionError as err:
        messages.error(request, err.message)
        return redirect("workitems-item-payload-history", item_id=item.pk)
    if result.schema_errors:
        messages.error(request, "That version does not match the process's schema now.")
    else:
        messages.success(request, f"Payload put back as version {number} left it.")
    return redirect("workitems-item-payload-history", item_id=item.pk)


# --- undo -----------------------------------------------------------------------------------


@login_required
@require_POST
def pending_undo(request: HtmxHttpRequest, pending_id: int) -> HttpResponse:
    pending = get_object_or_404(
        PendingAction.objects.select_related("workspace__team"), pk=pending_id
    )
    require_role(request.user, pending.workspace.team, Role.OPERATOR)
    try:
        undo.undo(pending.pk, Actor.from_request(request))
        message, level = "Undone: nothing was sent to Control Room.", "success"
    except undo.UndoError as err:
        message, level = err.message, "error"
    if request.htmx:
        response = render(
            request,
            "workitems/_held_action.html",
            {"flash": message, "flash_level": level, "pending": None},
        )
        return trigger_client_event(response, "workItemsChanged")
    getattr(messages, level)(request, message)
    ids = pending.work_item_ids
    if len(ids) == 1:
        return redirect("workitems-item-detail", item_id=ids[0])
    return redirect("workitems-item-list")


# --- notifications --------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def notifications(request: HttpRequest) -> HttpResponse:
    """The signed-in user's mention notices; POST marks them all read."""
    user = request.user
    assert isinstance(user, User)
    if request.method == "POST":
        collab.mark_notifications_read(user)
        return redirect("workitems-notifications")
    notices = Notification.objects.filter(user=user).select_related("team")[:100]
    return render(request, "workitems/notifications.html", {"notices": notices})
