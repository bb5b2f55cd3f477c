"""Forms of the process and run pages."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any

from django import forms
from django.utils import timezone

from dashboard.mirror.models import Process
from dashboard.processes.selectors import RunFilter
from dashboard.workspaces.models import Workspace
from robocorp_api.models import PROCESS_RUN_STATES, STARTED_BY_TYPES

RANGES = {
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
}


class RunFilterForm(forms.Form):
    workspace = forms.TypedChoiceField(required=False, coerce=int, empty_value=None)
    process = forms.TypedChoiceField(required=False, coerce=int, empty_value=None)
    state = forms.ChoiceField(required=False)
    started_by = forms.ChoiceField(required=False, label="Started by")
    range = forms.ChoiceField(
        required=False,
        label="Created",
        choices=[
            ("", "any time"),
            ("24h", "last 24 hours"),
            ("7d", "last 7 days"),
            ("30d", "last 30 days"),
        ],
    )
    since = forms.DateField(
        required=False, label="From", widget=forms.DateInput(attrs={"type": "date"})
    )
    until = forms.DateField(
        required=False,
        label="Until (inclusive)",
        widget=forms.DateInput(attrs={"type": "date"}),
    )

    def __init__(self, data: Any, *, workspaces: list[Workspace]) -> None:
        super().__init__(data)
        self.workspaces = workspaces
        self.fields["workspace"].choices = [("", "all workspaces")] + [  # type: ignore[attr-defined]
            (w.pk, f"{w.name} ({w.team.name})") for w in workspaces
        ]
        processes = Process.objects.filter(
            workspace__in=workspaces, gone_at__isnull=True
        ).select_related("workspace")
        self.processes = {p.pk: p for p in processes}
        many = len(workspaces) > 1
        self.fields["process"].choices = [("", "all processes")] + [  # type: ignore[attr-defined]
            (p.pk, f"{p.name} · {p.workspace.name}" if many else p.name)
            for p in sorted(self.processes.values(), key=lambda p: (p.name, p.pk))
        ]
        self.fields["state"].choices = [("", "any state")] + [  # type: ignore[attr-defined]
            (s, s.replace("_", " ")) for s in PROCESS_RUN_STATES
        ]
        self.fields["started_by"].choices = [("", "anyone")] + [  # type: ignore[attr-defined]
            (s, s) for s in STARTED_BY_TYPES
        ]

    def run_filter(self) -> RunFilter:
        """Return the filter of the valid fields (invalid ones are ignored, and shown)."""
        self.is_valid()
        # cleaned_data holds the fields that validated; a bad one does not void the others.
        data = self.cleaned_data if self.is_bound else {}
        by_pk = {w.pk: w for w in self.workspaces}
        flt = RunFilter(workspaces=self.workspaces)
        flt.workspace = by_pk.get(data.get("workspace") or 0)
        flt.process = self.processes.get(data.get("process") or 0)
        flt.state = data.get("state") or ""
        flt.started_by = data.get("started_by") or ""
        tz = timezone.get_current_timezone()
        if data.get("range"):
            flt.since = timezone.now() - RANGES[data["range"]]
        if data.get("since"):
            flt.since = datetime.combine(data["since"], time.min, tzinfo=tz)
        if data.get("until"):
            flt.until = datetime.combine(
                data["until"] + timedelta(days=1), time.min, tzinfo=tz
            )
        return flt


class StopForm(forms.Form):
    mode = forms.ChoiceField(
        widget=forms.RadioSelect,
        initial="graceful",
        choices=[
            (
                "graceful",
                "Stop gracefully: each robot finishes the work item it is processing, "
                "then stops.",
            ),
            (
                "terminate",
                "Terminate now: running step runs end immediately; the work item being "
                "processed fails (orchestrator exception TERMINATED).",
            ),
        ],
        label="How to stop",
    )
    remaining = forms.ChoiceField(
        widget=forms.RadioSelect,
        initial="failed",
        choices=[
            (
                "failed",
                "Mark them failed: they appear in the failure triage and can be retried "
                "later.",
            ),
            (
                "done",
                "Mark them done: they are closed without being processed (use when the "
                "input is no longer needed).",
            ),
        ],
        label="Work items not processed yet",
    )
    reason = forms.CharField(
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Recorded in Control Room and in Workroom's audit log.",
    )
    confirm = forms.BooleanField(label="Yes, stop this run.")
