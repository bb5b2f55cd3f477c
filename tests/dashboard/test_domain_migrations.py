"""Every project app's migrations apply, reverse to zero, re-apply, and match its models.

The project apps are read from `django.apps.apps` (every installed app whose code lives in
this repository), so an app added later is covered without editing this file.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from django.apps import AppConfig, apps
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

pytestmark = pytest.mark.django_db(transaction=True)

REPO_ROOT = Path(__file__).resolve().parents[2]
# The apps of issue 1-7; the derived list must at least hold these (a guard against a
# derivation that silently finds nothing).
KNOWN_APPS = {
    "accounts",
    "audit",
    "workspaces",
    "mirror",
    "operations",
    "processes",
    "bulk",
}


def project_apps() -> list[AppConfig]:
    """Installed apps whose package is this repository's (not a dependency in the venv)."""
    venv = Path(sys.prefix).resolve()
    return [
        app
        for app in apps.get_app_configs()
        if Path(app.path).resolve().is_relative_to(REPO_ROOT)
        and not Path(app.path).resolve().is_relative_to(venv)
    ]


def _project_tables() -> set[str]:
    return {
        model._meta.db_table
        for app in project_apps()
        for model in app.get_models()
        if model._meta.managed
    }


def _tables() -> set[str]:
    return set(connection.introspection.table_names())


def test_the_project_apps_are_derived_from_the_installed_apps() -> None:
    labels = {app.label for app in project_apps()}
    assert labels >= KNOWN_APPS
    assert not labels & {"auth", "contenttypes", "sessions", "axes", "csp"}


def test_migrations_are_reversible_and_complete() -> None:
    migrated = MigrationExecutor(connection).loader.migrated_apps
    for label in [app.label for app in project_apps() if app.label in migrated]:
        call_command("migrate", label, "zero", verbosity=0)  # dependants go first
    assert not _project_tables() & _tables()
    call_command("migrate", verbosity=0)
    assert _project_tables() <= _tables()
    executor = MigrationExecutor(connection)
    assert executor.migration_plan(executor.loader.graph.leaf_nodes()) == []


def test_models_and_migrations_agree() -> None:
    labels = [app.label for app in project_apps()]
    call_command("makemigrations", *labels, "--check", "--dry-run", verbosity=0)
