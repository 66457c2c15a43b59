"""The SQLite side of the brief's Telegram buttons (migration 380, in the 300-399 range of
escalations, incidents and briefs).

* `telegram_modify_prompts`: the ForceReply message asking for a Modify's new text, by its
  Telegram message id, so a reply still applies after the engine restarts.
* `telegram_state`: small values kept across restarts; `offset` is the next getUpdates offset
  (updates below it were handled and confirmed).
"""

from __future__ import annotations

import sqlite3
import time
from typing import Final

MIGRATIONS: list[tuple[int, str, str]] = [
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
