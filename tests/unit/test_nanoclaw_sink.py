"""The Nanoclaw second sink against Nanoclaw's own DDL and its own pick-up queries.

Fixtures in tests/fixtures/nanoclaw/ (each names its commit and path):
- v2 (qwibitai/nanoclaw 0683c6e): `v2_central_schema.sql` (data/v2.db), `v2_inbound_schema.sql`
  and `v2_outbound_schema.sql` (per session), `v2_pickup.sql` (the container agent loop's
  getPendingMessages) and `v2_count_due.sql` (the host sweep's countDueMessages, which wakes it).
- v1 (its last v1 commit 90acff28): `v1_schema.sql` (src/db.ts createSchema) and `v1_pickup.sql`
  (getNewMessages); the trigger check is index.ts's `^<escaped trigger>\\b` (case insensitive).
"""

from __future__ import annotations

import asyncio
import json
import re
import sqlite3
from pathlib import Path

import pytest

from clawtui.config import EngineConfig, Settings
from clawtui.config.threads import ThreadEntry, ThreadsConfig
from clawtui.engine.api.escalations import Source, Status
from clawtui.engine.api.models import EventKind
from clawtui.engine.core import Engine
from clawtui.engine.threads.nanoclaw import NanoclawSink
from clawtui.engine.threads.queue import TinyClawQueue

FIXTURES = Path(__file__).parent.parent / "fixtures" / "nanoclaw"
NOW = "2026-05-01T10:00:00.000Z"


def sql(name: str) -> str:
    return (FIXTURES / name).read_text()


