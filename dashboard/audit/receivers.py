"""Record the events lower floors announce."""

from __future__ import annotations

from typing import Any

from dashboard.audit import services


def record_team_event(sender: Any, **kwargs: Any) -> None:
    services.record(
        kwargs.get("request"),
        team=kwargs["team"],
        action=kwargs["action"],
        obj=kwargs.get("obj"),
        summary=kwargs["summary"],
        data=kwargs.get("data"),
        actor=kwargs.get("actor"),
    )
