"""The TinyClaw runner: the heartbeat goes to the thread's own TinyClaw agent session.

The tier-aware prompt is put into the thread's TinyClaw queue as an incoming message, the way
TinyClaw's own `heartbeat-cron.sh` does it (lucianHymer/tinyclaw @ b64de8c):

    {"channel": "heartbeat", "source": "heartbeat", "threadId": N, "sender": "system",
     "senderId": "heartbeat", "message": PROMPT, "isReply": false, "timestamp": MS,
     "messageId": "heartbeat_<N>_<epoch s>_<random>"}

TinyClaw's queue processor (`src/queue-processor.ts`) moves the file to `processing/`, runs the
heartbeat and then either writes the reply to `outgoing/<messageId>.json` (channel "heartbeat")
or, when the reply contains `[NO_UPDATES]`, deletes the message without a reply. A message it
cannot process goes back to `incoming/` under a retry name and finally to `dead-letter/`
(`<ms>_<file name>`). So the runner waits, up to `timeout`, until:

* `outgoing/<messageId>.json` exists: that is the reply (HEARTBEAT_OK / [NO_UPDATES]: silent,
  and the file is removed like heartbeat-cron.sh's clean-up; anything else stays in `outgoing`
  for TinyClaw's channels and is routed as findings);
* no file with the id is left in incoming / processing and there is no reply: suppressed, OK;
* a file with the id is in dead-letter: failed;
* the time is up: failed; a message still waiting in `incoming/` is taken back so that beats
  do not pile up behind a stopped agent.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from clawtui.engine.api.threads import IncomingMessage, OutgoingMessage, QueueError, QueueMessage
from clawtui.engine.heartbeats.md import HeartbeatDoc, Tier, format_timestamp
from clawtui.engine.heartbeats.runner import BeatOutcome, BeatTarget, build_prompt, is_ok_reply

NO_UPDATES = "[NO_UPDATES]"


class HeartbeatQueue(Protocol):
    """What the runner needs of `threads.queue.TinyClawQueue` (passed in by the threads)."""

    def deliver(
        self,
        thread_id: int,
        text: str,
        *,
        channel: str = ...,
        source: Any = ...,
        sender: str = ...,
        sender_id: str | None = ...,
        source_thread_id: int | None = ...,
        message_id: str | None = ...,
        **extra: Any,
    ) -> IncomingMessage: ...

    def folder(self, name: str) -> Path: ...

    def read(self, path: Path, model: type[QueueMessage] = ...) -> QueueMessage: ...


@dataclass
class TinyClawOutcome(BeatOutcome):
    message_id: str = ""
    in_outgoing: bool = False
    """The reply is already in queue/outgoing (TinyClaw wrote it): do not write it again."""


def heartbeat_message_id(thread_id: int, now: float) -> str:
    """TinyClaw's heartbeat id form (`heartbeat_<thread>_<epoch s>_<n>`): its queue processor
    sorts files starting with `heartbeat_` behind user messages."""
    return f"heartbeat_{thread_id}_{int(now)}_{secrets.token_hex(4)}"


def build_tinyclaw_prompt(
    target: BeatTarget, tiers: list[Tier], doc: HeartbeatDoc | None, now: float, timezone: str
) -> str:
    """The tier-aware prompt for a TinyClaw agent session: the seed's prompt, the stamps the
    engine read (so the agent need not work out what is due), and TinyClaw's reply rule."""
    lines = [build_prompt(target, tiers, now, timezone)]
    if doc is not None:
        stamps = ", ".join(
            f"{tier} {format_timestamp(when) if when else '(never)'}"
            for tier, when in doc.timestamps.items()
        )
        lines.append(f"HEARTBEAT.md timestamps now: {stamps}.")
        if doc.urgent_flags:
            lines.append("Urgent flags: " + "; ".join(doc.urgent_flags[:10]))
        open_tasks = [t.text for t in doc.tasks if not t.done]
        if open_tasks:
            lines.append("Open tasks: " + "; ".join(open_tasks[:10]))
    lines.append(
        "The engine updates the timestamps of the checks above after your reply. "
        f"If nothing needs human attention, reply with exactly {NO_UPDATES}."
    )
    return "\n".join(lines)


