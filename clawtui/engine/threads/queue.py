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
import logging
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Final, TypeVar

from pydantic import ValidationError

from clawtui.engine.api.threads import IncomingMessage as IncomingMessage
from clawtui.engine.api.threads import MessageSource
from clawtui.engine.api.threads import OutgoingMessage as OutgoingMessage
from clawtui.engine.api.threads import QueueError as QueueError
from clawtui.engine.api.threads import QueueMessage as _Message
from clawtui.engine.threads.nanoclaw import NanoclawSink as NanoclawSink
from clawtui.fsutil import atomic_write, is_temp_file, read_bytes_capped

log = logging.getLogger(__name__)

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

    def __init__(
        self, home: Path, *, mode: int = 0o640, owner: tuple[int, int] | None = None
    ) -> None:
        self.home = Path(home)
        self.mode = mode
        """Mode of the files written (`[threads] queue_file_mode`)."""
        self.owner = owner
        """(uid, gid) they are given before the rename (`[threads] queue_file_owner`)."""
        self.queue = self.home / "queue"
        self.sinks: list[Callable[[IncomingMessage], None]] = []
        """Called with every delivered message after its file is written (e.g. Nanoclaw)."""
        self.thread_names: dict[str, int] = {}
        """Thread name -> id (threads.json + config), kept by the threads capability: how a
        TinyClaw `send_message` file without threadId is attributed to its sender."""
        self.sink_errors: list[str] = []
        self.sink_failures: dict[int, str] = {}
        """Per thread: the last error of a second sink, until a later write to it succeeds."""
        self.on_sink_error: list[Callable[[int, str], None]] = []
        """Called (from whichever thread wrote the message) with (thread id, error) when a
        second sink fails: the escalations and the Threads panel hear of it."""
        self._index: dict[Path, tuple[int, int, int | None, int]] = {}

    def outgoing_fields(self, obj: dict[str, Any]) -> dict[str, Any]:
        """An outgoing file as clawtui reads it: TinyClaw's `send_message` tool (lucianHymer/
        tinyclaw b64de8c src/mcp-tools.ts) writes `{channel, targetThreadId, sender, message,
        originalMessage, timestamp, messageId: "cross_<ms>_<rand>_tg", model}` with no
        `threadId`; `sender` is the sending thread's name from threads.json (or "Thread N").
        The sending thread becomes `threadId` (by that name, else "Thread N"); when it cannot
        be told, the thread it is posted to (`targetThreadId`). Other files are unchanged."""
        if "threadId" in obj:
            return obj
        target = obj.get("targetThreadId")
        if not isinstance(target, int) or isinstance(target, bool):
            return obj
        sender = obj.get("sender")
        source: int | None = None
        if isinstance(sender, str):
            source = self.thread_names.get(sender)
            match = re.fullmatch(r"Thread (\d{1,12})", sender)
            if source is None and match:
                source = int(match.group(1))
        return {**obj, "threadId": source if source is not None else target}

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
            atomic_write(target, payload, mode=self.mode, owner=self.owner)
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
        failed = False
        for sink in list(self.sinks):
            try:
                sink(msg)
            except Exception as exc:  # the file is written; a second sink must not undo that
                failed = True
                self.sink_errors.append(f"{msg.messageId}: {exc}")
                del self.sink_errors[:-20]
                self.sink_failures[msg.threadId] = str(exc)[:500]
                for listener in list(self.on_sink_error):
                    try:
                        listener(msg.threadId, str(exc))
                    except Exception:  # a listener must not stop the delivery
                        log.exception("sink-error listener failed")
        if self.sinks and not failed:
            self.sink_failures.pop(msg.threadId, None)
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
                    if folder == "outgoing":
                        obj = self.outgoing_fields(obj)
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
            obj = json.loads(data.decode("utf-8", errors="replace"))
            if model is OutgoingMessage and isinstance(obj, dict):
                obj = self.outgoing_fields(obj)
            return model.model_validate(obj)
        except (OSError, ValueError) as exc:
            raise QueueError(f"{path}: not a readable queue message ({exc})") from exc
