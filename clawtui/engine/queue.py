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
import re
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from clawtui.fsutil import atomic_write, is_temp_file, read_bytes_capped

QUEUE_DIRS: Final = ("incoming", "outgoing", "commands", "processing", "dead-letter")
MESSAGE_ID_RE: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
MAX_MESSAGE_BYTES: Final = 1 << 20
"""Largest message file the engine writes or reads (1 MiB)."""

MessageSource = Literal["user", "cross-thread", "heartbeat", "cli", "system"]


class QueueError(Exception):
    """A message could not be written or read; the message says which file and why."""


def new_message_id(prefix: str = "clawtui") -> str:
    """A unique, file-name-safe message id: `<prefix>_<epoch ms>_<random>`."""
    safe = re.sub(r"[^A-Za-z0-9_-]", "-", prefix)[:32] or "clawtui"
    return f"{safe}_{int(time.time() * 1000)}_{secrets.token_hex(4)}"


class _Message(BaseModel):
    # TinyClaw ignores fields it does not know; clawtui adds a few (e.g. `relayedFrom`).
    model_config = ConfigDict(extra="allow", populate_by_name=True)

    channel: str = Field(min_length=1, max_length=64)
    threadId: int = Field(ge=0)
    sender: str = Field(max_length=256)
    message: str
    timestamp: int = Field(default_factory=lambda: int(time.time() * 1000), ge=0)
    messageId: str = Field(default_factory=new_message_id, pattern=MESSAGE_ID_RE.pattern)


class IncomingMessage(_Message):
    """A message for an agent (TinyClaw `IncomingMessage`)."""

    source: MessageSource | None = None
    sourceThreadId: int | None = None
    senderId: str | None = None
    isReply: bool | None = None
    replyToText: str | None = None
    replyToModel: str | None = None
    topicName: str | None = None


class OutgoingMessage(_Message):
    """A reply from an agent (TinyClaw `OutgoingMessage`)."""

    originalMessage: str = ""
    model: str = ""
    targetThreadId: int | None = None


def message_json(msg: _Message) -> bytes:
    """The message as TinyClaw writes it (unset optional fields left out)."""
    data = msg.model_dump(mode="json", exclude_none=True)
    return json.dumps(data, ensure_ascii=False, indent=2).encode("utf-8")


class TinyClawQueue:
    """One TinyClaw home's queue folders."""

    def __init__(self, home: Path) -> None:
        self.home = Path(home)
        self.queue = self.home / "queue"

    def folder(self, name: str) -> Path:
        if name not in QUEUE_DIRS:
            raise QueueError(f"unknown queue folder {name!r} (one of {', '.join(QUEUE_DIRS)})")
        return self.queue / name

    def ensure(self) -> None:
        """Create the queue folders (and the home) when missing."""
        for name in QUEUE_DIRS:
            self.folder(name).mkdir(parents=True, exist_ok=True)

    def write(self, folder: str, msg: _Message) -> Path:
        """Write `msg` atomically as `<folder>/<messageId>.json`; refuses to overwrite."""
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
        if message_id is not None:
            fields["messageId"] = message_id
        try:
            msg = IncomingMessage.model_validate(fields)
        except ValidationError as exc:
            raise QueueError(f"not a valid queue message: {exc.errors()[0]['msg']}") from exc
        self.write("incoming", msg)
        return msg

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
