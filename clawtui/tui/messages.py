"""Messages of the TUI: how engine events reach the panels.

`MainScreen` turns each engine event into one `EngineEvent` message per subscriber and posts it.
A subscriber is any widget of the screen whose class names the event's kind in
`ENGINE_EVENTS`; it handles the message in `on_engine_event`. No dispatcher calls a panel by
name: a new panel subscribes by declaring what it wants.

Events from a local engine carry models; from a remote one the fields of capability value types
not yet in the interface are plain JSON objects (`engine/api/events.py`, `Loose`): `as_model`
accepts both.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel
from textual.message import Message
from textual.widget import Widget

from clawtui.engine.api.models import Event, EventKind

if TYPE_CHECKING:  # the payload models load with the engine, after the first frame
    from clawtui.engine.api.events import EventPayload

M = TypeVar("M", bound=BaseModel)


class EngineEvent(Message, bubble=False):
    """One engine event for one subscribing widget (handled in `on_engine_event`)."""

    def __init__(self, event: Event) -> None:
        super().__init__()
        self.event = event

    @property
    def kind(self) -> EventKind:
        return self.event.kind

    @property
    def data(self) -> dict[str, Any]:
        """The fields as published (models from a local engine, JSON objects from the wire for
        capability types not in the interface yet)."""
        return self.event.data

    @property
    def payload(self) -> EventPayload:
        """The typed payload model of the event's kind."""
        from clawtui.engine.api.events import payload_of

        return payload_of(self.event)

    @property
    def container_key(self) -> str:
        """`host/id` of a CONTAINER_REMOVED event."""
        return f"{self.event.host or self.data.get('host', '')}/{self.data['id']}"


def subscribers(root: Widget, kind: EventKind) -> Iterator[Widget]:
    """The widgets under `root` whose `ENGINE_EVENTS` (a `ClassVar[frozenset[EventKind]]`) name
    `kind`. Walked per event, so widgets mounted later subscribe too; events other than stats
    are few, and the screen has a few hundred widgets at most."""
    for widget in root.walk_children(Widget):
        if kind in getattr(widget, "ENGINE_EVENTS", ()):
            yield widget


def post_engine_event(root: Widget, event: Event) -> int:
    """Post `event` to every subscriber of its kind under `root`; returns how many."""
    n = 0
    for widget in subscribers(root, event.kind):
        widget.post_message(EngineEvent(event))
        n += 1
    return n


def as_model(cls: type[M], value: Any) -> M:
    """`value` as `cls`: a local engine hands over models, a remote one may hand over dicts."""
    return value if isinstance(value, cls) else cls.model_validate(value)
