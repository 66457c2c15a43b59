"""The engine's SQLite store: durable state that Docker labels cannot hold.

Labels cannot change after a container is created, so everything mutable (claims, escalations,
incidents, deliveries, the activity log) lives in one SQLite file. This module is the generic
layer: one connection in WAL mode with a busy timeout, transactions, the migration runner, and the
one table every capability shares (the activity log). Each capability owns its tables and their
SQL in its own `store.py`. All calls run under one lock, from a worker thread, so the event loop
never blocks on disk. Schema changes are numbered migrations applied in order inside
`BEGIN IMMEDIATE` transactions and recorded in `schema_migrations`.
"""

from __future__ import annotations

import asyncio
import logging
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
log = logging.getLogger(__name__)

# Numbered migrations. Append only: never change what one creates once it has shipped (the text of a
# CREATE statement is kept in the database, and the schema of an upgraded database must equal a
# fresh one). Each capability keeps its own steps in its own `store.py` and has its own range so
# that they grow independently: 1-99 the engine's own shared tables (1 activity) and memory (2,
# memory/store.py), 100-199 threads and heartbeats (none yet: their state is TinyClaw's files),
# 200-299 pools (pools/store.py), 300-349 escalations and incidents (escalations/store.py), 350-399
# briefs (brief/store.py), 400-499 ingress (ingress/store.py), 500-599 attach / tmux, 600-699
# scoped API tokens and the audit log (tokens/store.py). The engine's core
# (`engine.core.open_store`) hands the whole list to `Store`, which applies the steps not yet
# recorded in version order.
Migration = tuple[int, str, str]
"""(version, name, SQL): one step of the schema."""

# The engine's own steps: only tables every capability shares (the activity log).
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
]


class StoreError(Exception):
    """The store could not be opened or migrated; the message names the file and the fix."""


class Store:
    """A small synchronous core (`run`) with async wrappers for the engine's loop."""

    def __init__(self, path: Path | str, *, migrations: Sequence[Migration] = MIGRATIONS) -> None:
        self.path = Path(path) if str(path) != ":memory:" else Path(":memory:")
        self.migrations = sorted(migrations)
        versions = [v for v, _, _ in self.migrations]
        if len(set(versions)) != len(versions):
            raise StoreError(f"two schema steps share a version: {versions}")
        self._lock = threading.RLock()
        self._conn: sqlite3.Connection | None = None
        self._opened = False  # open() succeeded and close() was not called

    # -- lifecycle ---------------------------------------------------------------------------
    def open(self) -> None:
        # Under the lock: a call made while the schema is being migrated waits for it (it saw
        # "no such column" when it ran between two steps).
        with self._lock:
            self._open_locked()

    def _open_locked(self) -> None:
        if self._conn is not None:
            return
        try:
            if str(self.path) != ":memory:":
                make_private_dir(self.path.parent)
                create_private_file(self.path)
            self._conn = self._connect()
            self._migrate()
            self._opened = True
        except (sqlite3.Error, OSError) as exc:
            self._conn = None
            raise StoreError(
                f"cannot open the state database {self.path}: {exc} "
                "(check that its folder is writable, or set [engine] state_dir in config.toml)"
            ) from exc

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            str(self.path), timeout=5.0, isolation_level=None, check_same_thread=False
        )
        try:
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA busy_timeout=5000")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=ON")
        except BaseException:
            conn.close()
            raise
        return conn

    def close(self) -> None:
        with self._lock:
            self._opened = False
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    @property
    def conn(self) -> sqlite3.Connection:
        """The connection; one dropped after a failure is made again here (an `sqlite3.Error`
        when that fails too, like any write that cannot be done right now)."""
        with self._lock:
            if self._conn is None:
                if not self._opened:
                    raise StoreError("the store is not open")
                self._conn = self._connect()
                log.warning("store: reconnected to %s", self.path)
            return self._conn

    # -- transactions ------------------------------------------------------------------------
    @contextmanager
    def transaction(
        self, *, immediate: bool = True, durable: bool = False
    ) -> Iterator[sqlite3.Connection]:
        """A transaction; `immediate` takes the write lock up front (for read-then-write);
        `durable` syncs this one to disk at COMMIT (synchronous=FULL), for what is acknowledged
        to someone outside as soon as it returns.

        Whatever fails, a statement or the COMMIT itself (a deferred foreign key, a full disk),
        the transaction is rolled back before the error goes on: the connection is never left
        inside a failed transaction (where every later write would fail)."""
        with self._lock:
            conn = self.conn
            if durable:
                conn.execute("PRAGMA synchronous=FULL")
            try:
                conn.execute("BEGIN IMMEDIATE" if immediate else "BEGIN")
                try:
                    yield conn
                    conn.execute("COMMIT")
                except BaseException:
                    self._roll_back(conn)
                    raise
            finally:
                if durable and self._conn is conn:
                    try:
                        conn.execute("PRAGMA synchronous=NORMAL")
                    except sqlite3.Error as exc:  # never hide the transaction's own error
                        log.warning("store: cannot reset synchronous on %s: %s", self.path, exc)

    def _roll_back(self, conn: sqlite3.Connection) -> None:
        """End a failed transaction. SQLite may already have rolled it back (a full disk, an
        I/O error); when ROLLBACK itself fails, the connection is dropped (closing it discards
        the transaction) and made again on next use."""
        if not conn.in_transaction:
            return
        try:
            conn.execute("ROLLBACK")
        except sqlite3.Error as exc:
            log.warning("store: ROLLBACK failed on %s: %s", self.path, exc)
        if conn.in_transaction:
            log.warning("store: dropping the connection to %s stuck in a transaction", self.path)
            self._conn = None
            try:
                conn.close()
            except sqlite3.Error as exc:
                log.warning("store: closing %s: %s", self.path, exc)

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
        for version, name, sql in self.migrations:
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
