"""Writes of insights: a process's business value and SLA (team admins, audited)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from dashboard.audit.services import Actor, record_by
from dashboard.insights.models import ProcessValue
from dashboard.mirror.models import Process
from dashboard.workspaces.models import Workspace


def set_value(
    actor: Actor, workspace: Workspace, process: Process, cleaned: dict[str, Any]
) -> ProcessValue:
    """Store what one done item of `process` is worth and its SLA; record who changed it."""
    value: Decimal | None = cleaned.get("value_per_item")
    currency: str = cleaned.get("currency") or ""
    sla: int | None = cleaned.get("sla_hours")
    row, _ = ProcessValue.objects.update_or_create(
        workspace=workspace,
        process_external_id=process.external_id,
        defaults={
            "value_per_item": value,
            "currency": currency,
            "sla_hours": sla,
            "updated_by": actor.user,
        },
    )
    shown = "none" if value is None else f"{value} {currency}".strip()
    record_by(
        actor,
        team=workspace.team,
        action="insights.value",
        obj=row,
        summary=(
            f"Set the value of a done item of {process.name} to {shown}, "
            f"SLA {f'{sla} h' if sla else 'none'}"
        ),
        data={
            "workspace_id": workspace.pk,
            "process": process.external_id,
            "value_per_item": None if value is None else str(value),
            "currency": currency,
            "sla_hours": sla,
        },
    )
    return row
