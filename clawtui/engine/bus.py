"""One event bus for every engine state change.

The TUI and the service's event stream both subscribe here. Each subscription has its own
pending list: ordinary events queue in order, while coalescing events (stats) replace the pending
one with the same key and move to the end, so a slow consumer sees the latest value, never a
backlog. A consumer that falls too far behind gets one RESYNC event instead of the flood and is
expected to re-read the engine's snapshot.

`publish(kind, **fields)` validates the fields into the kind's payload model
(`engine/api/events.py`): an unknown, missing or mistyped field raises `EventDecodeError` in the
publisher, not somewhere downstream in a panel or on the wire.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import OrderedDict
from collections.abc import AsyncIterator, Iterable
from typing import Any

from clawtui.engine.api.events import validate
from clawtui.engine.api.models import Event, EventKind

DEFAULT_MAX_BACKLOG = 10_000


class Subscription:
    """A consumer's view of the bus: iterate with `async for`, or `await get()`."""

    def __init__(
        self,
        bus: EventBus,
        kinds: Iterable[EventKind] | None,
        max_backlog: int,
    ) -> None:
        self._bus = bus
        self._kinds = frozenset(kinds) if kinds is not None else None
        self._max_backlog = max_backlog
        self._pending: OrderedDict[Any, Event] = OrderedDict()
        self._wakeup = asyncio.Event()
        self._closed = False
        self.dropped = 0
        """Events replaced by coalescing or dropped by an overflow (for metrics)."""

    def wants(self, event: Event) -> bool:
        return self._kinds is None or event.kind in self._kinds or event.kind is EventKind.RESYNC

    def _offer(self, event: Event) -> None:
        if self._closed or not self.wants(event):
            return
        key: tuple[str, object] | None = event.coalesce_key
        if key is None:
            key = ("seq", event.seq)
        elif key in self._pending:
            del self._pending[key]
            self.dropped += 1
        self._pending[key] = event
        if len(self._pending) > self._max_backlog:
            self.dropped += len(self._pending)
            self._pending.clear()
            resync = _event(EventKind.RESYNC, None, {"reason": "consumer fell behind"}, 0)
            self._pending[("seq", -1)] = resync
        self._wakeup.set()

    @property
    def backlog(self) -> int:
        return len(self._pending)

    def get_nowait(self) -> Event | None:
        if not self._pending:
            return None
        _, event = self._pending.popitem(last=False)
        return event

    async def get(self) -> Event:
        """The next event; raises StopAsyncIteration once the subscription is closed."""
        while True:
            event = self.get_nowait()
            if event is not None:
                return event
            if self._closed:
                raise StopAsyncIteration
            self._wakeup.clear()
            await self._wakeup.wait()

    def __aiter__(self) -> AsyncIterator[Event]:
        return self

    async def __anext__(self) -> Event:
        return await self.get()

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._bus._unsubscribe(self)
            self._wakeup.set()

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class EventBus:
    """Fan-out of engine events to subscriptions. Publish only from the engine's loop thread
    (use `publish_threadsafe` from worker threads)."""

    def __init__(self) -> None:
        self._subs: list[Subscription] = []
        self._seq = itertools.count(1)
        self._loop: asyncio.AbstractEventLoop | None = None
        self.published = 0

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    @property
    def loop(self) -> asyncio.AbstractEventLoop | None:
        """The loop `bind` was given (None before)."""
        return self._loop

    def subscribe(
        self, kinds: Iterable[EventKind] | None = None, *, max_backlog: int = DEFAULT_MAX_BACKLOG
    ) -> Subscription:
        sub = Subscription(self, kinds, max_backlog)
        self._subs.append(sub)
        return sub

    def _unsubscribe(self, sub: Subscription) -> None:
        if sub in self._subs:
            self._subs.remove(sub)

    @property
    def subscribers(self) -> int:
        return len(self._subs)

    def publish(self, kind: EventKind, *, host: str | None = None, **data: Any) -> Event:
        """Validate `data` into the kind's payload model (raises EventDecodeError) and fan the
        event out."""
        return self._fan_out(_event(kind, host, data, next(self._seq)))

    def _fan_out(self, event: Event) -> Event:
        self.published += 1
        for sub in list(self._subs):
            sub._offer(event)
        return event

    def publish_threadsafe(self, kind: EventKind, *, host: str | None = None, **data: Any) -> None:
        """Like `publish` from a worker thread: a bad field raises here, in the caller."""
        if self._loop is None:
            raise RuntimeError("EventBus.bind(loop) must be called before publish_threadsafe")
        event = _event(kind, host, data, 0)
        self._loop.call_soon_threadsafe(
            lambda: self._fan_out(event.model_copy(update={"seq": next(self._seq)}))
        )

    def close(self) -> None:
        for sub in list(self._subs):
            sub.close()


def _event(kind: EventKind, host: str | None, data: dict[str, Any], seq: int) -> Event:
    payload, fields = validate(kind, data)
    # (Event(...) validates only the envelope here: `data` values are Any and `payload` is an
    # instance check; `model_construct` would be slower, it runs in Python.)
    return Event(kind=kind, host=host, data=fields, seq=seq, payload=payload)
