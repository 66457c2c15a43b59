"""The agents' file queue, in TinyClaw's layout and message format.

A TinyClaw home holds `threads.json` and `queue/{incoming,outgoing,commands,processing,
dead-letter}`. Producers drop one JSON file per message into `queue/incoming`, named by message
id; TinyClaw's queue processor picks up every `*.json` there, so files are written atomically
(temp file with `TEMP_MARKER` in its name, fsync, rename) and a half-written message is never
seen. Field names and types follow TinyClaw's `src/types.ts` (`IncomingMessage`,
`OutgoingMessage`): `threadId` is a number, `timestamp` is epoch milliseconds.

Everything that delivers text to an agent (the TUI, `clawtui thread send`, escalation
decisions, the CI webhook, the inter-agent relay) goes through `TinyClawQueue.deliver`.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, TypeVar

from pydantic import ValidationError

from clawtui.engine.api.threads import IncomingMessage as IncomingMessage
from clawtui.engine.api.threads import MessageSource
from clawtui.engine.api.threads import OutgoingMessage as OutgoingMessage
from clawtui.engine.api.threads import QueueError as QueueError
from clawtui.engine.api.threads import QueueMessage as _Message
from clawtui.fsutil import atomic_write, is_temp_file, read_bytes_capped

QUEUE_DIRS: Final = ("incoming", "outgoing", "commands", "processing", "dead-letter")
MAX_MESSAGE_BYTES: Final = 1 << 20
"""Largest message file the engine writes or reads (1 MiB)."""


def message_json(msg: _Message) -> bytes:
    """The message as TinyClaw writes it (unset optional fields left out)."""
    data = msg.model_dump(mode="json", exclude_none=True)
    return json.dumps(data, ensure_ascii=False, indent=2).encode("utf-8")


_M = TypeVar("_M", bound=_Message)


def _message(model: type[_M], fields: dict[str, Any], message_id: str | None) -> _M:
    """`fields` as a `model` (with `message_id` when given); QueueError says what is wrong."""
    if message_id is not None:
        fields["messageId"] = message_id
    try:
        return model.model_validate(fields)
    except ValidationError as exc:
        raise QueueError(f"not a valid queue message: {exc.errors()[0]['msg']}") from exc


def incoming_message(
    thread_id: int,
    text: str,
    *,
    channel: str = "clawtui",
    source: MessageSource = "system",
    sender: str = "clawtui",
    sender_id: str | None = None,
    source_thread_id: int | None = None,
    message_id: str | None = None,
    **extra: Any,
) -> IncomingMessage:
    """The message `TinyClawQueue.deliver` writes for these arguments (nothing is written)."""
    fields: dict[str, Any] = {
        "channel": channel,
        "source": source,
        "threadId": thread_id,
        "sender": sender,
        "senderId": sender_id,
        "sourceThreadId": source_thread_id,
        "message": text,
        **extra,
    }
    return _message(IncomingMessage, fields, message_id)


class TinyClawQueue:
    """One TinyClaw home's queue folders."""

    def __init__(self, home: Path) -> None:
        self.home = Path(home)
        self.queue = self.home / "queue"
        self.sinks: list[Callable[[IncomingMessage], None]] = []
        """Called with every delivered message after its file is written (e.g. Nanoclaw)."""
        self.sink_errors: list[str] = []
        self._index: dict[Path, tuple[int, int, int | None, int]] = {}

    def folder(self, name: str) -> Path:
        if name not in QUEUE_DIRS:
            raise QueueError(f"unknown queue folder {name!r} (one of {', '.join(QUEUE_DIRS)})")
        return self.queue / name

    def ensure(self) -> None:
        """Create the queue folders (and the home) when missing."""
        for name in QUEUE_DIRS:
            self.folder(name).mkdir(parents=True, exist_ok=True)

    def write(self, folder: str, msg: _Message, payload: bytes | None = None) -> Path:
        """Write `msg` atomically as `<folder>/<messageId>.json`; refuses to overwrite.

        `payload`, when given, is written verbatim: `message_json(msg)` as stored earlier."""
        if payload is None:
            payload = message_json(msg)
        if len(payload) > MAX_MESSAGE_BYTES:
            raise QueueError(
                f"message {msg.messageId} is {len(payload)} bytes; the queue takes at most "
                f"{MAX_MESSAGE_BYTES}"
            )
        target = self.folder(folder) / f"{msg.messageId}.json"
        if target.exists():
            raise QueueError(f"{target} already exists: message ids must be unique")
        try:
            atomic_write(target, payload, mode=0o640)
        except OSError as exc:
            raise QueueError(
                f"cannot write {target}: {exc.strerror or exc} (check that {self.queue} is "
                "writable, or set [threads] home in config.toml)"
            ) from exc
        return target

    def deliver(
        self,
        thread_id: int,
        text: str,
        *,
        channel: str = "clawtui",
        source: MessageSource = "system",
        sender: str = "clawtui",
        sender_id: str | None = None,
        source_thread_id: int | None = None,
        message_id: str | None = None,
        **extra: Any,
    ) -> IncomingMessage:
        """Put `text` into `thread_id`'s incoming queue; returns the message written."""
        msg = incoming_message(
            thread_id,
            text,
            channel=channel,
            source=source,
            sender=sender,
            sender_id=sender_id,
            source_thread_id=source_thread_id,
            message_id=message_id,
            **extra,
        )
        return self._put(msg, None)

    def deliver_stored(self, payload: bytes) -> IncomingMessage:
        """Put a message built and stored earlier (`message_json` of an `IncomingMessage`)
        into its thread's incoming queue, byte for byte as stored."""
        try:
            msg = IncomingMessage.model_validate_json(payload)
        except ValidationError as exc:
            raise QueueError(f"not a valid queue message: {exc.errors()[0]['msg']}") from exc
        return self._put(msg, payload)

    def _put(self, msg: IncomingMessage, payload: bytes | None) -> IncomingMessage:
        self.write("incoming", msg, payload)
        for sink in list(self.sinks):
            try:
                sink(msg)
            except Exception as exc:  # the file is written; a second sink must not undo that
                self.sink_errors.append(f"{msg.messageId}: {exc}")
                del self.sink_errors[:-20]
        return msg

    def reply(
        self,
        thread_id: int,
        text: str,
        *,
        original: str = "",
        model: str = "clawtui",
        channel: str = "heartbeat",
        sender: str = "clawtui",
        target_thread_id: int | None = None,
        message_id: str | None = None,
    ) -> OutgoingMessage:
        """Write an agent-side reply into `queue/outgoing` (TinyClaw `OutgoingMessage`)."""
        fields: dict[str, Any] = {
            "channel": channel,
            "threadId": thread_id,
            "sender": sender,
            "message": text,
            "originalMessage": original,
            "model": model,
            "targetThreadId": target_thread_id,
        }
        msg = _message(OutgoingMessage, fields, message_id)
        self.write("outgoing", msg)
        return msg

    def _scan_meta(self, folder: str) -> list[tuple[Path, int | None, int]]:
        """(path, threadId, timestamp ms) of each message in `folder`, cached by mtime/size."""
        out: list[tuple[Path, int | None, int]] = []
        seen: set[Path] = set()
        for path in self.files(folder):
            try:
                st = path.stat()
            except OSError:
                continue
            seen.add(path)
            cached = self._index.get(path)
            if cached is not None and cached[0] == st.st_mtime_ns and cached[1] == st.st_size:
                out.append((path, cached[2], cached[3]))
                continue
            tid: int | None = None
            ts = int(st.st_mtime * 1000)
            try:
                data, _ = read_bytes_capped(path, limit=MAX_MESSAGE_BYTES)
                obj = json.loads(data.decode("utf-8", errors="replace"))
                if isinstance(obj, dict):
                    raw_tid = obj.get("threadId")
                    tid = (
                        raw_tid
                        if isinstance(raw_tid, int) and not isinstance(raw_tid, bool)
                        else None
                    )
                    raw_ts = obj.get("timestamp")
                    if isinstance(raw_ts, int) and not isinstance(raw_ts, bool):
                        ts = raw_ts
            except (OSError, ValueError):
                pass
            self._index[path] = (st.st_mtime_ns, st.st_size, tid, ts)
            out.append((path, tid, ts))
        for path in [p for p in self._index if p.parent == self.folder(folder) and p not in seen]:
            del self._index[path]
        return out

    def depths(self) -> dict[int, tuple[int, int]]:
        """Per thread id: (messages waiting in incoming, replies waiting in outgoing)."""
        counts: dict[int, list[int]] = {}
        for col, folder in enumerate(("incoming", "outgoing")):
            for _, tid, _ in self._scan_meta(folder):
                if tid is not None:
                    counts.setdefault(tid, [0, 0])[col] += 1
        return {tid: (c[0], c[1]) for tid, c in counts.items()}

    def last_message_ms(self) -> dict[int, int]:
        """Per thread id: the newest message timestamp (ms) in incoming or outgoing."""
        newest: dict[int, int] = {}
        for folder in ("incoming", "outgoing"):
            for _, tid, ts in self._scan_meta(folder):
                if tid is not None and ts > newest.get(tid, -1):
                    newest[tid] = ts
        return newest

    def outgoing(self, thread_id: int, limit: int = 20) -> list[OutgoingMessage]:
        """Replies of `thread_id` still in queue/outgoing, newest first (unreadable skipped)."""
        rows = [(ts, p) for p, tid, ts in self._scan_meta("outgoing") if tid == thread_id]
        out: list[OutgoingMessage] = []
        for _, path in sorted(rows, key=lambda r: r[0], reverse=True)[:limit]:
            try:
                msg = self.read(path, OutgoingMessage)
            except QueueError:
                continue
            if isinstance(msg, OutgoingMessage):
                out.append(msg)
        return out

    def files(self, folder: str) -> Iterator[Path]:
        """The message files in `folder` (never the engine's temp files)."""
        try:
            entries = list(os.scandir(self.folder(folder)))
        except FileNotFoundError:
            return
        for entry in entries:
            if entry.name.endswith(".json") and not is_temp_file(entry.name) and entry.is_file():
                yield Path(entry.path)

    def read(self, path: Path, model: type[_Message] = IncomingMessage) -> _Message:
        """Read one message file; QueueError names the file when it is not a message."""
        try:
            data, truncated = read_bytes_capped(path, limit=MAX_MESSAGE_BYTES)
            if truncated:
                raise ValueError(f"larger than {MAX_MESSAGE_BYTES} bytes")
            return model.model_validate(json.loads(data.decode("utf-8", errors="replace")))
        except (OSError, ValueError) as exc:
            raise QueueError(f"{path}: not a readable queue message ({exc})") from exc


