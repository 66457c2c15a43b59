"""The heartbeat scheduler (replaces TinyClaw's heartbeat-cron.sh).

* every thread gets one beat per `interval`; with N threads, thread i's beats fall at
  `start + i * interval / N + k * interval`, so beats trickle instead of arriving in a burst;
* at most ONE beat runs at a time (a beat is the scheduler's own work: user messages never
  wait for it); beats that come due while one runs wait in a FIFO;
* a beat that waited longer than `stale_fraction * interval` (80 %) is skipped and counted;
* `next_beat(thread_id)` tells when a thread's next beat is due.

Time comes from an injected `Clock` (`now()` and `await sleep(seconds)`), so tests drive it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Protocol

log = logging.getLogger(__name__)


class Clock(Protocol):
    def now(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...


class WallClock:
    """The real clock (epoch seconds)."""

    def now(self) -> float:
        return time.time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


@dataclass
class Beat:
    thread_id: int
    due_at: float


@dataclass
class BeatStats:
    run: int = 0
    skipped_stale: int = 0
    failed: int = 0
    last_started: float | None = None
    last_finished: float | None = None
    waits: list[float] = field(default_factory=list)


BeatFn = Callable[[int, float], Awaitable[None]]
SkipFn = Callable[[int, float, float], None]


class Scheduler:
    """Staggered beats for a set of threads, one in flight, stale ones skipped."""

    def __init__(
        self,
        clock: Clock,
        interval: float,
        run_beat: BeatFn,
        *,
        stale_fraction: float = 0.8,
        on_skip: SkipFn | None = None,
    ) -> None:
        self.clock = clock
        self.interval = float(interval)
        self.stale_after = stale_fraction * self.interval
        self._run_beat = run_beat
        self._on_skip = on_skip
        self._next: dict[int, float] = {}
        self._pending: deque[Beat] = deque()
        self._wake = asyncio.Event()
        self._work = asyncio.Event()
        self.in_flight: int | None = None
        self.max_in_flight_seen = 0
        self._running = 0
        self.stats: dict[int, BeatStats] = {}
        self._tasks: list[asyncio.Task[None]] = []

    # -- thread set ----------------------------------------------------------------------------
    def set_threads(self, thread_ids: Iterable[int], *, start: float | None = None) -> None:
        """(Re)spread the threads across the interval; known threads keep their slot."""
        ids = sorted(set(thread_ids))
        base = self.clock.now() if start is None else start
        for tid in list(self._next):
            if tid not in ids:
                del self._next[tid]
        new = [tid for tid in ids if tid not in self._next]
        if new:
            step = self.interval / max(1, len(ids))
            for i, tid in enumerate(ids):
                if tid in self._next:
                    continue
                self._next[tid] = base + ((i + 1) * step)
                self.stats.setdefault(tid, BeatStats())
        self._wake.set()

    def next_beat(self, thread_id: int) -> float | None:
        return self._next.get(thread_id)

    def pending(self) -> list[Beat]:
        return list(self._pending)

    # -- running -------------------------------------------------------------------------------
    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._produce(), name="heartbeats:schedule"),
            asyncio.create_task(self._consume(), name="heartbeats:run"),
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks = []

    def enqueue(self, thread_id: int, due_at: float | None = None) -> None:
        """Ask for a beat of one thread now (e.g. `beat now` from the TUI)."""
        self._pending.append(Beat(thread_id, self.clock.now() if due_at is None else due_at))
        self._work.set()

    async def _produce(self) -> None:
        while True:
            if not self._next:
                self._wake.clear()
                await self._wake.wait()
                continue
            tid, due = min(self._next.items(), key=lambda kv: (kv[1], kv[0]))
            now = self.clock.now()
            if due > now:
                self._wake.clear()
                sleeper = asyncio.ensure_future(self.clock.sleep(due - now))
                waker = asyncio.ensure_future(self._wake.wait())
                try:
                    await asyncio.wait({sleeper, waker}, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    for fut in (sleeper, waker):
                        fut.cancel()
                continue
            if tid in self._next:
                self._next[tid] = due + self.interval
                self._pending.append(Beat(tid, due))
                self._work.set()

    async def _consume(self) -> None:
        while True:
            if not self._pending:
                self._work.clear()
                await self._work.wait()
                continue
            beat = self._pending.popleft()
            stats = self.stats.setdefault(beat.thread_id, BeatStats())
            waited = self.clock.now() - beat.due_at
            if waited > self.stale_after:
                stats.skipped_stale += 1
                if self._on_skip is not None:
                    self._on_skip(beat.thread_id, beat.due_at, waited)
                continue
            stats.waits.append(waited)
            del stats.waits[:-50]
            self.in_flight = beat.thread_id
            self._running += 1
            self.max_in_flight_seen = max(self.max_in_flight_seen, self._running)
            stats.last_started = self.clock.now()
            try:
                await self._run_beat(beat.thread_id, beat.due_at)
                stats.run += 1
            except asyncio.CancelledError:
                raise
            except Exception:
                stats.failed += 1
                log.exception("heartbeat of thread %s failed", beat.thread_id)
            finally:
                self._running -= 1
                self.in_flight = None
                stats.last_finished = self.clock.now()