class TinyClawRunner:
    """Heartbeats through the thread's TinyClaw queue (runner = "tinyclaw")."""

    def __init__(
        self,
        queue: HeartbeatQueue,
        *,
        timezone: str = "UTC",
        timeout: float = 600.0,
        poll: float = 0.2,
    ) -> None:
        self.queue = queue
        self.timezone = timezone
        self.timeout = timeout
        self.poll = poll

    async def run(
        self, target: BeatTarget, tiers: list[Tier], doc: HeartbeatDoc | None, now: float
    ) -> BeatOutcome:
        prompt = build_tinyclaw_prompt(target, tiers, doc, now, self.timezone)
        mid = heartbeat_message_id(target.thread_id, now)
        try:
            await asyncio.to_thread(
                self.queue.deliver,
                target.thread_id,
                prompt,
                channel="heartbeat",
                source="heartbeat",
                sender="system",
                sender_id="heartbeat",
                message_id=mid,
                isReply=False,
            )
        except (QueueError, OSError) as exc:
            return _failed(mid, f"heartbeat not queued: {exc}")
        deadline = time.monotonic() + self.timeout
        while True:
            state = await asyncio.to_thread(self._state, mid)
            if state == "replied":
                return await asyncio.to_thread(self._reply, mid)
            if state == "dead":
                return _failed(mid, "TinyClaw gave up on the heartbeat (dead-letter)")
            if state == "gone":
                return TinyClawOutcome(
                    reply=NO_UPDATES, findings=[], ok=True, message_id=mid
                )  # suppressed by TinyClaw: [NO_UPDATES]
            if time.monotonic() >= deadline:
                taken_back = await asyncio.to_thread(self._take_back, mid)
                note = " (taken back from incoming)" if taken_back else ""
                return _failed(
                    mid, f"no heartbeat reply from TinyClaw within {self.timeout:.0f} s{note}"
                )
            await asyncio.sleep(self.poll)

    def _names(self, folder: str) -> list[str]:
        try:
            return [p.name for p in self.queue.folder(folder).iterdir()]
        except OSError:
            return []

    def _state(self, mid: str) -> str:
        out = self.queue.folder("outgoing") / f"{mid}.json"
        if out.is_file():
            return "replied"
        if any(mid in name for name in self._names("dead-letter")):
            return "dead"
        if any(mid in name for f in ("incoming", "processing") for name in self._names(f)):
            return "waiting"
        # TinyClaw writes the reply before it removes the processing file: look once more
        return "replied" if out.is_file() else "gone"

    def _reply(self, mid: str) -> BeatOutcome:
        path = self.queue.folder("outgoing") / f"{mid}.json"
        try:
            msg = self.queue.read(path, OutgoingMessage)
        except QueueError as exc:
            return _failed(mid, f"unreadable heartbeat reply: {exc}")
        reply = msg.message.strip() or NO_UPDATES
        if is_ok_reply(reply):
            with contextlib.suppress(OSError):
                path.unlink()  # like heartbeat-cron.sh: silent replies are cleaned up
            return TinyClawOutcome(reply=reply, findings=[], ok=True, message_id=mid)
        return TinyClawOutcome(
            reply=reply, findings=[reply[:2000]], ok=False, message_id=mid, in_outgoing=True
        )

    def _take_back(self, mid: str) -> bool:
        path = self.queue.folder("incoming") / f"{mid}.json"
        try:
            path.unlink()
        except OSError:
            return False
        return True


def _failed(mid: str, text: str) -> TinyClawOutcome:
    return TinyClawOutcome(reply=text, findings=[text], ok=False, message_id=mid)
