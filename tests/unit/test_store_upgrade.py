"""A clawtui.db written before each capability owned its SQL opens, upgrades and reads the same.

The fixture `tests/fixtures/store/clawtui-schema-400.sql` is a dump (sqlite3 `iterdump`) of a
database created by main at fd9b1c2 (schema steps 1, 2, 200, 300, 301, 400, all in
engine/store.py and pools/store.py then) with one row in every table.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from clawtui.engine import core
from clawtui.engine.brief import store as brief_db
from clawtui.engine.escalations import store as escalation_db
from clawtui.engine.ingress import store as ingress_db
from clawtui.engine.memory.store import read_history
from clawtui.engine.pools import store as pool_db
from clawtui.engine.store import Store, StoreError

FIXTURE = Path(__file__).parent.parent / "fixtures" / "store" / "clawtui-schema-400.sql"
OLD_VERSIONS = {1, 2, 200, 300, 301, 400}


def _schema(path: Path) -> list[tuple[str, str, str, str]]:
    conn = sqlite3.connect(path)
    try:
        rows = conn.execute("SELECT type, name, tbl_name, sql FROM sqlite_master").fetchall()
    finally:
        conn.close()
    return sorted(rows)


def _rows(path: Path) -> dict[str, list[tuple[object, ...]]]:
    conn = sqlite3.connect(path)
    try:
        tables = [
            r[0]
            for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            )
        ]
        return {t: sorted(conn.execute(f'SELECT * FROM "{t}"').fetchall()) for t in tables}
    finally:
        conn.close()


def _old_database(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.executescript(FIXTURE.read_text(encoding="utf-8"))
    conn.close()


def test_a_database_from_before_the_split_upgrades_to_the_same_schema(tmp_path: Path) -> None:
    old = tmp_path / "old" / "clawtui.db"
    old.parent.mkdir()
    _old_database(old)
    schema_before, rows_before = _schema(old), _rows(old)
    assert {r[0] for r in rows_before["schema_migrations"]} == OLD_VERSIONS  # the fixture is what
    # it says it is

    store = core.open_store(old)
    store.open()
    try:
        assert store.schema_version() == max(v for v, _, _ in core.MIGRATIONS)
        # Each capability reads its rows through its own store module.
        assert [(a.subject, a.message) for a in store.recent_activity()] == [("web-1", "started")]
        history = read_history(store, 10)
        assert [(h.batch_id, h.name, h.new_limit) for h in history] == [("b1", "web-1", 2 << 30)]
        esc = store.run(lambda c: escalation_db.escalation(c, 1))
        assert esc is not None
        assert (esc.agent, esc.need, esc.status.value, esc.delivered_message_id) == (
            "coder",
            "a token",
            "pending",
            "m-1",
        )
        incidents = store.run(
            lambda c: escalation_db.find_incidents(c, open_only=True, monitor=None, limit=10)
        )
        assert [(i.monitor, i.signal, i.summary) for i in incidents] == [
            ("disk", "full", "disk full")
        ]
        brief = store.run(brief_db.latest)
        assert brief is not None and (brief.day, brief.blocked) == ("2026-12-02", ["staging: disk"])
        deliveries = store.run(lambda c: ingress_db.recent_deliveries(c, 10))
        assert [(d["id"], d["status"]) for d in deliveries] == [("d-1", "pending")]
        assert [r["id"] for r in store.run(ingress_db.pending_deliveries)] == ["d-1"]
        assert [q["size"] for q in store.run(lambda c: ingress_db.recent_quarantine(c, 5))] == [2]
        claims = store.run(pool_db.open_claims)
        assert [(c.tenant, c.container, c.state) for c in claims] == [("t0", "pool-a-1", "active")]
        slot = store.run(lambda c: pool_db.container(c, "pool-a-1"))
        assert slot is not None and slot.endpoints == ["127.0.0.1:2222"]
        assert store.run(pool_db.targets) == {"a": 2}
    finally:
        store.close()

    # Only the new steps were applied (recorded), and they changed no table, index or row that
    # was there: what steps newer than the fixture add (tables of later capabilities) is new
    # and empty.
    rows_after = _rows(old)
    applied = rows_after.pop("schema_migrations")
    old_steps = rows_before.pop("schema_migrations")
    assert [r for r in applied if r[0] in OLD_VERSIONS] == old_steps
    assert {r[0] for r in applied} == {v for v, _, _ in core.MIGRATIONS}
    # (A later step may add columns to an old table: its rows keep their old values first.)
    assert {t: [r[: len(o)] for r, o in zip(rows_after[t], rows_before[t], strict=True)]
            for t in rows_before} == rows_before  # fmt: skip
    assert all(not rows for t, rows in rows_after.items() if t not in rows_before)
    schema_after = _schema(old)
    assert {s[:3] for s in schema_before} <= {s[:3] for s in schema_after}

    # A database created by the new code has exactly the same schema as the upgraded one.
    fresh = tmp_path / "fresh" / "clawtui.db"
    new = core.open_store(fresh)
    new.open()
    new.close()
    assert _schema(fresh) == schema_after


def test_every_capability_owns_its_steps_and_versions_do_not_collide(tmp_path: Path) -> None:
    from clawtui.engine import store as shared
    from clawtui.engine.brief import store as brief
    from clawtui.engine.escalations import store as escalations
    from clawtui.engine.ingress import store as ingress
    from clawtui.engine.memory import store as memory
    from clawtui.engine.pools import store as pools
    from clawtui.engine.tokens import store as tokens

    ranges = {
        shared: range(1, 2),
        memory: range(2, 100),
        pools: range(200, 300),
        escalations: range(300, 350),
        brief: range(350, 400),
        ingress: range(400, 500),
        tokens: range(600, 700),
    }
    for module, allowed in ranges.items():
        assert module.MIGRATIONS, module.__name__
        assert all(v in allowed for v, _, _ in module.MIGRATIONS), module.__name__
    assert sorted(core.MIGRATIONS) == sorted(m for mod in ranges for m in mod.MIGRATIONS)
    with pytest.raises(StoreError, match="share a version"):
        Store(tmp_path / "c.db", migrations=[*shared.MIGRATIONS, (1, "again", "SELECT 1")])
