"""The apps are floors of one house (dashboard/README.md): a module may import its own app and
the floors below, never a floor above nor a neighbour on its own floor. Parsed with `ast`, so
imports inside functions count too."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

DASHBOARD = Path(__file__).resolve().parents[2] / "dashboard"

# dashboard/README.md shows the same ladder: lib (pure helpers) under everything, core (the
# layout, checks and project-wide tags) on lib only, then the apps.
FLOORS: dict[str, int] = {
    "lib": -1,
    "core": 0,
    "accounts": 1,
    "audit": 2,
    "workspaces": 3,
    "mirror": 4,
    "workitems": 5,
    "bulk": 6,
    "processes": 6,
    "fleet": 6,
    "insights": 6,
    "alerts": 7,
    "policies": 8,
    "api": 9,
    "home": 10,
}


def _app_modules() -> list[tuple[str, Path]]:
    return [
        (app, path)
        for app in FLOORS
        for path in sorted((DASHBOARD / app).rglob("*.py"))
    ]


def _imported_apps(path: Path) -> set[str]:
    """Return the dashboard apps (first package under `dashboard.`) a module imports."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
            if node.module == "dashboard":
                names = [f"dashboard.{alias.name}" for alias in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] == "dashboard" and len(parts) > 1:
                found.add(parts[1])
    return found


def _violations(app: str, imported: set[str]) -> list[str]:
    floor = FLOORS[app]
    bad = []
    for other in sorted(imported - {app}):
        if other not in FLOORS:
            bad.append(f"{other} (project-level module, not an app below)")
        elif FLOORS[other] >= floor:
            side = "sideways" if FLOORS[other] == floor else "upwards"
            bad.append(f"{other} ({side})")
    return bad


@pytest.mark.parametrize(
    ("app", "path"),
    _app_modules(),
    ids=[str(p.relative_to(DASHBOARD)) for _, p in _app_modules()],
)
def test_imports_only_go_down_the_ladder(app: str, path: Path) -> None:
    assert _violations(app, _imported_apps(path)) == []


def test_every_app_is_on_the_ladder() -> None:
    apps = {
        p.parent.name for p in DASHBOARD.glob("*/apps.py") if p.parent.name != "lib"
    }
    assert apps - set(FLOORS) == set()


def test_the_check_sees_a_violation(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text(
        "from dashboard.bulk.models import BulkItem\n"
        "def f():\n    import dashboard.processes.services\n"
        "from dashboard import workitems\n"
    )
    imported = _imported_apps(module)
    assert imported == {"bulk", "processes", "workitems"}
    assert _violations("workitems", imported) == [
        "bulk (upwards)",
        "processes (upwards)",
    ]
    assert _violations("bulk", imported) == ["processes (sideways)"]
