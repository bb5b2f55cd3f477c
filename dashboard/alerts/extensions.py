"""Hooks the floors above alerts fill in (registered in their AppConfig.ready()).

The daily digest shows what retry policies did through `add_digest_section`: the policies app
registers a function (team, day) → DigestSection, and the digest renders it after the sections
of its own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

from dashboard.accounts.models import Team


@dataclass(frozen=True)
class DigestSection:
    title: str
    lines: list[str] = field(default_factory=list)
    empty: str = "Nothing."


DigestSectionFn = Callable[[Team, date], DigestSection]

_digest_sections: dict[str, DigestSectionFn] = {}


def add_digest_section(name: str, build: DigestSectionFn) -> None:
    """Register (or replace) the digest section `name`."""
    _digest_sections[name] = build


def digest_sections() -> list[tuple[str, DigestSectionFn]]:
    return list(_digest_sections.items())