class NanoclawSink:
    """Second sink: each delivery to a mapped thread becomes a row of Nanoclaw's `messages`.

    Nanoclaw (qwibitai/nanoclaw `src/db.ts`) keeps messages in `store/messages.db`:
    `messages(id, chat_jid, sender, sender_name, content, timestamp TEXT (ISO), is_from_me,
    is_bot_message)`, primary key (id, chat_jid), foreign key chat_jid -> chats(jid). Its polling
    loop picks up new rows with is_bot_message = 0 and wakes the group's container.
    """

    def __init__(self, db_path: Path, jids: dict[int, str]) -> None:
        self.db_path = Path(db_path)
        self.jids = dict(jids)

    def __call__(self, msg: IncomingMessage) -> None:
        jid = self.jids.get(msg.threadId)
        if jid is not None:
            self.insert(jid, msg)

    def insert(self, chat_jid: str, msg: IncomingMessage) -> None:
        if not self.db_path.is_file():
            raise QueueError(
                f"Nanoclaw store {self.db_path} does not exist (set [threads] nanoclaw_db to "
                "Nanoclaw's store/messages.db)"
            )
        iso = (
            datetime.fromtimestamp(msg.timestamp / 1000, UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z")
        )
        try:
            con = sqlite3.connect(self.db_path, timeout=5.0)
        except sqlite3.Error as exc:
            raise QueueError(f"cannot open Nanoclaw store {self.db_path}: {exc}") from exc
        try:
            with con:
                con.execute(
                    "INSERT OR IGNORE INTO chats (jid, name, last_message_time) VALUES (?, ?, ?)",
                    (chat_jid, chat_jid, iso),
                )
                con.execute(
                    "INSERT OR REPLACE INTO messages (id, chat_jid, sender, sender_name, content,"
                    " timestamp, is_from_me, is_bot_message) VALUES (?, ?, ?, ?, ?, ?, 0, 0)",
                    (
                        msg.messageId,
                        chat_jid,
                        msg.senderId or msg.sender,
                        msg.sender,
                        msg.message,
                        iso,
                    ),
                )
                con.execute(
                    "UPDATE chats SET last_message_time = MAX(COALESCE(last_message_time, ''), ?)"
                    " WHERE jid = ?",
                    (iso, chat_jid),
                )
        except sqlite3.Error as exc:
            raise QueueError(
                f"{self.db_path} is not a Nanoclaw store with a messages table ({exc})"
            ) from exc
        finally:
            con.close()
