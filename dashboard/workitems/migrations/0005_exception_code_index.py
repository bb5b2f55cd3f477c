"""An index of the live items that carry an exception code, for the explorer's code and
triage-group filters (issue 17).

Those filters counted their items per state by visiting every matching row in the table:
~1,100 random page reads for one code at 1M items, 49 ms when they were not cached. This
partial index holds only items with a code (failed ones, ~8% of a mirror) with every column
those queries read, so PostgreSQL answers them from the index alone: the counts of a code,
the counts of a triage group, and a triage group's newest items in order (0.1–0.6 ms, cold).
The same statement works on SQLite.
"""

from __future__ import annotations

from django.db import migrations

CREATE = (
    "CREATE INDEX IF NOT EXISTS op_item_code_counts ON mirror_workitem "
    "(exception_code, message_signature, exception_type, created_at DESC, id DESC, "
    "workspace_id, state) WHERE gone_at IS NULL AND exception_code <> ''"
)
DROP = "DROP INDEX IF EXISTS op_item_code_counts"


class Migration(migrations.Migration):
    dependencies = [
        ("operations", "0004_failure_group_rollup"),
    ]

    operations = [migrations.RunSQL(CREATE, DROP)]
