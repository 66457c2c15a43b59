"""The activity view: what the engine noticed, newest at the bottom.

Fed once from the engine's stored log (`engine.activity(200)`) and then live from LOG events.
Messages quote container names and Docker errors, so lines are rich `Text`, never markup.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any, ClassVar

from rich.text import Text
from textual.widgets import RichLog

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


class ActivityLog(RichLog):
    """A scrolling log of ActivityEntry lines."""

    ENGINE_EVENTS: ClassVar[frozenset[EventKind]] = frozenset({EventKind.LOG})

    def __init__(self, *, id: str | None = None, max_lines: int = 1000) -> None:
        super().__init__(id=id, max_lines=max_lines, markup=False, highlight=False, wrap=True)
        self._seen: set[tuple[float, str]] = set()

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
