"""The accounts, audit and workspaces migrations apply, reverse to zero, and re-apply."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

pytestmark = pytest.mark.django_db(transaction=True)

APPS = ("workspaces", "audit", "accounts")


def _tables() -> set[str]:
    return set(connection.introspection.table_names())


def test_migrations_are_reversible_and_complete() -> None:
    call_command(
        "migrate", "accounts", "zero", verbosity=0
    )  # unapplies dependants first
    assert not {"accounts_team", "audit_auditevent", "workspaces_workspace"} & _tables()
    call_command("migrate", verbosity=0)
    assert {"accounts_team", "accounts_membership", "accounts_invitation"} <= _tables()
    assert {"audit_auditevent", "workspaces_workspace"} <= _tables()
    executor = MigrationExecutor(connection)
    assert executor.migration_plan(executor.loader.graph.leaf_nodes()) == []


def test_models_and_migrations_agree() -> None:
    call_command("makemigrations", *APPS, "--check", "--dry-run", verbosity=0)
