"""SSE frames: one encoding per event object, however many streams send it."""

from __future__ import annotations

import json

from clawtui.engine.api.models import ActivityEntry, EventKind
from clawtui.engine.bus import EventBus
from clawtui.service.sse_frames import SseFrames, sse_frame


async def test_each_event_is_encoded_once_for_every_stream() -> None:
    bus = EventBus()
    streams = [bus.subscribe([EventKind.LOG]) for _ in range(20)]
    frames = SseFrames()
    for i in range(3):
        bus.publish(EventKind.LOG, entry=ActivityEntry(ts=1.0 + i, level="info", message=f"m{i}"))
    sent: list[list[bytes]] = [[] for _ in streams]
    for i, sub in enumerate(streams):
        while (event := sub.get_nowait()) is not None:
            sent[i].append(frames.frame(event))
    assert frames.encoded == 3  # not 60
    assert all(s == sent[0] for s in sent) and len(sent[0]) == 3
    for n, frame in enumerate(sent[0]):
        head, data = frame.decode().split("\ndata: ")
        assert (
            head.endswith("event: log") and json.loads(data)["data"]["entry"]["message"] == f"m{n}"
        )


def test_a_frame_is_reused_only_for_the_same_event_object() -> None:
    bus = EventBus()
    sub = bus.subscribe()
    bus.publish(EventKind.LOG, entry=ActivityEntry(ts=1.0, level="info", message="a"))
    event = sub.get_nowait()
    assert event is not None
    frames = SseFrames(size=2)
    assert frames.frame(event) == sse_frame(event)
    twin = event.model_copy(update={"seq": event.seq + 1})  # equal content, another event
    assert frames.frame(twin) == sse_frame(twin) != sse_frame(event)
    assert frames.encoded == 2
    for _ in range(3):  # older frames are dropped past `size`
        frames.frame(event.model_copy())
    assert len(frames) == 2
