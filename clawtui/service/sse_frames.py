"""Server-sent event frames of engine events, each encoded once however many streams send it."""

from __future__ import annotations

import json
from collections import OrderedDict

from clawtui.engine.api.events import encode_event
from clawtui.engine.api.models import Event


def sse_frame(event: Event) -> bytes:
    """One event as an SSE frame; its JSON is `encode_event`'s (the client's `decode_event`)."""
    data = json.dumps(encode_event(event), separators=(",", ":"), ensure_ascii=False)
    return f"id: {event.seq}\nevent: {event.kind.value}\ndata: {data}\n\n".encode()


class SseFrames:
    """SSE frames of recent events, so an event sent to many streams is encoded once.

    Every subscription receives the very same (frozen) `Event` object, so a frame is kept with
    the event it was made from and reused only for that object."""

    def __init__(self, size: int = 512) -> None:
        self.size = size
        self.encoded = 0
        """How many frames were encoded (not reused) so far."""
        self._frames: OrderedDict[int, tuple[Event, bytes]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._frames)

    def frame(self, event: Event) -> bytes:
        kept = self._frames.get(id(event))
        if kept is not None and kept[0] is event:
            return kept[1]
        data = sse_frame(event)
        self._frames[id(event)] = (event, data)
        self.encoded += 1
        if len(self._frames) > self.size:
            self._frames.popitem(last=False)
        return data
