"""The stuck protocol (seed 001 §7.5): a thread without progress for an hour escalates itself.

Progress comes from per-thread activity through `ActivityProvider`. `QueueActivity` reads it
from the TinyClaw queue files: the newest message given to a thread (incoming / processing) and
the newest reply from it (outgoing), by their `timestamp`; `ThreadsActivity` (the default) joins
that with the engine's threads: names, idle threads, and threads.json `lastActive` as a reply.
A thread is stuck when work was given to it (the newest incoming is newer than the newest
reply) and nothing came back for `[escalations] stuck_after` seconds. The detector then raises
an escalation (source `stuck`, dedupe key `stuck:thread:<id>`, so one per episode) and resolves
it when the thread replies again.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from clawtui.engine.api.escalations import NewEscalation, Severity, Source
from clawtui.engine.tasks import BackgroundTask, every
from clawtui.engine.threads.queue import IncomingMessage, OutgoingMessage, QueueError, TinyClawQueue
from clawtui.fsutil import read_text_capped

if TYPE_CHECKING:
    from clawtui.engine.context import Context
    from clawtui.engine.escalations.manager import Escalations
    from clawtui.engine.threads.manager import Threads

log = logging.getLogger(__name__)


@dataclass
class ThreadActivity:
    """What the stuck detector and the brief need to know about one thread."""

    thread_id: int
    agent: str
    last_in: float | None = None
    """Newest message given to the thread (epoch seconds)."""
    last_out: float | None = None
    """Newest reply from the thread."""
    doing: str = ""
    """The newest task text given to it (shortened)."""
    last_reply: str = ""

    @property
    def waiting_since(self) -> float | None:
        """When the thread got work it has not answered yet (None: nothing pending)."""
        if self.last_in is None:
            return None
        if self.last_out is not None and self.last_out >= self.last_in:
            return None
        return self.last_in


class ActivityProvider(Protocol):
    async def activity(self) -> list[ThreadActivity]: ...


def _thread_names(home: Path) -> dict[int, str]:
    """Names from TinyClaw's threads.json when it has them; lenient about its shape."""
    try:
        text, _ = read_text_capped(home / "threads.json", limit=4 << 20)
        data = json.loads(text)
    except (OSError, ValueError):
        return {}
    items = data.get("threads", data) if isinstance(data, dict) else data
    out: dict[int, str] = {}
    pairs = items.items() if isinstance(items, dict) else enumerate(items or [])
    for key, value in pairs:
        if not isinstance(value, dict):
            continue
        raw_id: Any = value.get("threadId", value.get("id", key))
        name = value.get("name") or value.get("agent")
        try:
            out[int(raw_id)] = str(name)[:128] if name else f"thread-{int(raw_id)}"
        except (TypeError, ValueError):
            continue
    return out


class QueueActivity:
    """Per-thread activity read from the TinyClaw queue files."""

    def __init__(self, queue: TinyClawQueue) -> None:
        self.queue = queue

    def scan(self) -> list[ThreadActivity]:
        names = _thread_names(self.queue.home)
        threads: dict[int, ThreadActivity] = {}

        def entry(tid: int) -> ThreadActivity:
            if tid not in threads:
                threads[tid] = ThreadActivity(tid, names.get(tid, f"thread-{tid}"))
            return threads[tid]

        for folder in ("incoming", "processing"):
            for path in self.queue.files(folder):
                try:
                    msg = self.queue.read(path, IncomingMessage)
                except QueueError:
                    continue
                act = entry(msg.threadId)
                ts = msg.timestamp / 1000
                if act.last_in is None or ts > act.last_in:
                    act.last_in, act.doing = ts, msg.message[:200]
        for path in self.queue.files("outgoing"):
            try:
                out = self.queue.read(path, OutgoingMessage)
            except QueueError:
                continue
            act = entry(out.threadId)
            ts = out.timestamp / 1000
            if act.last_out is None or ts > act.last_out:
                act.last_out, act.last_reply = ts, out.message[:200]
                if out.sender and act.agent.startswith("thread-"):
                    act.agent = out.sender[:128]
        return sorted(threads.values(), key=lambda a: a.thread_id)

    async def activity(self) -> list[ThreadActivity]:
        return await asyncio.to_thread(self.scan)


class ThreadsActivity:
    """Queue activity joined with the engine's threads (None: the queue alone).

    Every known thread is listed under its configured name (so the brief's HAPPENING shows idle
    threads too), and TinyClaw's threads.json `lastActive`, which its queue processor updates
    when the agent has finished a message, counts as a reply: TinyClaw deletes processed queue
    files, so the queue alone would lose that sign of progress.
    """

    def __init__(self, queue: TinyClawQueue, threads: Threads | None) -> None:
        self.threads = threads
        self.queue_activity = QueueActivity(queue)

    async def activity(self) -> list[ThreadActivity]:
        found = {a.thread_id: a for a in await self.queue_activity.activity()}
        threads = self.threads
        if threads is not None:
            for tid in threads.ids():
                info = threads.status(tid).thread
                act = found.setdefault(tid, ThreadActivity(tid, info.name))
                act.agent = info.name or act.agent
                if info.last_active is not None and (
                    act.last_out is None or info.last_active > act.last_out
                ):
                    act.last_out = info.last_active
        return sorted(found.values(), key=lambda a: a.thread_id)


class StuckDetector:
    """Raises an escalation for each thread without progress (an engine component)."""

    def __init__(
        self,
        ctx: Context,
        escalations: Escalations,
        *,
        queue: TinyClawQueue,
        threads: Threads | None = None,
        provider: ActivityProvider | None = None,
    ) -> None:
        self.ctx = ctx
        self.escalations = escalations
        self.provider: ActivityProvider = provider or ThreadsActivity(queue, threads)
        self._task = BackgroundTask("escalations:stuck")

    async def start(self) -> None:
        if self.ctx.settings.escalations.stuck_detector:
            cfg = self.ctx.settings.escalations
            self._task.start(
                every(lambda: cfg.stuck_check_interval, self.check_once, what="stuck detector pass")
            )

    async def stop(self) -> None:
        await self._task.stop()

    async def check_once(self, now: float | None = None) -> list[int]:
        """One pass; returns the ids of escalations raised (or still pending) for stuck threads."""
        now = time.time() if now is None else now
        limit = self.ctx.settings.escalations.stuck_after
        raised: list[int] = []
        for act in await self.provider.activity():
            key = f"stuck:thread:{act.thread_id}"
            since = act.waiting_since
            if since is None:
                await self.escalations.resolve_key(key, note="the thread made progress")
                continue
            idle = now - since
            if idle < limit:
                continue
            esc = await self.escalations.raise_(
                NewEscalation(
                    agent=act.agent,
                    thread_id=act.thread_id,
                    doing=act.doing or "(the newest task in its queue)",
                    tried=[f"no reply for {int(idle // 60)} min since the task arrived"],
                    need="a look at why the thread makes no progress",
                    proposed_fix="send the thread a nudge with the missing input, or reassign "
                    "the task",
                    severity=Severity.MEDIUM,
                    source=Source.STUCK,
                    dedupe_key=key,
                )
            )
            raised.append(esc.id)
        return raised
