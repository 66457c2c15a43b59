"""The event bus: ordering, coalescing of stats, overflow into one RESYNC, filtering, closing."""

from __future__ import annotations

import asyncio

import pytest

from clawtui.engine.api.events import EventDecodeError
from clawtui.engine.api.models import ActivityEntry, ContainerStats, EventKind, HostInfo
from clawtui.engine.bus import EventBus


def _entry(message: str) -> ActivityEntry:
    return ActivityEntry(ts=0.0, message=message)


def _stats(n: int) -> dict[str, ContainerStats]:
    return {"c": ContainerStats(pids=n)}


async def test_order_and_coalescing() -> None:
    bus = EventBus()
    sub = bus.subscribe()
    bus.publish(EventKind.LOG, entry=_entry("a"))
    bus.publish(EventKind.STATS, host="h1", stats=_stats(1))
    bus.publish(EventKind.LOG, entry=_entry("b"))
    bus.publish(EventKind.STATS, host="h1", stats=_stats(2))
    bus.publish(EventKind.STATS, host="h2", stats=_stats(9))
    bus.publish(EventKind.STATS, host="h1", stats=_stats(3))
    got = [(e.kind, e.host, _value(e.data)) for e in _drain(sub)]
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
        bus.publish(EventKind.LOG, entry=_entry(str(i)))
    events = _drain(sub)
    assert events[0].kind is EventKind.RESYNC
    assert len(events) < 10


async def test_kind_filter_and_close_ends_iteration() -> None:
    bus = EventBus()
    sub = bus.subscribe([EventKind.HOST])
    bus.publish(EventKind.LOG, entry=_entry("x"))
    bus.publish(EventKind.HOST, host="h", info=HostInfo(name="h", url="unix:///d.sock"))
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
    await asyncio.to_thread(bus.publish_threadsafe, EventKind.LOG, entry=_entry("from a thread"))
    event = await asyncio.wait_for(sub.get(), 1)
    assert event.data["entry"].message == "from a thread"


async def test_a_wrong_field_fails_in_the_publisher() -> None:
    bus = EventBus()
    bus.bind(asyncio.get_running_loop())
    sub = bus.subscribe()
    with pytest.raises(EventDecodeError, match=r"'log' event: data\.message: Extra inputs"):
        bus.publish(EventKind.LOG, entry=_entry("a"), message="a")
    with pytest.raises(EventDecodeError, match=r"'stats' event: data\.stats\.c"):
        bus.publish(EventKind.STATS, host="h1", stats={"c": "not stats"})
    with pytest.raises(EventDecodeError, match=r"'host' event: data\.info: Field required"):
        await asyncio.to_thread(bus.publish_threadsafe, EventKind.HOST, host="h")
    assert sub.get_nowait() is None and bus.published == 0


def _value(data: dict) -> object:  # type: ignore[type-arg]
    return data["entry"].message if "entry" in data else data["stats"]["c"].pids


def _drain(sub):  # type: ignore[no-untyped-def]
    out = []
    while (event := sub.get_nowait()) is not None:
        out.append(event)
    return out
