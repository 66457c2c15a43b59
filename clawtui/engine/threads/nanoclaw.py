"""Second sink: deliveries to threads mapped to a Nanoclaw chat also land in Nanoclaw's database.

Nanoclaw has had two storage layouts; the sink detects which one `[threads] nanoclaw_db` holds
(from its tables) on every write, so an upgrade of Nanoclaw needs no change here:

- v1 (qwibitai/nanoclaw up to 90acff28, `src/db.ts`): `store/messages.db` with
  `chats(jid, name, last_message_time, channel, is_group)` and `messages(id, chat_jid, sender,
  sender_name, content, timestamp ISO, is_from_me, is_bot_message, ...)`. The host's message
  loop (`getNewMessages`) picks up rows with is_bot_message = 0; for a registered group that
  is not the main group and requires a trigger (`registered_groups.requires_trigger`, NULL
  meaning yes), it only wakes the agent when a message matches `^<trigger>\\b` (case
  insensitive; trigger = `registered_groups.trigger_pattern`, default `@<ASSISTANT_NAME>`):
  the sink prefixes the text with the trigger then.
- v2 (since 2026-04-09, checked at 0683c6e, `src/db/schema.ts`, `src/session-manager.ts`):
  `data/v2.db` holds `messaging_groups(channel_type, platform_id, ...)` and `sessions(id,
  agent_group_id, messaging_group_id, thread_id, status, ...)`; each session's host-owned
  `data/v2-sessions/<agent_group_id>/<session_id>/inbound.db` has `messages_in`. The sink
  writes a row as `writeSessionMessage` does (id `<message id>:<agent_group_id>`, next even
  `seq`, kind 'chat', status 'pending', trigger 1, content JSON `{text, sender, senderId}`)
  into every active session of the chat whose `platform_id` (or messaging group id) is the
  thread's `nanoclaw_jid`, and touches `sessions.last_active`. The host sweep wakes the
  container (`countDueMessages`), whose agent loop reads it (`getPendingMessages`).

Every failure raises QueueError with what is wrong and where; the queue keeps its file.
"""

from __future__ import annotations

import json
import re
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Final, Literal

from clawtui.engine.api.threads import IncomingMessage, QueueError

Flavour = Literal["v1", "v2"]
DEFAULT_ASSISTANT: Final = "Andy"
"""Nanoclaw's default ASSISTANT_NAME (src/config.ts)."""
_SAFE_PART = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,200}$")


def iso_ms(epoch_ms: int) -> str:
    """JavaScript's `Date.toISOString()` of an epoch-millisecond time."""
    return (
        datetime.fromtimestamp(epoch_ms / 1000, UTC)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z")
    )


def resolve_db(path: Path) -> Path:
    """The database file of `path`: itself, or for a Nanoclaw checkout folder its
    `data/v2.db` (v2) else `store/messages.db` (v1)."""
    if path.is_dir():
        for rel in ("data/v2.db", "store/messages.db"):
            if (path / rel).is_file():
                return path / rel
        raise QueueError(
            f"{path} holds neither data/v2.db (Nanoclaw v2) nor store/messages.db (v1): set "
            "[threads] nanoclaw_db to one of them"
        )
    if not path.is_file():
        raise QueueError(
            f"Nanoclaw store {path} does not exist (set [threads] nanoclaw_db to Nanoclaw's "
            "data/v2.db, or store/messages.db before v2)"
        )
    return path


