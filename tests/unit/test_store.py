"""The SQLite store: WAL, migrations recorded and idempotent, refusing a newer schema."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from clawtui.engine import store as store_mod
from clawtui.engine.api.models import ActivityEntry
from clawtui.engine.store import Store, StoreError


def test_open_migrate_reopen(tmp_path: Path) -> None:
    s = Store(tmp_path / "sub" / "c.db")
    s.open()
    assert s.schema_version() == max(v for v, _, _ in store_mod.MIGRATIONS)
    mode = s.run(lambda c: c.execute("PRAGMA journal_mode").fetchone()[0])
    assert mode == "wal"
    s.add_activity(
        [ActivityEntry(ts=1.0, message="one"), ActivityEntry(ts=2.0, message="[b]two", host="h")]
    )
    s.close()
    again = Store(tmp_path / "sub" / "c.db")
    again.open()  # migrations are not applied twice
    rows = again.recent_activity(10)
    assert [r.message for r in rows] == ["[b]two", "one"]
    assert again.prune_activity(1.5) == 1
    again.close()


def test_newer_schema_refused(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    s = Store(path)
    s.open()
    s.close()
    conn = sqlite3.connect(path)
    conn.execute("INSERT INTO schema_migrations VALUES (999, 'future', 0)")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="newer clawtui"):
        Store(path).open()


def test_unwritable_location_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(StoreError, match="state_dir"):
        Store(blocker / "c.db").open()


def test_transaction_rolls_back(tmp_path: Path) -> None:
    s = Store(tmp_path / "c.db")
    s.open()

    def failing_write() -> None:
        with s.transaction() as conn:
            conn.execute("INSERT INTO activity (ts, level, message) VALUES (1, 'info', 'x')")
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        failing_write()
    assert s.recent_activity() == []
    s.close()


def test_a_failed_commit_rolls_back_and_the_store_keeps_working(tmp_path: Path) -> None:
    """A COMMIT that fails (here a deferred foreign-key violation, checked only at COMMIT) rolls
    the transaction back: its rows are gone and the next writes succeed (issue 20, item 5)."""
    deferred_fk = (
        900,
        "a child whose parent is checked at commit",
        """
        CREATE TABLE parent (id INTEGER PRIMARY KEY);
        CREATE TABLE child (
            id INTEGER PRIMARY KEY,
            parent INTEGER REFERENCES parent (id) DEFERRABLE INITIALLY DEFERRED
        );
        """,
    )
    s = Store(tmp_path / "c.db", migrations=[*store_mod.MIGRATIONS, deferred_fk])
    s.open()
    try:

        def orphan(durable: bool) -> None:
            with s.transaction(durable=durable) as c:
                c.execute("INSERT INTO activity (ts, level, message) VALUES (1, 'info', 'lost')")
                c.execute("INSERT INTO child (id, parent) VALUES (1, 42)")  # no parent 42

        for durable in (False, True):  # twice: a second failure is handled like the first
            with pytest.raises(sqlite3.IntegrityError, match="FOREIGN KEY"):
                orphan(durable)  # fails at COMMIT
            assert not s.conn.in_transaction
            assert s.run(lambda c: c.execute("PRAGMA synchronous").fetchone()[0]) == 1  # NORMAL
        assert s.recent_activity() == []  # rolled back, not half-written
        s.add_activity([ActivityEntry(ts=2.0, message="after")])  # the store is not wedged
        with s.transaction() as c:
            c.execute("INSERT INTO parent (id) VALUES (42)")
            c.execute("INSERT INTO child (id, parent) VALUES (1, 42)")
        assert [e.message for e in s.recent_activity()] == ["after"]
        assert s.run(lambda c: c.execute("SELECT COUNT(*) FROM child").fetchone()[0]) == 1
    finally:
        s.close()


class _RollbackFailsOnce(sqlite3.Connection):
    """A connection whose first ROLLBACK fails, as one can on an I/O error (injected: SQLite
    gives no portable way to make ROLLBACK fail on purpose)."""

    rollback_fails = True

    def execute(self, sql: str, *args: Any) -> sqlite3.Cursor:
        if sql == "ROLLBACK" and _RollbackFailsOnce.rollback_fails:
            _RollbackFailsOnce.rollback_fails = False
            raise sqlite3.OperationalError("disk I/O error (injected)")
        return super().execute(sql, *args)


def test_a_connection_stuck_in_a_transaction_is_replaced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    connect = sqlite3.connect

    def connect_with_failing_rollback(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        return connect(*args, **kwargs, factory=_RollbackFailsOnce)

    monkeypatch.setattr(sqlite3, "connect", connect_with_failing_rollback)
    s = Store(tmp_path / "c.db")
    s.open()
    first = s.conn
    try:

        def failing_write() -> None:
            with s.transaction() as conn:
                conn.execute("INSERT INTO activity (ts, level, message) VALUES (1, 'info', 'x')")
                raise RuntimeError("boom")

        with pytest.raises(RuntimeError, match="boom"):  # the original error, not ROLLBACK's
            failing_write()
        assert not _RollbackFailsOnce.rollback_fails  # the injected failure did happen
        assert s.conn is not first  # dropped (closing discarded its transaction), made again
        assert not s.conn.in_transaction
        assert s.recent_activity() == []
        s.add_activity([ActivityEntry(ts=2.0, message="after")])
        assert [e.message for e in s.recent_activity()] == ["after"]
    finally:
        s.close()
