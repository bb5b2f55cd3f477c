"""Pages of the work item explorer, failure triage, item detail and single actions.

Access: a user sees the items of their teams' workspaces; another team's item is a 404;
actions need the operator role (viewers get 403); schemas need the admin role.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseRedirect,
    QueryDict,
    StreamingHttpResponse,
)
from django.middleware.csrf import get_token
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import trigger_client_event

from dashboard.accounts.http import HtmxHttpRequest
from dashboard.accounts.models import Role
from dashboard.accounts.permissions import get_membership_or_404, require_role
from dashboard.audit import services as audit
from dashboard.audit.services import Actor
from dashboard.core.timefmt import PATTERNS, absolute
from dashboard.mirror.models import Process, WorkItem
from dashboard.workitems import collab, export, rowhtml, selectors, services, undo
from dashboard.workitems.collab_views import collab_context
from dashboard.workitems.extensions import history_sections, row_notes
from dashboard.workitems.filtering import read_filter
from dashboard.workitems.forms import (
    DEFAULT_PAGE_SIZE,
    MAX_PAYLOAD_CHARS,
    PayloadForm,
    SavedViewForm,
    SchemaForm,
    UploadForm,
    only_fields,
    pretty_json,
)
from dashboard.workitems.models import (
    ItemHandling,
    ProcessSchema,
    ReviewStatus,
    SavedView,
)
from dashboard.workitems.schemas import ParseError, parse_payload
from dashboard.workitems.selectors import Scope
from dashboard.workitems.uploads import (
    SizeLimitUploadHandler,
    clean_filename,
    max_upload_bytes,
)
from robocorp_api.models import WORK_ITEM_STATES

# --- rows ---------------------------------------------------------------------------------


_ROW_DATE = "%d %b %H:%M"
ABSOLUTE = PATTERNS["absolute"]


@dataclass
class Row:
    """One explorer row with what its template needs (no queries in templates)."""

    item: WorkItem
    workspace: Any
    process_name: str
    data_as_of: Any
    can_act: bool
    reasons: dict[str, str]
    notes: list[str] = field(default_factory=list)
    owner: str = ""
    review: str = ""
    snoozed: bool = False

    # Dates are formatted here: Django's `date` filter costs ~10 ms on a 50-row page.
    # Compact ("22 Nov 19:30") to keep rows on one line; the full time with its zone is the title.
    @property
    def created(self) -> tuple[str, str, str]:
        return _when(self.item.created_at, _ROW_DATE)

    @property
    def changed(self) -> tuple[str, str, str]:
        return _when(self.item.state_updated_at, _ROW_DATE)

    @property
    def as_of(self) -> tuple[str, str, str]:
        return _when(self.data_as_of, "%H:%M:%S")

    @property
    def detail_url(self) -> str:
        return _url_for("workitems-item-detail", self.item.pk)

    @property
    def retry_url(self) -> str:
        return _url_for("workitems-item-action", self.item.pk, "retry")

    @property
    def done_url(self) -> str:
        return _url_for("workitems-item-action", self.item.pk, "mark_as_done")


_URL_TEMPLATES: dict[tuple[str, str], str] = {}


def _when(moment: datetime | None, fmt: str) -> tuple[str, str, str]:
    """Return (ISO 8601, reader's local time in `fmt`, full local time with its zone) of a
    moment, ("", "", "") for None. The full time is timefmt.absolute's, converted once."""
    if moment is None:
        return "", "", ""
    if timezone.is_naive(moment):
        return moment.isoformat(), moment.strftime(fmt), absolute(moment)
    local = moment.astimezone(timezone.get_current_timezone())
    full = f"{local.strftime(ABSOLUTE)} {local.tzname() or ''}".strip()
    return moment.isoformat(), local.strftime(fmt), full


def _optional_url(name: str) -> str:
    try:
        return reverse(name)
    except NoReverseMatch:
        return ""


def _url_for(name: str, pk: int, action: str = "") -> str:
    """reverse() once per url name, then fill in the pk (a page renders hundreds of these)."""
    key = (name, action)
    if key not in _URL_TEMPLATES:
        args: list[Any] = [987654321] + ([action] if action else [])
        _URL_TEMPLATES[key] = reverse(name, args=args).replace("987654321", "{pk}")
    return _URL_TEMPLATES[key].format(pk=pk)


def _rows(scope: Scope, items: list[WorkItem]) -> list[Row]:
    as_of = selectors.data_as_of(list({i.workspace_id for i in items}))
    names = {p.pk: p.name for p in scope.all_processes}
    base: dict[int, dict[str, str]] = {}
    notes = row_notes(items)
    rows = [
        replace(
            _row(
                scope,
                item,
                names.get(item.process_id, item.process_external_id),
                as_of.get(item.workspace_id),
                base,
            ),
            notes=notes.get(item.pk, []),
        )
        for item in items
    ]
    _add_handling(rows, scope)
    return rows


def _add_handling(rows: list[Row], scope: Scope) -> None:
    """Give rows their owner, review status and snooze (one query for the page, and one
    more only when something in scope is snoozed)."""
    ids = [r.item.pk for r in rows]
    handlings = {
        h[0]: h[1:]
        for h in ItemHandling.objects.filter(work_item__in=ids).values_list(
            "work_item_id", "owner__username", "review_status"
        )
    }
    snoozed = (
        set(
            WorkItem.objects.filter(pk__in=ids)
            .filter(collab.snoozed_condition())
            .values_list("pk", flat=True)
        )
        if ids and scope.has_snoozes
        else set()
    )
    for row in rows:
        owner, review = handlings.get(row.item.pk, (None, ""))
        row.owner = owner or ""
        row.review = "" if review == ReviewStatus.NONE else review
        row.snoozed = row.item.pk in snoozed


def _row(
    scope: Scope,
    item: WorkItem,
    process_name: str,
    as_of: Any,
    base: dict[int, dict[str, str]] | None = None,
) -> Row:
    workspace = scope.workspaces[item.workspace_id]
    if base is not None and workspace.pk not in base:
        base[workspace.pk] = services.workspace_reasons(workspace)
    return Row(
        item=item,
        workspace=workspace,
        process_name=process_name,
        data_as_of=selectors.item_data_as_of(item, as_of),
        can_act=scope.can_act(workspace),
        reasons=services.item_action_reasons(
            workspace, item, base.get(workspace.pk) if base is not None else None
        ),
    )


def _single_row(scope: Scope, item: WorkItem) -> Row:
    as_of = selectors.data_as_of([item.workspace_id]).get(item.workspace_id)
    name = (
        Process.objects.filter(pk=item.process_id)
        .values_list("name", flat=True)
        .first()
    )
    row = _row(scope, item, name or item.process_external_id, as_of)
    _add_handling([row], scope)
    return row


# --- explorer -----------------------------------------------------------------------------


def _explorer_context(request: HttpRequest, scope: Scope) -> dict[str, Any]:
    item_filter = read_filter(scope, request.GET)
    form, filters = item_filter.form, item_filter.filters
    items = (
        WorkItem.objects.none()
        if item_filter.error
        else selectors.filtered_items(scope, filters)
    )
    page = selectors.keyset_page(
        items,
        sort=filters.get("sort") or "-created",
        page_size=filters.get("page_size") or DEFAULT_PAGE_SIZE,
        after=filters.get("after") or "",
        before=filters.get("before") or "",
    )
    counts = (
        dict.fromkeys(WORK_ITEM_STATES, 0)
        if item_filter.error
        else selectors.state_counts(scope, filters, page)
    )
    teams = {w.team_id: w.team for w in scope.workspaces.values()}
    any_action = any(scope.can_act(w) for w in scope.workspaces.values())
    # Bulk operations live on a floor above; the checkbox column only when they exist.
    bulk_url = _optional_url("bulk-new") if any_action else ""
    rows = _rows(scope, page.rows)
    return {
        "form": form,
        "filter_error": item_filter.error,
        "filters": filters,
        "page": page,
        "rows": rows,
        "rows_html": rowhtml.rows_html(
            rows, csrf_token=get_token(request), select_column=bool(bulk_url)
        ),
        "bulk_url": bulk_url,
        "counts": [(s, counts.get(s, 0)) for s in WORK_ITEM_STATES],
        "counts_total": sum(counts.values()),
        "matching": sum(counts.get(s, 0) for s in filters.get("state") or [])
        if filters.get("state")
        else sum(counts.values()),
        "selected_states": set(filters.get("state") or []),
        "filter_query": form.filter_query(),
        "filter_pairs": [
            (name, value)
            for name, values in QueryDict(form.filter_query()).lists()
            for value in values
        ],
        "saved_views": SavedView.objects.filter(team_id__in=list(teams)).select_related(
            "team"
        ),
        "teams": list(teams.values()),
        "has_workspaces": bool(scope.workspaces),
        "any_action": any_action,
    }


@login_required
@require_GET
def workitem_list(request: HtmxHttpRequest) -> HttpResponse:
    scope = Scope.for_user(request.user)
    ctx = _explorer_context(request, scope)
    if request.htmx and not request.htmx.boosted:
        return render(request, "workitems/workitem_list.html#results", ctx)
    return render(request, "workitems/workitem_list.html", ctx)


@login_required
@require_GET
def workitem_export(request: HttpRequest) -> HttpResponse | StreamingHttpResponse:
    """Stream the current filter as CSV (workitems.export), with the payload fields asked
    for (`payload_field=order.id`) as extra columns; a bad filter or path is a 400."""
    scope = Scope.for_user(request.user)
    item_filter = read_filter(scope, request.GET)
    try:
        if item_filter.error:
            raise export.BadColumns(item_filter.error)
        fields = export.parse_payload_fields(request.GET.getlist("payload_field"))
    except export.BadColumns as err:
        return HttpResponse(
            err.message, status=400, content_type="text/plain; charset=utf-8"
        )
    filters = item_filter.filters
    lines = export.lines(
        scope,
        selectors.filtered_items(scope, filters),
        sort=filters.get("sort") or "-created",
        payload_fields=fields,
    )
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    response = StreamingHttpResponse(lines, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="work-items-{stamp}.csv"'
    return response


_csv_safe = export.csv_safe


# --- saved views --------------------------------------------------------------------------


@login_required
@require_POST
def savedview_create(request: HtmxHttpRequest) -> HttpResponse:
    scope = Scope.for_user(request.user)
    teams = {w.team_id: w.team for w in scope.workspaces.values()}
    form = SavedViewForm(request.POST, teams=[(t.pk, t.name) for t in teams.values()])
    target = reverse("workitems-item-list")
    if not form.is_valid():
        messages.error(request, "Give the view a name and a team.")
        return redirect(target + "?" + request.POST.get("query", ""))
    team = teams[form.cleaned_data["team"]]
    get_membership_or_404(request.user, team)
    query = only_fields(QueryDict(form.cleaned_data["query"]))
    try:
        view = SavedView.objects.create(
            team=team,
            name=form.cleaned_data["name"].strip(),
            query=query,
            created_by=request.user,  # type: ignore[misc]
        )
    except IntegrityError:
        messages.error(request, f"{team.name} already has a view with that name.")
        return redirect(target + ("?" + query if query else ""))
    audit.record(
        request,
        team=team,
        action="saved_view.create",
        obj=view,
        summary=f"Saved explorer view {view.name}",
        data={"query": query},
    )
    messages.success(request, f"Saved view “{view.name}” for {team.name}.")
    return redirect(target + ("?" + query if query else ""))


@login_required
@require_POST
def savedview_delete(request: HttpRequest, view_id: int) -> HttpResponse:
    view = get_object_or_404(SavedView.objects.select_related("team"), pk=view_id)
    membership = get_membership_or_404(request.user, view.team)
    if view.created_by_id != request.user.pk and not membership.is_admin:
        raise PermissionDenied(
            "Only its author or a team admin can delete a saved view."
        )
    audit.record(
        request,
        team=view.team,
        action="saved_view.delete",
        obj=view,
        summary=f"Deleted explorer view {view.name}",
    )
    view.delete()
    messages.success(request, f"Deleted view “{view.name}”.")
    return redirect("workitems-item-list")


# --- triage -------------------------------------------------------------------------------


@login_required
@require_GET
def failure_triage(request: HtmxHttpRequest) -> HttpResponse:
    scope = Scope.for_user(request.user)
    item_filter = read_filter(scope, request.GET)
    filters = item_filter.filters
    triage = (
        selectors.Triage([], 0, False)
        if item_filter.error
        else selectors.failure_groups(
            scope,
            workspace=filters.get("workspace"),
            process=filters.get("process"),
            exception_type=filters.get("exception_type") or "",
            snoozed=filters.get("snoozed") or "",
        )
    )
    members = _members_by_workspace(scope)
    for group in triage.groups:
        group.members = members.get(group.workspace.pk, [])
    list_url = reverse("workitems-item-list")
    # Bulk operations live on a floor above; link to them only when the app is installed.
    bulk_url = _optional_url("bulk-new")
    can_act = any(scope.can_act(w) for w in scope.workspaces.values())
    here = request.get_full_path()
    ctx = {
        "form": item_filter.form,
        "filter_error": item_filter.error,
        "triage": triage,
        "groups_html": rowhtml.groups_html(
            triage.groups,
            csrf_token=get_token(request),
            list_url=list_url,
            bulk_url=bulk_url,
            can_act=can_act,
            here=here,
        ),
        "has_workspaces": bool(scope.workspaces),
        "list_url": list_url,
        "bulk_url": bulk_url,
        "can_act": can_act,
        "here": here,
    }
    if request.htmx and not request.htmx.boosted:
        return render(request, "workitems/failure_triage.html#groups", ctx)
    return render(request, "workitems/failure_triage.html", ctx)


def _members_by_workspace(scope: Scope) -> dict[int, list[Any]]:
    """The people a group of each workspace can be assigned to."""
    by_team: dict[int, list[Any]] = {}
    for workspace in scope.workspaces.values():
        if workspace.team_id not in by_team and scope.can_act(workspace):
            by_team[workspace.team_id] = collab.assignable_members(workspace.team)
    return {w.pk: by_team.get(w.team_id, []) for w in scope.workspaces.values()}


# --- one item -----------------------------------------------------------------------------


def _item_for(
    request: HttpRequest, item_id: int, *, act: bool = False
) -> tuple[WorkItem, Scope]:
    item = (
        WorkItem.objects.select_related("workspace__team", "process", "process_run")
        .filter(pk=item_id)
        .first()
    )
    if item is None:
        raise Http404("No such work item.")
    if act:
        require_role(request.user, item.workspace.team, Role.OPERATOR)
    else:
        get_membership_or_404(request.user, item.workspace.team)
    return item, Scope.for_user(request.user)


def _detail_context(
    request: HttpRequest, item: WorkItem, scope: Scope, **extra: Any
) -> dict[str, Any]:
    workspace = item.workspace
    row = _single_row(scope, item)
    payload_text = extra.pop("payload_text", None)
    collab_ctx = collab_context(item, request.user)
    if collab_ctx["held"]:
        # A mark done / delete is waiting for its undo window: no second one on top.
        for name in undo.HELD_ACTIONS:
            row.reasons[name] = "Waiting to be sent: undo it below, or let it go."
    return {
        "item": item,
        "row": row,
        "workspace": workspace,
        "can_act": scope.can_act(workspace),
        "reasons": row.reasons,
        "reason_notes": sorted({r for r in row.reasons.values() if r}),
        "history": selectors.item_history(item),
        "history_sections": history_sections(item),
        "payload_form": PayloadForm(
            initial={"payload": pretty_json(item.payload)}
            if payload_text is None
            else None,
            data={"payload": payload_text} if payload_text is not None else None,
        ),
        "upload_form": UploadForm(),
        "max_upload_mb": max_upload_bytes() // (1024 * 1024),
        "has_schema": ProcessSchema.objects.filter(
            workspace=workspace, process_external_id=item.process_external_id
        ).exists(),
        "is_admin": scope.is_admin(workspace),
        **collab_ctx,
        **extra,
    }


@login_required
@require_GET
def workitem_detail(request: HtmxHttpRequest, item_id: int) -> HttpResponse:
    item, scope = _item_for(request, item_id)
    notice = ""
    if (
        item.payload_synced_at is None
        and item.gone_at is None
        and item.workspace.enabled
    ):
        # The list API carries no payload: read it once so the page shows the real one.
        try:
            with services.open_client(item.workspace) as client:
                item = services.item_refresh(client, item)
        except services.ActionError as err:
            notice = f"Could not read the payload from Control Room: {err.message}"
    return render(
        request,
        "workitems/workitem_detail.html",
        _detail_context(request, item, scope, notice=notice),
    )


def _respond(
    request: HtmxHttpRequest,
    item: WorkItem,
    scope: Scope,
    message: str,
    level: str,
    *,
    region: str,
    status: int = 200,
    **extra: Any,
) -> HttpResponse:
    """Answer an action: htmx gets the changed region (+ the flash out of band); a plain
    POST gets a redirect to the item (or the list) with a message."""
    if not request.htmx:
        getattr(
            messages,
            level if level in ("success", "error", "warning", "info") else "info",
        )(request, message)
        if status >= 400 and region == "editor":
            ctx = _detail_context(
                request, item, scope, flash=message, flash_level=level, **extra
            )
            return render(request, "workitems/workitem_detail.html", ctx, status=status)
        return redirect("workitems-item-detail", item_id=item.pk)
    if region == "row":
        row = _single_row(scope, item)
        ctx = {
            "row": row,
            "row_html": rowhtml.rows_html(
                [row], csrf_token=get_token(request), select_column=False
            ),
            "flash": message,
            "flash_level": level,
            "oob_flash": True,
            "pending": extra.get("pending"),
        }
        response = render(request, "workitems/_workitem_row.html", ctx)
        # The state counts above the table listen for this and re-read themselves.
        return trigger_client_event(response, "workItemsChanged")
    ctx = _detail_context(
        request, item, scope, flash=message, flash_level=level, **extra
    )
    return render(request, "workitems/workitem_detail.html#detail-body", ctx)


@login_required
@require_POST
def workitem_action(
    request: HtmxHttpRequest, item_id: int, action: str
) -> HttpResponse:
    if action not in services.ACTIONS:
        raise Http404("No such action.")
    item, scope = _item_for(request, item_id, act=True)
    region = "row" if request.POST.get("from") == "row" else "detail"
    if undo.is_held(action):
        return _hold(request, item, scope, action, region)
    try:
        result = services.run_batch_action(action, item, Actor.from_request(request))
    except services.ActionError as err:
        fresh = WorkItem.objects.select_related(
            "workspace__team", "process", "process_run"
        ).get(pk=item.pk)
        return _respond(
            request,
            fresh,
            scope,
            err.message,
            "warning" if err.refreshed else "error",
            region=region,
        )
    return _respond(
        request, result.item, scope, result.message, result.level, region=region
    )


def _hold(
    request: HtmxHttpRequest, item: WorkItem, scope: Scope, action: str, region: str
) -> HttpResponse:
    """Hold a mark done / delete for the undo window and answer with its Undo button."""
    try:
        pending = undo.hold(action, [item], Actor.from_request(request))
    except undo.UndoError as err:
        return _respond(request, item, scope, err.message, "error", region=region)
    label = services.ACTIONS[action]
    message = (
        f"{label} will be sent to Control Room in {undo.window_seconds()} s. "
        "Undo until then."
    )
    return _respond(
        request, item, scope, message, "info", region=region, pending=pending
    )


@login_required
@require_GET
def workitem_delete_confirm(request: HtmxHttpRequest, item_id: int) -> HttpResponse:
    """The confirmation step before a delete (the form posts to the delete action)."""
    item, scope = _item_for(request, item_id, act=True)
    ctx = {
        "item": item,
        "from": request.GET.get("from", "detail"),
        "row": _single_row(scope, item),
    }
    if request.htmx:
        return render(request, "workitems/workitem_delete.html#confirm", ctx)
    return render(request, "workitems/workitem_delete.html", ctx)


@login_required
@require_POST
def workitem_payload(request: HtmxHttpRequest, item_id: int) -> HttpResponse:
    item, scope = _item_for(request, item_id, act=True)
    form = PayloadForm(request.POST)
    text = request.POST.get("payload", "")
    if not form.is_valid():
        return _respond(
            request,
            item,
            scope,
            f"The payload is too large: the editor takes at most {MAX_PAYLOAD_CHARS:,} characters.",
            "error",
            region="editor",
            status=400,
            payload_text=text[:1000],
        )
    value, parse_error = parse_payload(text)
    if parse_error is not None:
        return _respond(
            request,
            item,
            scope,
            f"Not valid JSON — {parse_error}",
            "error",
            region="editor",
            status=400,
            payload_text=text,
            parse_error=parse_error,
            error_context=_error_context(text, parse_error),
        )
    try:
        result = services.update_payload(item, value, Actor.from_request(request))
    except services.ActionError as err:
        return _respond(
            request,
            item,
            scope,
            err.message,
            "error",
            region="editor",
            status=400 if not request.htmx else 200,
            payload_text=text,
        )
    if result.schema_errors:
        return _respond(
            request,
            item,
            scope,
            result.message,
            "error",
            region="editor",
            status=400,
            payload_text=text,
            schema_errors=result.schema_errors,
        )
    return _respond(
        request, result.item, scope, result.message, "success", region="editor"
    )


def _error_context(text: str, error: ParseError) -> dict[str, Any]:
    lines = text.splitlines() or [""]
    line = lines[error.line - 1] if 0 < error.line <= len(lines) else ""
    return {
        "line_text": line[:300],
        "caret": " " * max(0, min(error.column - 1, 300)) + "^",
    }


@csrf_exempt
@login_required
@require_POST
def workitem_upload(request: HtmxHttpRequest, item_id: int) -> HttpResponse:
    # The size limit must be in place before the body is parsed, so CSRF runs after it.
    limiter = SizeLimitUploadHandler(request)
    request.upload_handlers = [limiter, *request.upload_handlers]
    return _upload_checked(request, item_id, limiter)


@csrf_protect
def _upload_checked(
    request: HtmxHttpRequest, item_id: int, limiter: SizeLimitUploadHandler
) -> HttpResponse:
    item, scope = _item_for(request, item_id, act=True)
    limit_mb = limiter.limit // (1024 * 1024)

    def too_large() -> HttpResponse:
        return _respond(
            request,
            item,
            scope,
            f"The file is larger than the {limit_mb} MB limit; nothing was uploaded.",
            "error",
            region="upload",
            status=413,
        )

    files = request.FILES  # parses the body through the size-limiting handler
    if limiter.exceeded:
        return too_large()
    form = UploadForm(request.POST, files)
    if not form.is_valid():
        return _respond(
            request,
            item,
            scope,
            "The file is empty (0 bytes); nothing was uploaded."
            if form.has_error("file", "empty")
            else "Choose a file to upload.",
            "error",
            region="upload",
            status=400,
        )
    upload = form.cleaned_data["file"]
    if upload.size > limiter.limit:
        return too_large()
    name = clean_filename(upload.name)
    try:
        result = services.upload_file(
            item,
            Actor.from_request(request),
            file_name=name,
            data=upload,
            size=upload.size,
        )
    except services.ActionError as err:
        return _respond(request, item, scope, err.message, "error", region="upload")
    finally:
        upload.close()
    return _respond(
        request, result.item, scope, result.message, "success", region="upload"
    )


# --- process schema (admins) --------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def process_schema(request: HtmxHttpRequest, process_id: int) -> HttpResponse:
    process = get_object_or_404(
        Process.objects.select_related("workspace__team"), pk=process_id
    )
    workspace = process.workspace
    if request.method == "POST":
        require_role(request.user, workspace.team, Role.ADMIN)
    else:
        get_membership_or_404(request.user, workspace.team)
    row = ProcessSchema.objects.filter(
        workspace=workspace, process_external_id=process.external_id
    ).first()
    can_edit = Scope.for_user(request.user).is_admin(workspace)
    if request.method == "POST":
        form = SchemaForm(request.POST)
        if form.is_valid():
            _save_schema(request, process, row, form.cleaned_data["schema"])
            return HttpResponseRedirect(
                reverse("workitems-process-schema", args=[process.pk])
            )
    else:
        form = SchemaForm(initial={"schema": pretty_json(row.schema) if row else ""})
    return render(
        request,
        "workitems/process_schema.html",
        {
            "process": process,
            "workspace": workspace,
            "form": form,
            "schema_row": row,
            "can_edit": can_edit,
        },
    )


def _save_schema(
    request: HttpRequest,
    process: Process,
    row: ProcessSchema | None,
    schema: dict[str, Any] | None,
) -> None:
    workspace = process.workspace
    if schema is None:
        if row is not None:
            row.delete()
        summary = f"Removed the payload schema of process {process.name}"
    else:
        ProcessSchema.objects.update_or_create(
            workspace=workspace,
            process_external_id=process.external_id,
            defaults={
                "schema": schema,
                "updated_by": request.user,
                "updated_at": timezone.now(),
            },
        )
        summary = f"Set the payload schema of process {process.name}"
    audit.record(
        request,
        team=workspace.team,
        action="process_schema.update",
        obj=process,
        summary=summary,
        data={"process_id": process.external_id},
    )
    messages.success(request, summary + ".")
