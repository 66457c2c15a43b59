"""The SQL of the morning brief: table `briefs`, one row per day (migrations 350-399).

Databases written before the brief had its own step got this table from migration 301
(escalations/store.py): `IF NOT EXISTS` makes step 350 a no-op there, and SQLite keeps the
statement without that clause, so both schemas are the same.
"""

from __future__ import annotations

from clawtui.engine.store import Migration

MIGRATIONS: list[Migration] = [
    (
        350,
        "briefs",
        """
        CREATE TABLE IF NOT EXISTS briefs (
            day TEXT PRIMARY KEY,
            created_at REAL NOT NULL,
            sent INTEGER NOT NULL,
            text TEXT NOT NULL,
            data TEXT NOT NULL
        );
        """,
    ),
]
