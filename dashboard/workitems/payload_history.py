"""The payload history: every payload edit made through Workroom is a numbered version
(the payload before and after it); two versions compare as a JSON diff, and a revert is a
new edit through the action core (so it is versioned and audited like any other)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Max

from dashboard.audit.services import Actor
from dashboard.mirror.models import WorkItem
from dashboard.mirror.services.upsert import clean_json
from dashboard.workitems.models import PayloadVersion


def record_payload_version(
    item: WorkItem, before: Any, after: Any, actor: Actor, *, note: str = ""
) -> PayloadVersion:
    """Store the next version of the item's payload (numbers are per item, from 1)."""
    for _ in range(5):
        number = (
            PayloadVersion.objects.filter(work_item=item).aggregate(n=Max("number"))[
                "n"
            ]
            or 0
        ) + 1
        try:
            with transaction.atomic():
                return PayloadVersion.objects.create(
                    work_item=item,
                    number=number,
                    # PostgreSQL's jsonb cannot hold NUL: kept as the mirror keeps payloads.
                    before=clean_json(before),
                    after=clean_json(after),
                    author=actor.user,
                    author_label=actor.label,
                    note=note[:200],
                )
        except IntegrityError:  # two edits at once took the same number: take the next
            continue
    raise RuntimeError("could not number the payload version")


def versions(item: WorkItem) -> list[PayloadVersion]:
    """Return the item's payload versions, newest first."""
    return list(PayloadVersion.objects.filter(work_item=item).order_by("-number"))


def payload_at(item: WorkItem, number: int) -> Any:
    """Return the payload as version `number` left it (0: before the first edit).

    Raises:
        PayloadVersion.DoesNotExist: no such version.
    """
    if number == 0:
        return PayloadVersion.objects.get(work_item=item, number=1).before
    return PayloadVersion.objects.get(work_item=item, number=number).after


@dataclass(frozen=True)
class Change:
    """One difference between two JSON values at `path` (a JSON Pointer)."""

    path: str
    kind: str  # "added" | "removed" | "changed"
    old: Any = None
    new: Any = None


def json_diff(old: Any, new: Any, path: str = "") -> list[Change]:
    """Return the differences from `old` to `new`, object keys and array indexes descended."""
    if isinstance(old, dict) and isinstance(new, dict):
        changes: list[Change] = []
        for key in list(old) + [k for k in new if k not in old]:
            sub = f"{path}/{_escape(str(key))}"
            if key not in new:
                changes.append(Change(sub, "removed", old=old[key]))
            elif key not in old:
                changes.append(Change(sub, "added", new=new[key]))
            else:
                changes += json_diff(old[key], new[key], sub)
        return changes
    if isinstance(old, list) and isinstance(new, list):
        changes = []
        for index in range(max(len(old), len(new))):
            sub = f"{path}/{index}"
            if index >= len(new):
                changes.append(Change(sub, "removed", old=old[index]))
            elif index >= len(old):
                changes.append(Change(sub, "added", new=new[index]))
            else:
                changes += json_diff(old[index], new[index], sub)
        return changes
    if type(old) is not type(new) or old != new:
        return [Change(path or "/", "changed", old=old, new=new)]
    return []


def _escape(key: str) -> str:
    return key.replace("~", "~0").replace("/", "~1")
