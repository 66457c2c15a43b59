"""The activity view: what the engine noticed, newest at the bottom.

Fed once from the engine's stored log (`engine.activity(200)`) and then live from LOG events.
Messages quote container names and Docker errors, so lines are rich `Text`, never markup.

Its own small line view rather than Textual's `RichLog`: the log is on screen in the first
frame, and `RichLog` imports `rich.pretty` (and with it `attrs`), about 20 ms of start-up for a
widget that only ever shows `Text`. Here entries are kept as `Text`, wrapped to the view's width
(again when the width changes: nothing is lost or cut), and drawn line by line; the view follows
new lines while it is scrolled to the end, and stays where the reader put it otherwise.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterable
from typing import Any, ClassVar

from rich.text import Text
from textual.events import Resize
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip

from clawtui.engine.api.models import ActivityEntry, EventKind
from clawtui.tui.messages import EngineEvent

_LEVEL_STYLE = {"warning": "yellow", "error": "bold red"}


def entry_line(entry: ActivityEntry) -> Text:
    """One log line: local time, level (when not info), host, message."""
    stamp = time.strftime("%H:%M:%S", time.localtime(entry.ts))
    line = Text(no_wrap=False)
    line.append(stamp, style="dim")
    line.append(" ")
    if entry.level != "info":
        line.append(f"{entry.level.upper()} ", style=_LEVEL_STYLE.get(entry.level, ""))
    if entry.host:
        line.append(f"[{entry.host}] ", style="dim")
    line.append(entry.message)
    return line


class ActivityLog(ScrollView, can_focus=True):
    """A scrolling log of ActivityEntry lines, newest at the bottom."""

    ENGINE_EVENTS: ClassVar[frozenset[EventKind]] = frozenset({EventKind.LOG})
    MIN_WIDTH: ClassVar[int] = 20
    """Lines are wrapped to the view's width, but never narrower than this (then it scrolls)."""

    def __init__(self, *, id: str | None = None, max_lines: int = 1000) -> None:
        super().__init__(id=id)
        self.max_lines = max_lines
        """At most this many entries are kept (the oldest go first)."""
        self._entries: deque[Text] = deque()
        self._counts: deque[int] = deque()
        """How many of `lines` each entry wraps to."""
        self.lines: list[Strip] = []
        """The entries wrapped to `_wrap_width`, one strip per screen line."""
        self._wrap_width = 0
        """The width `lines` are wrapped to (0: not known yet, nothing wrapped)."""
        self._seen: set[tuple[float, str]] = set()

    # -- content -------------------------------------------------------------------------------
    def write(self, line: Text) -> None:
        """Append one entry; the view follows it when it was at the end."""
        follow = self.scroll_y >= self.max_scroll_y
        strips = self._wrap(line) if self._wrap_width else []
        self._entries.append(line)
        self._counts.append(len(strips))
        self.lines.extend(strips)
        while len(self._entries) > self.max_lines:  # the oldest entries go
            self._entries.popleft()
            del self.lines[: self._counts.popleft()]
        self._sized()
        if follow:
            self.scroll_end(animate=False, immediate=False, x_axis=False)

    def clear(self) -> None:
        self._entries.clear()
        self._counts.clear()
        self.lines.clear()
        self._sized()

    def _wrap(self, line: Text) -> list[Strip]:
        console = self.app.console
        return [
            Strip(list(part.render(console)), part.cell_len)
            for part in line.wrap(console, self._wrap_width)
        ]

    def _rewrap(self) -> None:
        wrapped = [self._wrap(entry) for entry in self._entries]
        self._counts = deque(len(strips) for strips in wrapped)
        self.lines = [strip for strips in wrapped for strip in strips]
        self._sized()

    def _sized(self) -> None:
        self.virtual_size = Size(self._wrap_width, len(self.lines))
        self.refresh()

    def on_resize(self, event: Resize) -> None:
        width = max(self.MIN_WIDTH, self.scrollable_content_region.width)
        if width != self._wrap_width:
            follow = self.scroll_y >= self.max_scroll_y
            self._wrap_width = width
            self._rewrap()
            if follow:
                self.scroll_end(animate=False, immediate=False, x_axis=False)

    # -- drawing -------------------------------------------------------------------------------
    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        width = self.scrollable_content_region.width
        index = scroll_y + y
        style = self.rich_style
        if index >= len(self.lines):
            return Strip.blank(width, style)
        return self.lines[index].crop_extend(scroll_x, scroll_x + width, style).apply_style(style)

    def load(self, entries: Iterable[ActivityEntry]) -> None:
        """Show stored history (given newest first, as the engine returns it)."""
        self.clear()
        self._seen.clear()
        for entry in reversed(list(entries)):
            self.add(entry)

    def add(self, entry: ActivityEntry) -> None:
        """Append one entry, unless it is already shown (history and live stream overlap)."""
        mark = (entry.ts, entry.message)
        if mark in self._seen:
            return
        self._seen.add(mark)
        if len(self._seen) > 4 * (self.max_lines or 1000):
            self._seen.clear()
        self.write(entry_line(entry))

    def on_engine_event(self, message: EngineEvent) -> None:
        self.add_event_data(message.data, message.event.host, message.event.ts)

    def add_event_data(self, data: dict[str, Any], host: str | None, ts: float) -> None:
        """Append the payload of a LOG event ({"entry": ActivityEntry} or {"level", "message"})."""
        raw = data.get("entry")
        if isinstance(raw, ActivityEntry):
            entry = raw
        elif isinstance(raw, dict):
            entry = ActivityEntry.model_validate(raw)
        else:
            entry = ActivityEntry(
                ts=ts,
                level=str(data.get("level", "info")),
                host=host,
                message=str(data.get("message", "")),
            )
        self.add(entry)
