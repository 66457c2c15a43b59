"""The record of memory changes: rows of `memory_changes` in the store (blocking: call from a
worker thread). Every attempted change of a batch that touched Docker is one row.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from clawtui.engine.api.memory import MemoryChange

if TYPE_CHECKING:
    from clawtui.engine.store import Store

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
