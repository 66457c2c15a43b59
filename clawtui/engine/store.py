"""The engine's SQLite store: durable state that Docker labels cannot hold.

Labels cannot change after a container is created, so everything mutable (the activity log now;
claims, escalations, incidents and queued messages as those capabilities land) lives here. One
connection in WAL mode with a busy timeout; all calls run in a worker thread under one lock so the
event loop never blocks on disk. Schema changes are numbered migrations applied in order inside
`BEGIN IMMEDIATE` transactions and recorded in `schema_migrations`.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from clawtui.engine.api.models import ActivityEntry
from clawtui.fsutil import create_private_file, make_private_dir

T = TypeVar("T")

# Numbered migrations. Append only: never edit one that has shipped. Each capability has its own
# range so that they can grow independently: 1-99 core (activity, memory), 100-199 threads and
# heartbeats, 200-299 pools and claims, 300-399 escalations, incidents and briefs, 400-499 ingress
# (webhook, relay), 500-599 attach / tmux. Migrations are applied in version order.
Migration = tuple[int, str, str]
"""(version, name, SQL): one step of the schema."""

# The engine's own steps; a capability that owns its tables keeps their steps in its own store
# module (200-299: pools/store.py), and the engine's core hands the whole list to `Store`.
MIGRATIONS: list[Migration] = [
    (
        1,
        "activity log",
        """
        CREATE TABLE activity (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            ts REAL NOT NULL,
            level TEXT NOT NULL,
            host TEXT,
            subject TEXT,
            message TEXT NOT NULL
        );
        CREATE INDEX activity_ts ON activity (ts);
        """,
    ),
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
    (
        300,
        "escalations",
        """
        CREATE TABLE escalations (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL,
            agent TEXT NOT NULL,
            thread_id INTEGER,
            doing TEXT NOT NULL,
            tried TEXT NOT NULL,
            need TEXT NOT NULL,
            proposed_fix TEXT,
            detail TEXT,
            severity TEXT NOT NULL,
            source TEXT NOT NULL,
            dedupe_key TEXT,
            status TEXT NOT NULL,
            decision TEXT,
            decided_by TEXT,
            decided_at REAL,
            resolved_at REAL
        );
        CREATE INDEX escalations_status ON escalations (status, created_at);
        CREATE INDEX escalations_dedupe ON escalations (dedupe_key, status);
        """,
    ),
    (
        301,
        "escalation delivery, incidents, briefs",
        """
        ALTER TABLE escalations ADD COLUMN delivered_message_id TEXT;
        CREATE TABLE incidents (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            opened_at REAL NOT NULL,
            updated_at REAL NOT NULL,
            monitor TEXT NOT NULL,
            signal TEXT NOT NULL,
            state TEXT NOT NULL,
            severity TEXT NOT NULL,
            summary TEXT NOT NULL,
            report TEXT NOT NULL,
            occurrences INTEGER NOT NULL DEFAULT 1,
            resolved_at REAL,
            pr_url TEXT
        );
        CREATE INDEX incidents_signal ON incidents (monitor, signal, state);
        CREATE TABLE briefs (
            day TEXT PRIMARY KEY,
            created_at REAL NOT NULL,
            sent INTEGER NOT NULL,
            text TEXT NOT NULL,
            data TEXT NOT NULL
        );
        """,
    ),
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


class StoreError(Exception):
    """The store could not be opened or migrated; the message names the file and the fix."""


class Store:
    """A small synchronous core (`run`) with async wrappers for the engine's loop."""

    def __init__(self, path: Path | str, *, migrations: Sequence[Migration] = MIGRATIONS) -> None:
        self.path = Path(path) if str(path) != ":memory:" else Path(":memory:")
        self.migrations = list(migrations)
        self._lock = threading.RLock()
        self._conn: sqlite3.Connection | None = None

    # -- lifecycle ---------------------------------------------------------------------------
    def open(self) -> None:
        if self._conn is not None:
            return
        try:
            if str(self.path) != ":memory:":
                make_private_dir(self.path.parent)
                create_private_file(self.path)
            conn = sqlite3.connect(
                str(self.path), timeout=5.0, isolation_level=None, check_same_thread=False
            )
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA busy_timeout=5000")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=ON")
            self._conn = conn
            self._migrate()
        except (sqlite3.Error, OSError) as exc:
            self._conn = None
            raise StoreError(
                f"cannot open the state database {self.path}: {exc} "
                "(check that its folder is writable, or set [engine] state_dir in config.toml)"
            ) from exc

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    @property
    def conn(self) -> sqlite3.Connection:
        if self._conn is None:
            raise StoreError("the store is not open")
        return self._conn

    # -- transactions ------------------------------------------------------------------------
    @contextmanager
    def transaction(self, *, immediate: bool = True) -> Iterator[sqlite3.Connection]:
        """A transaction; `immediate` takes the write lock up front (for read-then-write)."""
        with self._lock:
            conn = self.conn
            conn.execute("BEGIN IMMEDIATE" if immediate else "BEGIN")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run `fn(conn)` under the store lock (in the calling thread)."""
        with self._lock:
            return fn(self.conn)

    async def arun(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run `fn(conn)` in a worker thread."""
        return await asyncio.to_thread(self.run, fn)

    def schema_version(self) -> int:
        row = self.run(lambda c: c.execute("SELECT MAX(version) FROM schema_migrations").fetchone())
        return int(row[0] or 0)

    def _migrate(self) -> None:
        conn = self.conn
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations "
            "(version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at REAL NOT NULL)"
        )
        applied = {r[0] for r in conn.execute("SELECT version FROM schema_migrations")}
        newest_known = max(v for v, _, _ in self.migrations)
        if applied and max(applied) > newest_known:
            raise StoreError(
                f"{self.path} was written by a newer clawtui (schema {max(applied)} > "
                f"{newest_known}); upgrade clawtui or point [engine] state_dir elsewhere"
            )
        for version, name, sql in sorted(self.migrations):
            if version in applied:
                continue
            with self.transaction():
                for statement in filter(str.strip, sql.split(";")):
                    conn.execute(statement)
                conn.execute(
                    "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                    (version, name, time.time()),
                )

    # -- activity log ------------------------------------------------------------------------
    def add_activity(self, entries: Sequence[ActivityEntry]) -> None:
        rows = [(e.ts, e.level, e.host, e.subject, e.message) for e in entries]
        with self.transaction():
            self.conn.executemany(
                "INSERT INTO activity (ts, level, host, subject, message) VALUES (?, ?, ?, ?, ?)",
                rows,
            )

    def recent_activity(self, limit: int = 200) -> list[ActivityEntry]:
        def query(conn: sqlite3.Connection) -> list[Any]:
            return conn.execute(
                "SELECT ts, level, host, subject, message FROM activity "
                "ORDER BY ts DESC, id DESC LIMIT ?",
                (max(1, min(limit, 10_000)),),
            ).fetchall()

        return [ActivityEntry(**dict(row)) for row in self.run(query)]

    def prune_activity(self, older_than: float) -> int:
        with self.transaction():
            cur = self.conn.execute("DELETE FROM activity WHERE ts < ?", (older_than,))
            return cur.rowcount
