"""The heartbeat scheduler with an injected clock: stagger, one in flight, stale skip."""

from __future__ import annotations

import asyncio
import heapq
import itertools

from clawtui.engine.heartbeats.scheduler import Scheduler

INTERVAL = 480.0


class FakeClock:
    """Time moves only when the test says so; sleepers wake in due order."""

    def __init__(self, start: float = 1_000_000.0) -> None:
        self.t = start
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    def now(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self.t + max(0.0, seconds), next(self._seq), fut))
        await fut

    async def advance(self, seconds: float) -> None:
        end = self.t + seconds
        await _settle()
        while self._sleepers and self._sleepers[0][0] <= end:
            due, _, fut = heapq.heappop(self._sleepers)
            self.t = max(self.t, due)
            if not fut.done():
                fut.set_result(None)
            await _settle()
        self.t = end
        await _settle()


async def _settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


async def test_beats_are_staggered_across_the_interval() -> None:
    clock = FakeClock()
    started: list[tuple[int, float]] = []

    async def run(tid: int, due: float) -> None:
        started.append((tid, clock.now()))

    sched = Scheduler(clock, INTERVAL, run)
    t0 = clock.now()
    sched.set_threads([1, 2, 3, 4])
    assert [sched.next_beat(t) for t in (1, 2, 3, 4)] == [t0 + 120, t0 + 240, t0 + 360, t0 + 480]
    sched.start()
    try:
        await clock.advance(INTERVAL * 2)
    finally:
        await sched.stop()
    times = [t - t0 for _, t in started]
    assert times == [120, 240, 360, 480, 600, 720, 840, 960]
    assert [tid for tid, _ in started] == [1, 2, 3, 4, 1, 2, 3, 4]
    assert sched.next_beat(1) == t0 + 120 + 2 * INTERVAL


async def test_one_heartbeat_in_flight_and_stale_beats_skipped() -> None:
    clock = FakeClock()
    release = asyncio.Event()
    running = 0
    peak = 0
    ran: list[int] = []
    skipped: list[tuple[int, float]] = []

    async def run(tid: int, due: float) -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        if tid == 1 and not release.is_set():
            await release.wait()  # the first beat hangs (a slow runner)
        ran.append(tid)
        running -= 1

    sched = Scheduler(clock, INTERVAL, run, on_skip=lambda t, d, w: skipped.append((t, w)))
    sched.set_threads([1, 2, 3])
    sched.start()
    try:
        await clock.advance(160)  # thread 1 starts and hangs
        assert sched.in_flight == 1
        await clock.advance(400)  # beats of 2 and 3 come due and wait
        assert [b.thread_id for b in sched.pending()] == [2, 3]
        assert ran == [] and peak == 1
        release.set()
        await _settle()
        # 2 (due 320) waited 240 s and 3 (due 480) 80 s, both under 384 s: they run
        assert ran == [1, 2, 3]
    finally:
        await sched.stop()
    assert peak == 1
    assert sched.max_in_flight_seen == 1
    assert skipped == []


async def test_a_beat_waiting_past_80_percent_is_skipped_and_counted() -> None:
    clock = FakeClock()
    release = asyncio.Event()
    ran: list[int] = []
    skipped: list[tuple[int, float]] = []

    async def run(tid: int, due: float) -> None:
        if tid == 1:
            await release.wait()
        ran.append(tid)

    sched = Scheduler(clock, INTERVAL, run, on_skip=lambda t, d, w: skipped.append((t, w)))
    sched.set_threads([1, 2])
    sched.start()
    try:
        await clock.advance(240)  # thread 1 (due 240) starts and hangs
        await clock.advance(240)  # thread 2 (due 480) waits
        await clock.advance(390)  # t = 870: thread 2 has waited 390 s > 384 s
        release.set()
        await _settle()
    finally:
        await sched.stop()
    assert (2, 390.0) in skipped
    assert sched.stats[2].skipped_stale == 1
    assert 2 not in ran
    assert sched.stats[1].run >= 1


async def test_threads_added_later_get_a_slot_and_removed_ones_stop() -> None:
    clock = FakeClock()
    seen: list[int] = []

    async def run(tid: int, due: float) -> None:
        seen.append(tid)

    sched = Scheduler(clock, INTERVAL, run)
    sched.set_threads([1])
    sched.start()
    try:
        await clock.advance(10)
        sched.set_threads([1, 2])
        assert sched.next_beat(2) is not None
        sched.set_threads([2])
        assert sched.next_beat(1) is None
        await clock.advance(INTERVAL * 2)
    finally:
        await sched.stop()
    assert set(seen) == {2}
