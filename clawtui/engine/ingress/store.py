"""The SQL of ingress: deliveries, quarantine and CI failure streaks (migrations 400-499)."""

from __future__ import annotations

import sqlite3
from typing import Any, Final

from clawtui.engine.store import Migration

MIGRATIONS: list[Migration] = [
    (
        400,
        "ingress deliveries, quarantine, CI failure streaks",
        """
        CREATE TABLE ingress_deliveries (
            id TEXT PRIMARY KEY,
            kind TEXT NOT NULL,
            dedupe_key TEXT NOT NULL UNIQUE,
            received_at REAL NOT NULL,
            status TEXT NOT NULL,
            thread_id INTEGER,
            sender TEXT,
            target TEXT,
            summary TEXT NOT NULL,
            text TEXT,
            fields TEXT,
            escalate TEXT,
            delivered_at REAL,
            error TEXT
        );
        CREATE INDEX ingress_deliveries_status ON ingress_deliveries (status, received_at);
        CREATE INDEX ingress_deliveries_received ON ingress_deliveries (received_at);
        CREATE TABLE ingress_quarantine (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            received_at REAL NOT NULL,
            reason TEXT NOT NULL,
            body BLOB NOT NULL
        );
        CREATE TABLE ingress_ci_streaks (
            pipeline TEXT PRIMARY KEY,
            failures INTEGER NOT NULL,
            last_build TEXT,
            updated_at REAL NOT NULL
        );
        """,
    ),
]

# Functions take the connection; those that write expect the caller's (durable) transaction.

DELIVERY_COLUMNS: Final = (
    "id, kind, dedupe_key, received_at, status, thread_id, sender, target, summary, text, "
    "fields, escalate, delivered_at, error"
)


# -- deliveries ------------------------------------------------------------------------------
def delivery_status(conn: sqlite3.Connection, dedupe_key: str) -> str | None:
    """The status of the delivery stored under `dedupe_key`, if one is."""
    row = conn.execute(
        "SELECT status FROM ingress_deliveries WHERE dedupe_key = ?", (dedupe_key,)
    ).fetchone()
    return str(row["status"]) if row is not None else None


def insert_webhook_delivery(
    conn: sqlite3.Connection,
    *,
    did: str,
    key: str,
    received: float,
    status: str,
    thread_id: int | None,
    summary: str,
    text: str | None,
    fields: str,
    escalate: str | None,
) -> None:
    conn.execute(
        f"INSERT INTO ingress_deliveries ({DELIVERY_COLUMNS}) "
        "VALUES (?, 'webhook', ?, ?, ?, ?, NULL, NULL, ?, ?, ?, ?, NULL, NULL)",
        (did, key, received, status, thread_id, summary, text, fields, escalate),
    )


def insert_relay_delivery(
    conn: sqlite3.Connection,
    *,
    did: str,
    key: str,
    received: float,
    thread_id: int,
    sender: str,
    target: str,
    summary: str,
    text: str,
    fields: str,
) -> bool:
    """A pending relay delivery; False when one with that key is already stored."""
    cur = conn.execute(
        f"INSERT OR IGNORE INTO ingress_deliveries ({DELIVERY_COLUMNS}) "
        "VALUES (?, 'relay', ?, ?, 'pending', ?, ?, ?, ?, ?, ?, NULL, NULL, NULL)",
        (did, key, received, thread_id, sender, target, summary, text, fields),
    )
    return cur.rowcount > 0


def pending_deliveries(conn: sqlite3.Connection) -> list[sqlite3.Row]:
    """Every delivery not delivered yet, oldest first."""
    return conn.execute(
        f"SELECT {DELIVERY_COLUMNS} FROM ingress_deliveries WHERE status = 'pending' "
        "ORDER BY received_at"
    ).fetchall()


def set_fields(conn: sqlite3.Connection, did: str, fields: str) -> None:
    conn.execute("UPDATE ingress_deliveries SET fields = ? WHERE id = ?", (fields, did))


def mark_delivered(conn: sqlite3.Connection, did: str, thread_id: int, now: float) -> None:
    """Delivered: the text and message are dropped (the thread's queue has them)."""
    conn.execute(
        "UPDATE ingress_deliveries SET status = 'delivered', delivered_at = ?, "
        "thread_id = ?, error = NULL, text = NULL, fields = NULL WHERE id = ?",
        (now, thread_id, did),
    )


def set_error(conn: sqlite3.Connection, did: str, error: str) -> None:
    conn.execute("UPDATE ingress_deliveries SET error = ? WHERE id = ?", (error[:500], did))


def recent_deliveries(conn: sqlite3.Connection, limit: int) -> list[dict[str, Any]]:
    """Stored deliveries, newest first (without their text)."""
    rows = conn.execute(
        "SELECT id, kind, received_at, status, thread_id, sender, target, summary, "
        "delivered_at, error FROM ingress_deliveries ORDER BY received_at DESC LIMIT ?",
        (max(1, min(limit, 10_000)),),
    ).fetchall()
    return [dict(r) for r in rows]


# -- CI failure streaks ----------------------------------------------------------------------
def count_build(
    conn: sqlite3.Connection, pipeline: str, build: str | None, failed: bool, now: float
) -> int:
    """Record a build of `pipeline`: a failure adds one to its streak, a success resets it.
    The failures in a row now."""
    if not failed:
        conn.execute(
            "INSERT INTO ingress_ci_streaks (pipeline, failures, last_build, updated_at) "
            "VALUES (?, 0, ?, ?) ON CONFLICT(pipeline) DO UPDATE SET failures = 0, "
            "last_build = excluded.last_build, updated_at = excluded.updated_at",
            (pipeline, build, now),
        )
        return 0
    conn.execute(
        "INSERT INTO ingress_ci_streaks (pipeline, failures, last_build, updated_at) "
        "VALUES (?, 1, ?, ?) ON CONFLICT(pipeline) DO UPDATE SET failures = failures + 1, "
        "last_build = excluded.last_build, updated_at = excluded.updated_at",
        (pipeline, build, now),
    )
    row = conn.execute(
        "SELECT failures FROM ingress_ci_streaks WHERE pipeline = ?", (pipeline,)
    ).fetchone()
    return int(row["failures"])


# -- quarantine ------------------------------------------------------------------------------
def quarantine(
    conn: sqlite3.Connection, received: float, reason: str, body: bytes, keep: int
) -> int:
    """Keep a body that could not be read (only the newest `keep`); its quarantine id."""
    cur = conn.execute(
        "INSERT INTO ingress_quarantine (received_at, reason, body) VALUES (?, ?, ?)",
        (received, reason, body),
    )
    qid = int(cur.lastrowid or 0)
    conn.execute("DELETE FROM ingress_quarantine WHERE id <= ?", (qid - keep,))
    return qid


def recent_quarantine(conn: sqlite3.Connection, limit: int) -> list[dict[str, Any]]:
    rows = conn.execute(
        "SELECT id, received_at, reason, length(body) AS size FROM ingress_quarantine "
        "ORDER BY id DESC LIMIT ?",
        (max(1, min(limit, 10_000)),),
    ).fetchall()
    return [dict(r) for r in rows]
