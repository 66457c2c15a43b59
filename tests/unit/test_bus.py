"""The event bus: ordering, coalescing of stats, overflow into one RESYNC, filtering, closing."""

from __future__ import annotations

import asyncio

from clawtui.engine.api.models import EventKind
from clawtui.engine.bus import EventBus


async def test_order_and_coalescing() -> None:
    bus = EventBus()
    sub = bus.subscribe()
    bus.publish(EventKind.LOG, message="a")
    bus.publish(EventKind.STATS, host="h1", stats={"n": 1})
    bus.publish(EventKind.LOG, message="b")
    bus.publish(EventKind.STATS, host="h1", stats={"n": 2})
    bus.publish(EventKind.STATS, host="h2", stats={"n": 9})
    bus.publish(EventKind.STATS, host="h1", stats={"n": 3})
    got = [(e.kind, e.host, e.data.get("message") or e.data["stats"]["n"]) for e in _drain(sub)]
    assert got == [
        (EventKind.LOG, None, "a"),
        (EventKind.LOG, None, "b"),
        (EventKind.STATS, "h2", 9),
        (EventKind.STATS, "h1", 3),  # only the latest of h1, after everything before it
    ]
    assert sub.dropped == 2


async def test_overflow_becomes_one_resync() -> None:
    bus = EventBus()
    sub = bus.subscribe(max_backlog=10)
    for i in range(25):
        bus.publish(EventKind.LOG, message=str(i))
    events = _drain(sub)
    assert events[0].kind is EventKind.RESYNC
    assert len(events) < 10


async def test_kind_filter_and_close_ends_iteration() -> None:
    bus = EventBus()
    sub = bus.subscribe([EventKind.HOST])
    bus.publish(EventKind.LOG, message="x")
    bus.publish(EventKind.HOST, host="h")
    received = []

    async def consume() -> None:
        async for event in sub:
            received.append(event.kind)

    task = asyncio.create_task(consume())
    await asyncio.sleep(0.01)
    sub.close()
    await asyncio.wait_for(task, 1)
    assert received == [EventKind.HOST]
    assert bus.subscribers == 0


async def test_publish_threadsafe() -> None:
    bus = EventBus()
    bus.bind(asyncio.get_running_loop())
    sub = bus.subscribe()
    await asyncio.to_thread(bus.publish_threadsafe, EventKind.LOG, message="from a thread")
    event = await asyncio.wait_for(sub.get(), 1)
    assert event.data["message"] == "from a thread"


def _drain(sub):  # type: ignore[no-untyped-def]
    out = []
    while (event := sub.get_nowait()) is not None:
        out.append(event)
    return out
