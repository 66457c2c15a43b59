"""Files clawtui writes, read back by a parser written from TinyClaw's own types.

`src/types.ts` (IncomingMessage, OutgoingMessage) and `src/session-manager.ts` (ThreadConfig,
ThreadsMap = Record<string, ThreadConfig>) of lucianHymer/tinyclaw, transcribed below as strict
checks: every required field present with its TypeScript type, optional ones typed when present.
Also: merging config with threads.json, queue depths, and the Nanoclaw second sink against
Nanoclaw's real `messages` schema (qwibitai/nanoclaw src/db.ts).
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from clawtui.config.threads import ThreadEntry, ThreadsConfig
from clawtui.engine.kb import knowledge as kb
from clawtui.engine.threads.queue import NanoclawSink, QueueError, TinyClawQueue
from clawtui.engine.threads.registry import merge_threads, read_threads_json, write_threads_json

# -- TinyClaw's types, transcribed ----------------------------------------------------------------
STR, NUM, BOOL = "string", "number", "boolean"
INCOMING_REQ = {"channel": STR, "threadId": NUM, "sender": STR, "message": STR,
                "timestamp": NUM, "messageId": STR}  # fmt: skip
INCOMING_OPT = {"source": STR, "sourceThreadId": NUM, "senderId": STR, "isReply": BOOL,
                "replyToText": STR, "replyToModel": STR, "topicName": STR}  # fmt: skip
OUTGOING_REQ = {"channel": STR, "threadId": NUM, "sender": STR, "message": STR,
                "originalMessage": STR, "timestamp": NUM, "messageId": STR,
                "model": STR}  # fmt: skip
OUTGOING_OPT = {"targetThreadId": NUM}
THREAD_REQ = {"name": STR, "cwd": STR, "model": STR, "isMaster": BOOL, "lastActive": NUM}
THREAD_OPT = {"sessionId": STR}


def ts_type(value: Any) -> str:
    if isinstance(value, bool):
        return BOOL
    if isinstance(value, int | float):
        return NUM
    if isinstance(value, str):
        return STR
    return type(value).__name__


def check_shape(obj: Any, req: dict[str, str], opt: dict[str, str]) -> None:
    assert isinstance(obj, dict)
    for key, kind in req.items():
        assert key in obj, f"missing {key}"
        assert ts_type(obj[key]) == kind, f"{key}: {obj[key]!r} is not a {kind}"
    for key, kind in opt.items():
        if key in obj:
            assert ts_type(obj[key]) == kind, f"{key}: {obj[key]!r} is not a {kind}"


def tinyclaw_read_queue(folder: Path, req: dict[str, str], opt: dict[str, str]) -> list[Any]:
    """What TinyClaw's queue processor does: every *.json in the folder, JSON.parse."""
    out = []
    for path in sorted(folder.iterdir()):
        if not path.name.endswith(".json"):
            continue
        obj = json.loads(path.read_text("utf-8"))
        check_shape(obj, req, opt)
        assert path.name == f"{obj['messageId']}.json"
        assert obj["timestamp"] > 1_600_000_000_000  # epoch milliseconds
        out.append(obj)
    return out


def test_queue_files_read_back_by_tinyclaw_types(tmp_path: Path) -> None:
    q = TinyClawQueue(tmp_path)
    q.ensure()
    q.deliver(3, "hello [b]x[/b]", source="user", sender="alice", sender_id="42")
    q.deliver(1, "report", source="cross-thread", source_thread_id=3, channel="heartbeat")
    q.reply(3, "findings", original="heartbeat quick", target_thread_id=1)
    incoming = tinyclaw_read_queue(q.folder("incoming"), INCOMING_REQ, INCOMING_OPT)
    outgoing = tinyclaw_read_queue(q.folder("outgoing"), OUTGOING_REQ, OUTGOING_OPT)
    assert sorted(m["threadId"] for m in incoming) == [1, 3]
    assert outgoing[0]["targetThreadId"] == 1
    # a temp file of the engine is never a message TinyClaw would pick up
    assert not [p for p in q.folder("incoming").iterdir() if not p.name.endswith(".json")]
    assert q.depths() == {3: (1, 1), 1: (1, 0)}
    assert [m.message for m in q.outgoing(3)] == ["findings"]


def test_threads_json_read_back_by_tinyclaw_types(tmp_path: Path) -> None:
    path = tmp_path / "threads.json"
    write_threads_json(
        path,
        {1: {"name": "Master", "cwd": "/kb", "model": "sonnet", "isMaster": True,
             "lastActive": 1_770_000_000_000}},
    )  # fmt: skip
    kb.point_master(path, tmp_path / "kb2", 1)
    data = json.loads(path.read_text())
    for key, entry in data.items():
        assert int(key) >= 0
        check_shape(entry, THREAD_REQ, THREAD_OPT)
    assert data["1"]["cwd"] == str(tmp_path / "kb2")
    assert data["1"]["lastActive"] == 1_770_000_000_000


