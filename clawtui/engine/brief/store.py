"""The SQL of the morning brief: table `briefs`, one row per day (migrations 350-399).

Databases written before the brief had its own step got this table from migration 301
(escalations/store.py): `IF NOT EXISTS` makes step 350 a no-op there, and SQLite keeps the
statement without that clause, so both schemas are the same.
"""

from __future__ import annotations

import json
import sqlite3

from clawtui.engine.api.escalations import Brief
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


def save(conn: sqlite3.Connection, brief: Brief) -> None:
    """Store (or replace) the brief of its day; the caller holds the transaction."""
    conn.execute(
        "INSERT OR REPLACE INTO briefs (day, created_at, sent, text, data) VALUES (?, ?, ?, ?, ?)",
        (brief.day, brief.created_at, int(brief.sent), brief.text(), brief.model_dump_json()),
    )


def _brief(row: sqlite3.Row | None) -> Brief | None:
    return Brief.model_validate(json.loads(row["data"])) if row is not None else None


def get(conn: sqlite3.Connection, day: str) -> Brief | None:
    return _brief(conn.execute("SELECT data FROM briefs WHERE day = ?", (day,)).fetchone())


def latest(conn: sqlite3.Connection) -> Brief | None:
    return _brief(conn.execute("SELECT data FROM briefs ORDER BY day DESC LIMIT 1").fetchone())