def _tables(con: sqlite3.Connection) -> set[str]:
    return {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def flavour_of(con: sqlite3.Connection, where: Path) -> Flavour:
    """v1 or v2 from the tables; QueueError when the database is neither."""
    tables = _tables(con)
    if {"sessions", "messaging_groups"} <= tables:
        return "v2"
    if {"chats", "messages"} <= tables:
        return "v1"
    if "messages_in" in tables:
        raise QueueError(
            f"{where} is one session's inbound.db: set [threads] nanoclaw_db to Nanoclaw's "
            "data/v2.db (the sink finds every session of the chat from there)"
        )
    raise QueueError(
        f"{where} is not a Nanoclaw store: it has neither the v2 tables (sessions, "
        "messaging_groups) nor the v1 tables (chats, messages)"
    )


def _columns(con: sqlite3.Connection, table: str) -> set[str]:
    return {r[1] for r in con.execute(f"PRAGMA table_info('{table}')")}


def v1_trigger_prefix(con: sqlite3.Connection, chat_jid: str, assistant: str) -> str | None:
    """The trigger a v1 message to `chat_jid` must start with to wake its agent, or None
    (main group, a group that does not require one, or a chat that is not registered)."""
    if "registered_groups" not in _tables(con):
        return None
    cols = _columns(con, "registered_groups")
    is_main = "is_main" if "is_main" in cols else "0"
    needs = "requires_trigger" if "requires_trigger" in cols else "1"
    row = con.execute(
        f"SELECT trigger_pattern, {is_main}, {needs} FROM registered_groups WHERE jid = ?",
        (chat_jid,),
    ).fetchone()
    if row is None:
        return None
    trigger, main, requires = row
    if main == 1 or requires == 0:  # isMain === true; requiresTrigger !== false
        return None
    text = str(trigger or "").strip()
    return text or f"@{assistant}"


def with_trigger(text: str, trigger: str | None) -> str:
    """`text` prefixed with `trigger` unless it already matches Nanoclaw's
    `new RegExp('^' + escapeRegex(trigger) + '\\\\b', 'i')`."""
    if trigger is None:
        return text
    if re.match(rf"^{re.escape(trigger)}\b", text.strip(), re.IGNORECASE):
        return text
    return f"{trigger} {text}"


class NanoclawSink:
    """Writes each delivery to a mapped thread into Nanoclaw (v1 or v2, detected)."""

    def __init__(
        self, db_path: Path, jids: dict[int, str], *, assistant: str = DEFAULT_ASSISTANT
    ) -> None:
        self.db_path = Path(db_path)
        self.jids = dict(jids)
        self.assistant = assistant
        self.flavour: Flavour | None = None
        """What the last write found (None before the first)."""

    def __call__(self, msg: IncomingMessage) -> None:
        jid = self.jids.get(msg.threadId)
        if jid is not None:
            self.insert(jid, msg)

    def _connect(self, path: Path) -> sqlite3.Connection:
        try:
            con = sqlite3.connect(path, timeout=5.0)
            con.execute("PRAGMA busy_timeout = 5000")
        except sqlite3.Error as exc:
            raise QueueError(f"cannot open Nanoclaw store {path}: {exc}") from exc
        return con

    def insert(self, chat_jid: str, msg: IncomingMessage) -> None:
        path = resolve_db(self.db_path)
        con = self._connect(path)
        try:
            self.flavour = flavour_of(con, path)
            if self.flavour == "v1":
                self._insert_v1(con, path, chat_jid, msg)
            else:
                self._insert_v2(con, path, chat_jid, msg)
        except sqlite3.Error as exc:
            raise QueueError(f"writing to Nanoclaw store {path} failed: {exc}") from exc
        finally:
            con.close()

    # -- v1 ------------------------------------------------------------------------------------
    def _insert_v1(
        self, con: sqlite3.Connection, path: Path, chat_jid: str, msg: IncomingMessage
    ) -> None:
        iso = iso_ms(msg.timestamp)
        content = with_trigger(msg.message, v1_trigger_prefix(con, chat_jid, self.assistant))
        with con:
            # storeChatMetadata(jid, timestamp) without a name
            con.execute(
                "INSERT INTO chats (jid, name, last_message_time) VALUES (?, ?, ?) "
                "ON CONFLICT(jid) DO UPDATE SET "
                "last_message_time = MAX(last_message_time, excluded.last_message_time)",
                (chat_jid, chat_jid, iso),
            )
            # storeMessage(msg)
            con.execute(
                "INSERT OR REPLACE INTO messages (id, chat_jid, sender, sender_name, content,"
                " timestamp, is_from_me, is_bot_message) VALUES (?, ?, ?, ?, ?, ?, 0, 0)",
                (msg.messageId, chat_jid, msg.senderId or msg.sender, msg.sender, content, iso),
            )

    # -- v2 ------------------------------------------------------------------------------------
    def _insert_v2(
        self, con: sqlite3.Connection, path: Path, chat_jid: str, msg: IncomingMessage
    ) -> None:
        rows = con.execute(
            "SELECT s.id, s.agent_group_id, s.thread_id, mg.channel_type, mg.platform_id "
            "FROM sessions s JOIN messaging_groups mg ON mg.id = s.messaging_group_id "
            "WHERE (mg.platform_id = ? OR mg.id = ?) AND COALESCE(s.status, 'active') = 'active' "
            "ORDER BY s.created_at",
            (chat_jid, chat_jid),
        ).fetchall()
        if not rows:
            raise QueueError(
                f"Nanoclaw v2 ({path}) has no active session for chat {chat_jid!r} "
                "(messaging_groups.platform_id): Nanoclaw creates one when that chat first "
                "reaches an agent; check the thread's nanoclaw_jid"
            )
        iso = iso_ms(msg.timestamp)
        content = json.dumps(
            {"text": msg.message, "sender": msg.sender, "senderId": msg.senderId or msg.sender},
            ensure_ascii=False,
        )
        sessions_dir = path.parent / "v2-sessions"
        for session_id, group_id, thread_id, channel_type, platform_id in rows:
            if not (_SAFE_PART.match(str(session_id)) and _SAFE_PART.match(str(group_id))):
                raise QueueError(
                    f"Nanoclaw v2 ({path}): session {session_id!r} of agent group "
                    f"{group_id!r} is not a safe folder name; not written"
                )
            inbound = sessions_dir / str(group_id) / str(session_id) / "inbound.db"
            if not inbound.is_file():
                raise QueueError(f"Nanoclaw v2 session {session_id} has no inbound.db at {inbound}")
            self._write_inbound(
                inbound,
                {
                    "id": f"{msg.messageId}:{group_id}",
                    "kind": "chat",
                    "timestamp": iso,
                    "status": "pending",
                    "platform_id": platform_id,
                    "channel_type": channel_type,
                    "thread_id": thread_id,
                    "content": content,
                    "process_after": None,
                    "recurrence": None,
                    "series_id": f"{msg.messageId}:{group_id}",
                    "trigger": 1,
                    "source_session_id": None,
                    "on_wake": 0,
                },
            )
            with con:
                con.execute(
                    "UPDATE sessions SET last_active = ? WHERE id = ?",
                    (iso_ms(int(datetime.now(UTC).timestamp() * 1000)), session_id),
                )

    def _write_inbound(self, inbound: Path, row: dict[str, object]) -> None:
        """insertMessage(): only the columns this inbound.db has (older sessions lack the
        later ones until Nanoclaw's host migrates them)."""
        db = self._connect(inbound)
        try:
            db.execute("PRAGMA journal_mode = DELETE")
            cols = _columns(db, "messages_in")
            if not cols:
                raise QueueError(f"{inbound} has no messages_in table")
            values = {k: v for k, v in row.items() if k in cols}
            with db:
                (max_seq,) = db.execute("SELECT COALESCE(MAX(seq), 0) FROM messages_in").fetchone()
                seq = 2 if max_seq < 2 else max_seq + 2 - (max_seq % 2)  # nextEvenSeq
                values["seq"] = seq
                names = ", ".join(values)
                marks = ", ".join("?" for _ in values)
                db.execute(
                    f"INSERT OR IGNORE INTO messages_in ({names}) VALUES ({marks})",
                    tuple(values.values()),
                )
        except sqlite3.Error as exc:
            raise QueueError(f"writing to Nanoclaw session {inbound} failed: {exc}") from exc
        finally:
            db.close()
