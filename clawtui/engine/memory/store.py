"""The SQL of memory: the record of memory changes, rows of `memory_changes` (migration 2; blocking:
call from a worker thread). Every attempted change of a batch that touched Docker is one row.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from clawtui.engine.api.memory import MemoryChange

if TYPE_CHECKING:
    from clawtui.engine.store import Migration, Store

MIGRATIONS: list[Migration] = [
    (
        2,
        "memory changes",
        """
        CREATE TABLE memory_changes (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            ts REAL NOT NULL,
            batch_id TEXT NOT NULL,
            who TEXT NOT NULL,
            host TEXT NOT NULL,
            container_id TEXT NOT NULL,
            name TEXT NOT NULL,
            old_limit INTEGER NOT NULL,
            new_limit INTEGER NOT NULL,
            old_swap INTEGER NOT NULL,
            new_swap INTEGER NOT NULL,
            outcome TEXT NOT NULL,
            reason TEXT
        );
        CREATE INDEX memory_changes_ts ON memory_changes (ts);
        CREATE INDEX memory_changes_batch ON memory_changes (batch_id);
        """,
    ),
]

_HISTORY_COLUMNS = (
    "ts, batch_id, who, host, container_id, name, old_limit, new_limit, old_swap, new_swap, "
    "outcome, reason"
)


def write_history(store: Store, rows: Iterable[MemoryChange]) -> None:
    """Insert history rows in one transaction (blocking: call from a worker thread)."""
    values = [
        (
            r.ts, r.batch_id, r.who, r.host, r.container_id, r.name, r.old_limit, r.new_limit,
            r.old_swap, r.new_swap, r.outcome.value, r.reason,
        )
        for r in rows
    ]  # fmt: skip
    if not values:
        return
    with store.transaction() as conn:
        conn.executemany(
            f"INSERT INTO memory_changes ({_HISTORY_COLUMNS}) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            values,
        )


def read_history(store: Store, limit: int = 100) -> list[MemoryChange]:
    """The newest `limit` history rows, newest first (blocking)."""

    def query(conn: sqlite3.Connection) -> list[Any]:
        return conn.execute(
            f"SELECT {_HISTORY_COLUMNS} FROM memory_changes ORDER BY ts DESC, id DESC LIMIT ?",
            (max(1, min(limit, 10_000)),),
        ).fetchall()

    return [MemoryChange.model_validate(dict(row)) for row in store.run(query)]
