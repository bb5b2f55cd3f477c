"""What the work-item pages do when a lower floor announces something."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from dashboard.accounts.models import User
from dashboard.audit.services import Actor
from dashboard.workitems.collab import drop_assignments_of


def member_removed(sender: Any, **kwargs: Any) -> None:
    """A member removed from a team loses their assignments there (each one audited)."""
    if kwargs.get("action") != "membership.removed":
        return
    membership = kwargs["obj"]
    user = User.objects.filter(pk=membership.user_id).first()
    if user is None:
        return
    request = kwargs.get("request")
    actor = Actor.from_request(request) if request is not None else Actor()
    if kwargs.get("actor") is not None:
        who = Actor.of(kwargs["actor"])
        actor = replace(actor, user=who.user, label=who.label)
    drop_assignments_of(user, kwargs["team"], actor)
