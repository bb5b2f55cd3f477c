"""Indexes on the mirror's work item table for the explorer and failure triage (issue 5).

They live here, not in the mirror app, because the queries they serve are operations'.
Measured with benchmarks/bench_explorer.py on 1M items (see the report in that file).
On PostgreSQL, pg_trgm trigram indexes serve `ILIKE '%text%'` on the exception message and
on the payload's text; if the extension cannot be created (no privilege) they are skipped
and those two filters fall back to a sequential scan.
"""

from __future__ import annotations

import logging

from django.db import DatabaseError, migrations, transaction

logger = logging.getLogger(__name__)

COMMON = [
    # Triage: GROUP BY (workspace, process, type, code, signature) over failed items only,
    # answered from the index alone (first/last seen and the sample id are in it).
    (
        "op_item_failed_groups",
        "CREATE INDEX IF NOT EXISTS op_item_failed_groups ON mirror_workitem "
        "(workspace_id, process_id, exception_type, exception_code, message_signature, state_updated_at, id) "
        "WHERE state = 'failed' AND gone_at IS NULL",
    ),
    # "Failed items of one process, newest first" without a sort.
    (
        "op_item_process_state_created",
        "CREATE INDEX IF NOT EXISTS op_item_process_state_created ON mirror_workitem "
        "(process_id, state, created_at DESC, id DESC)",
    ),
    # Exception code filter across workspaces, newest first.
    (
        "op_item_code_created",
        "CREATE INDEX IF NOT EXISTS op_item_code_created ON mirror_workitem "
        "(exception_code, created_at DESC, id DESC)",
    ),
]

# Sort by "state changed", nulls last (SQLite sorts nulls lowest, so DESC already puts them
# last there, and it accepts no NULLS clause in an index).
UPDATED = {
    "postgresql": "CREATE INDEX IF NOT EXISTS op_item_updated ON mirror_workitem "
    "(state_updated_at DESC NULLS LAST, id DESC)",
    "sqlite": "CREATE INDEX IF NOT EXISTS op_item_updated ON mirror_workitem "
    "(state_updated_at DESC, id DESC)",
}

# Django's icontains on PostgreSQL is `UPPER(col::text) LIKE UPPER(%s)`: the indexed
# expressions match it exactly so the planner can use them.
TRIGRAM = [
    (
        "op_item_message_trgm",
        "CREATE INDEX IF NOT EXISTS op_item_message_trgm ON mirror_workitem "
        "USING gin (UPPER(exception_message::text) gin_trgm_ops)",
    ),
    (
        "op_item_payload_trgm",
        "CREATE INDEX IF NOT EXISTS op_item_payload_trgm ON mirror_workitem "
        "USING gin (UPPER((payload)::text) gin_trgm_ops)",
    ),
]


def create(apps, schema_editor) -> None:
    connection = schema_editor.connection
    with connection.cursor() as cursor:
        for _name, sql in COMMON:
            cursor.execute(sql)
        if connection.vendor in UPDATED:
            cursor.execute(UPDATED[connection.vendor])
    if connection.vendor != "postgresql":
        return
    try:
        with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
            cursor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    except DatabaseError:
        logger.warning(
            "pg_trgm is not available: message and payload search are unindexed"
        )
        return
    with connection.cursor() as cursor:
        for _name, sql in TRIGRAM:
            cursor.execute(sql)


def drop(apps, schema_editor) -> None:
    with schema_editor.connection.cursor() as cursor:
        for name in [n for n, _ in COMMON + TRIGRAM] + ["op_item_updated"]:
            cursor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [
        ("operations", "0001_initial"),
        ("mirror", "0001_initial"),
    ]

    operations = [migrations.RunPython(create, drop)]