def test_pointing_the_master_keeps_a_backup_of_threads_json(tmp_path: Path) -> None:
    """`kb init` rewrites the master's cwd: the file as it was is kept next to it."""
    path = tmp_path / "threads.json"
    write_threads_json(path, {1: {"name": "Master", "cwd": "/kb", "model": "sonnet",
                                  "isMaster": True, "lastActive": 0}})  # fmt: skip
    before = path.read_bytes()
    backup = kb.point_master(path, tmp_path / "kb2", 1)
    assert backup == tmp_path / "threads.json.bak" and backup.read_bytes() == before
    assert json.loads(path.read_text())["1"]["cwd"] == str(tmp_path / "kb2")
    assert kb.point_master(path, tmp_path / "kb2", 1) is None  # nothing changed: no backup
    assert kb.point_master(tmp_path / "new.json", tmp_path / "kb2", 1) is None  # nothing was there


def test_merge_config_and_threads_json(tmp_path: Path) -> None:
    path = tmp_path / "threads.json"
    path.write_text(
        json.dumps(
            {
                "1": {"name": "Master", "cwd": "/kb", "model": "sonnet", "isMaster": True,
                      "lastActive": 1_770_000_000_000},
                "7": {"name": "api", "cwd": "/src/api", "model": "haiku", "isMaster": False,
                      "lastActive": 0, "sessionId": "x"},
                "bad": {"name": "?"},
                "8": "not an object",
            }
        )
    )  # fmt: skip
    tj, problem = read_threads_json(path)
    assert set(tj) == {1, 7}
    assert problem is not None and "bad" in problem
    cfg = ThreadsConfig(threads=[ThreadEntry(id=7, name="API", container="agent-api"),
                                 ThreadEntry(id=9, cwd=tmp_path)])  # fmt: skip
    threads, master = merge_threads(cfg, tj)
    assert master == 1
    assert threads[1].is_master and threads[1].last_active == 1_770_000_000.0
    assert threads[7].name == "API" and threads[7].cwd == "/src/api"
    assert threads[7].container == "agent-api" and threads[7].source == "both"
    assert threads[9].name == "Thread 9" and threads[9].source == "config"


@pytest.mark.parametrize("content", [b"", b"{", b"[]", b"\xff\xfe", b'{"1": 5}'])
def test_broken_threads_json_never_raises(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "threads.json"
    path.write_bytes(content)
    threads, problem = read_threads_json(path)
    assert threads == {}
    assert problem


NANOCLAW_SCHEMA = """
CREATE TABLE chats (jid TEXT PRIMARY KEY, name TEXT, last_message_time TEXT, channel TEXT,
                    is_group INTEGER DEFAULT 0);
CREATE TABLE messages (id TEXT, chat_jid TEXT, sender TEXT, sender_name TEXT, content TEXT,
    timestamp TEXT, is_from_me INTEGER, is_bot_message INTEGER DEFAULT 0,
    PRIMARY KEY (id, chat_jid), FOREIGN KEY (chat_jid) REFERENCES chats(jid));
"""


def test_nanoclaw_sink_inserts_rows_its_poller_picks_up(tmp_path: Path) -> None:
    db = tmp_path / "messages.db"
    con = sqlite3.connect(db)
    con.executescript(NANOCLAW_SCHEMA)
    con.close()
    q = TinyClawQueue(tmp_path / "home")
    q.sinks.append(NanoclawSink(db, {4: "120363@g.us"}))
    msg = q.deliver(4, "build failed", sender="ci", sender_id="ci-bot")
    q.deliver(5, "not mapped")
    con = sqlite3.connect(db)
    con.execute("PRAGMA foreign_keys = ON")
    # Nanoclaw's getMessagesSince query
    rows = con.execute(
        "SELECT id, chat_jid, sender, sender_name, content, timestamp FROM messages "
        "WHERE chat_jid = ? AND timestamp > ? AND is_bot_message = 0 AND content NOT LIKE ? "
        "AND content != '' AND content IS NOT NULL ORDER BY timestamp",
        ("120363@g.us", "2000-01-01T00:00:00.000Z", "Andy:%"),
    ).fetchall()
    assert rows == [(msg.messageId, "120363@g.us", "ci-bot", "ci", "build failed", rows[0][5])]
    assert rows[0][5].endswith("Z") and rows[0][5][:4] >= "2026"
    assert con.execute("PRAGMA foreign_key_check").fetchall() == []
    con.close()
    assert q.sink_errors == []


def test_nanoclaw_sink_error_keeps_the_queue_file(tmp_path: Path) -> None:
    q = TinyClawQueue(tmp_path / "home")
    bad = tmp_path / "not-nanoclaw.db"
    sqlite3.connect(bad).close()
    q.sinks.append(NanoclawSink(bad, {4: "jid"}))
    msg = q.deliver(4, "hi")
    assert (q.folder("incoming") / f"{msg.messageId}.json").exists()
    assert q.sink_errors and "not a Nanoclaw store" in q.sink_errors[0]
    with pytest.raises(QueueError, match="does not exist"):
        NanoclawSink(tmp_path / "nope.db", {}).insert("jid", msg)