def make_db(path: Path, *scripts: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(path)
    for script in scripts:
        con.executescript(sql(script))
    con.close()


def v2_install(root: Path) -> Path:
    """A Nanoclaw v2 data/ folder: one agent group wired to two chats; chat A has one active
    session (shared mode), chat B an ended one."""
    v2 = root / "data" / "v2.db"
    make_db(v2, "v2_central_schema.sql")
    con = sqlite3.connect(v2)
    with con:
        con.execute("INSERT INTO agent_groups VALUES ('ag-1', 'Main', 'main', NULL, ?)", (NOW,))
        for mg, pid in (("mg-a", "tg:-1001"), ("mg-b", "tg:-1002")):
            con.execute(
                "INSERT INTO messaging_groups (id, channel_type, platform_id, name, is_group, "
                "unknown_sender_policy, created_at) VALUES (?, 'telegram', ?, ?, 1, 'strict', ?)",
                (mg, pid, pid, NOW),
            )
        con.execute(
            "INSERT INTO sessions (id, agent_group_id, messaging_group_id, thread_id, status, "
            "created_at) VALUES ('sess-1-abc', 'ag-1', 'mg-a', NULL, 'active', ?)",
            (NOW,),
        )
        con.execute(
            "INSERT INTO sessions (id, agent_group_id, messaging_group_id, status, created_at) "
            "VALUES ('sess-2-old', 'ag-1', 'mg-b', 'closed', ?)",
            (NOW,),
        )
    con.close()
    sdir = root / "data" / "v2-sessions" / "ag-1" / "sess-1-abc"
    make_db(sdir / "inbound.db", "v2_inbound_schema.sql")
    make_db(sdir / "outbound.db", "v2_outbound_schema.sql")
    return v2


def v2_pickup(session_dir: Path) -> list[sqlite3.Row]:
    """getPendingMessages(isFirstPoll=false): the pick-up query, then the processing_ack
    filter, reversed to chronological order, as the agent runner does."""
    inbound = sqlite3.connect(session_dir / "inbound.db")
    inbound.row_factory = sqlite3.Row
    rows = inbound.execute(sql("v2_pickup.sql"), (0, 10)).fetchall()
    (due,) = inbound.execute(sql("v2_count_due.sql")).fetchone()
    inbound.close()
    outbound = sqlite3.connect(session_dir / "outbound.db")
    acked = {r[0] for r in outbound.execute("SELECT message_id FROM processing_ack")}
    outbound.close()
    picked = [r for r in rows if r["id"] not in acked][::-1]
    assert due == len(picked)  # the host sweep wakes the container for each of them
    return picked


def test_v2_rows_are_picked_up_by_the_agent_loop(tmp_path: Path) -> None:
    v2 = v2_install(tmp_path / "nanoclaw")
    q = TinyClawQueue(tmp_path / "home")
    sink = NanoclawSink(tmp_path / "nanoclaw", {4: "tg:-1001", 5: "tg:-1002"})
    q.sinks.append(sink)
    first = q.deliver(4, "build failed", sender="ci", sender_id="ci-bot")
    second = q.deliver(4, "and again")
    assert sink.flavour == "v2" and q.sink_errors == []
    picked = v2_pickup(tmp_path / "nanoclaw" / "data" / "v2-sessions" / "ag-1" / "sess-1-abc")
    assert [r["id"] for r in picked] == [f"{first.messageId}:ag-1", f"{second.messageId}:ag-1"]
    row = picked[0]
    assert [r["seq"] for r in picked] == [2, 4]  # the host writes even seq numbers
    assert (row["kind"], row["status"], row["trigger"], row["on_wake"]) == ("chat", "pending", 1, 0)
    assert (row["channel_type"], row["platform_id"], row["thread_id"]) == (
        "telegram",
        "tg:-1001",
        None,
    )
    assert row["series_id"] == row["id"]
    assert json.loads(row["content"]) == {
        "text": "build failed",
        "sender": "ci",
        "senderId": "ci-bot",
    }
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", row["timestamp"])
    con = sqlite3.connect(v2)
    (last_active,) = con.execute(
        "SELECT last_active FROM sessions WHERE id = 'sess-1-abc'"
    ).fetchone()
    con.close()
    assert last_active is not None
    # chat B has no active session: a failure that names the chat, not a silent loss
    q.deliver(5, "lost?")
    assert "no active session for chat 'tg:-1002'" in q.sink_failures[5]
    assert 4 not in q.sink_failures


OLD_MESSAGES_IN = """
CREATE TABLE messages_in (
  id TEXT PRIMARY KEY, seq INTEGER UNIQUE, kind TEXT NOT NULL, timestamp TEXT NOT NULL,
  status TEXT DEFAULT 'pending', process_after TEXT, recurrence TEXT, tries INTEGER DEFAULT 0,
  platform_id TEXT, channel_type TEXT, thread_id TEXT, content TEXT NOT NULL
);
"""
"""v2_inbound_schema.sql's messages_in without the columns session-db.ts's migration adds to
older session DBs (series_id, trigger, source_session_id, on_wake)."""


def test_v2_inbound_written_before_later_columns(tmp_path: Path) -> None:
    """An inbound.db from before trigger/source_session_id/on_wake still gets its row."""
    v2_install(tmp_path)
    sdir = tmp_path / "data" / "v2-sessions" / "ag-1" / "sess-1-abc"
    (sdir / "inbound.db").unlink()
    con = sqlite3.connect(sdir / "inbound.db")
    con.executescript(OLD_MESSAGES_IN)
    con.close()
    sink = NanoclawSink(tmp_path / "data" / "v2.db", {4: "mg-a"})  # the group id works too
    q = TinyClawQueue(tmp_path / "home")
    q.sinks.append(sink)
    msg = q.deliver(4, "hi")
    assert q.sink_errors == []
    con = sqlite3.connect(sdir / "inbound.db")
    assert con.execute("SELECT id FROM messages_in").fetchall() == [(f"{msg.messageId}:ag-1",)]
    con.close()


def v1_install(path: Path) -> None:
    make_db(path, "v1_schema.sql")
    con = sqlite3.connect(path)
    with con:
        for jid, folder, trigger, requires, main in (
            ("main@g.us", "main", "@Andy", None, 1),
            ("team@g.us", "team", "@Andy", None, 0),  # NULL requires_trigger: needs one
            ("ops@g.us", "ops", "", 1, 0),  # empty trigger_pattern: @<ASSISTANT_NAME>
            ("free@g.us", "free", "@Andy", 0, 0),
        ):
            con.execute(
                "INSERT INTO registered_groups (jid, name, folder, trigger_pattern, added_at, "
                "requires_trigger, is_main) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (jid, folder, folder, trigger, NOW, requires, main),
            )
    con.close()


def v1_wakes(con: sqlite3.Connection, jid: str, content: str, assistant: str) -> bool:
    """index.ts: a non-main group that requires a trigger acts only on a message matching
    getTriggerPattern(group.trigger)."""
    trigger, requires, main = con.execute(
        "SELECT trigger_pattern, requires_trigger, is_main FROM registered_groups WHERE jid = ?",
        (jid,),
    ).fetchone()
    if main == 1 or requires == 0:
        return True
    pattern = re.compile(rf"^{re.escape((trigger or '').strip() or '@' + assistant)}\b", re.I)
    return bool(pattern.search(content.strip()))


def test_v1_rows_wake_the_agent_with_the_trigger(tmp_path: Path) -> None:
    db = tmp_path / "store" / "messages.db"
    v1_install(db)
    q = TinyClawQueue(tmp_path / "home")
    jids = {1: "main@g.us", 2: "team@g.us", 3: "ops@g.us", 4: "free@g.us"}
    sink = NanoclawSink(tmp_path, jids, assistant="Bob")  # the checkout folder works too
    q.sinks.append(sink)
    sent = {tid: q.deliver(tid, "deploy broke", sender="ci") for tid in jids}
    q.deliver(2, "@andy already addressed")
    assert sink.flavour == "v1" and q.sink_errors == []
    con = sqlite3.connect(db)
    con.execute("PRAGMA foreign_keys = ON")
    for tid, jid in jids.items():
        rows = con.execute(sql("v1_pickup.sql"), ("2000-01-01T00:00:00.000Z", jid, "Bob:%", 200))
        got = rows.fetchall()
        assert got[0][0] == sent[tid].messageId
        for row in got:
            assert v1_wakes(con, jid, row[4], "Bob"), (jid, row[4])
    by_chat: dict[str, list[str]] = {}
    for jid, content in con.execute("SELECT chat_jid, content FROM messages ORDER BY content"):
        by_chat.setdefault(jid, []).append(content)
    assert by_chat == {
        "main@g.us": ["deploy broke"],  # the main group needs no trigger
        "free@g.us": ["deploy broke"],  # requires_trigger = 0
        "ops@g.us": ["@Bob deploy broke"],  # empty trigger_pattern: @<ASSISTANT_NAME>
        "team@g.us": ["@Andy deploy broke", "@andy already addressed"],
    }
    assert con.execute("PRAGMA foreign_key_check").fetchall() == []
    con.close()


def test_not_a_nanoclaw_store_is_named(tmp_path: Path) -> None:
    bad = tmp_path / "other.db"
    sqlite3.connect(bad).execute("CREATE TABLE t (x)").connection.close()
    q = TinyClawQueue(tmp_path / "home")
    q.sinks.append(NanoclawSink(bad, {4: "jid"}))
    msg = q.deliver(4, "hi")
    assert (q.folder("incoming") / f"{msg.messageId}.json").exists()
    assert "neither the v2 tables" in q.sink_failures[4]
    inbound = tmp_path / "inbound.db"
    make_db(inbound, "v2_inbound_schema.sql")
    q.sinks[:] = [NanoclawSink(inbound, {4: "jid"})]
    q.deliver(4, "hi")
    assert "set [threads] nanoclaw_db to Nanoclaw's data/v2.db" in q.sink_failures[4]
    q.sinks[:] = [NanoclawSink(tmp_path / "nope.db", {4: "jid"})]
    q.deliver(4, "hi")
    assert "does not exist" in q.sink_failures[4]


async def test_a_failing_sink_escalates_and_shows_on_the_thread(tmp_path: Path) -> None:
    bad = tmp_path / "chats-missing.db"
    sqlite3.connect(bad).execute("CREATE TABLE t (x)").connection.close()
    settings = Settings(
        engine=EngineConfig(state_dir=tmp_path / "state"),
        threads=ThreadsConfig(
            home=tmp_path / "home",
            heartbeat=False,
            nanoclaw_db=bad,
            threads=[ThreadEntry(id=4, name="api", cwd=tmp_path, nanoclaw_jid="tg:-1")],
        ),
    )
    engine = Engine(settings)
    engine.bus.bind(asyncio.get_running_loop())
    await asyncio.to_thread(engine.store.open)
    try:
        sub = engine.subscribe([EventKind.ESCALATION, EventKind.THREAD])
        await engine.threads.send(4, "hello")
        await engine.threads.send(4, "hello again")
        seen: dict[EventKind, object] = {}
        while len(seen) < 2:  # THREAD events coalesce: the newest may come after the other
            event = await asyncio.wait_for(sub.get(), 10)
            seen[event.kind] = event.data.get("thread") or event.data.get("escalation")
        thread = seen[EventKind.THREAD]
        assert isinstance(thread, dict)
        assert "neither the v2 tables" in (thread["delivery_problem"] or "")
        status = engine.threads.statuses()[0]
        assert status.delivery_problem and "not a Nanoclaw store" in status.delivery_problem
        pending = await engine.escalations.find(status=Status.PENDING)
        assert len(pending) == 1  # one per thread, not one per message
        esc = pending[0]
        assert esc.source is Source.DELIVERY and esc.thread_id == 4
        assert "not a Nanoclaw store" in esc.tried[0]
    finally:
        await engine.notifier.aclose()
        await asyncio.to_thread(engine.store.close)


@pytest.mark.parametrize("name", sorted(p.name for p in FIXTURES.glob("*.sql")))
def test_fixture_names_its_source(name: str) -> None:
    head = (FIXTURES / name).read_text().splitlines()[0]
    assert head.startswith("-- qwibitai/nanoclaw ") and re.search(r"\b[0-9a-f]{40}\b", head)
