"""The SQL of the morning brief (migrations 350-399): table `briefs`, one row per day; and its
Telegram buttons (380): `telegram_modify_prompts`, the ForceReply message asking for a Modify's
new text, by its Telegram message id, so a reply still applies after a restart, and
`telegram_state`, small values kept across restarts (`offset`: the next getUpdates offset).

Databases written before the brief had its own step got this table from migration 301
(escalations/store.py): `IF NOT EXISTS` makes step 350 a no-op there, and SQLite keeps the
statement without that clause, so both schemas are the same.
"""

from __future__ import annotations

import json
import sqlite3
import time
from typing import Final

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
    (
        380,
        "telegram buttons: modify prompts and getUpdates offset",
        """
        CREATE TABLE telegram_modify_prompts (
            message_id INTEGER PRIMARY KEY,
            escalation_id INTEGER NOT NULL,
            created_at REAL NOT NULL
        );
        CREATE TABLE telegram_state (
            key TEXT PRIMARY KEY,
            value TEXT NOT NULL
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


MAX_PROMPTS: Final = 500
"""Open Modify prompts kept; the oldest go first."""


def add_prompt(conn: sqlite3.Connection, message_id: int, escalation_id: int) -> None:
    conn.execute(
        "INSERT OR REPLACE INTO telegram_modify_prompts (message_id, escalation_id, created_at) "
        "VALUES (?, ?, ?)",
        (message_id, escalation_id, time.time()),
    )
    conn.execute(
        "DELETE FROM telegram_modify_prompts WHERE message_id NOT IN (SELECT message_id FROM "
        "telegram_modify_prompts ORDER BY created_at DESC, message_id DESC LIMIT ?)",
        (MAX_PROMPTS,),
    )


def take_prompt(conn: sqlite3.Connection, message_id: int) -> int | None:
    """The escalation a prompt asked about, removed (None: not a prompt of ours)."""
    row = conn.execute(
        "SELECT escalation_id FROM telegram_modify_prompts WHERE message_id = ?", (message_id,)
    ).fetchone()
    if row is None:
        return None
    conn.execute("DELETE FROM telegram_modify_prompts WHERE message_id = ?", (message_id,))
    return int(row[0])


def is_prompt(conn: sqlite3.Connection, message_id: int) -> bool:
    row = conn.execute(
        "SELECT 1 FROM telegram_modify_prompts WHERE message_id = ?", (message_id,)
    ).fetchone()
    return row is not None


def get_offset(conn: sqlite3.Connection) -> int | None:
    row = conn.execute("SELECT value FROM telegram_state WHERE key = 'offset'").fetchone()
    return int(row[0]) if row is not None and str(row[0]).lstrip("-").isdigit() else None


def set_offset(conn: sqlite3.Connection, offset: int) -> None:
    conn.execute(
        "INSERT OR REPLACE INTO telegram_state (key, value) VALUES ('offset', ?)", (str(offset),)
    )
