"""`LogView`: a container's log, line by line, with search highlights (Textual's line API).

Log text is whatever a container printed, so it is never markup: each line becomes a rich
`Text` (ANSI colours kept, other control characters replaced), and a `[bold]` in a log is
shown as the eight characters it is. Only the visible lines are rendered, so a follow of a
chatty container costs a list append per line. The view keeps the last `max_lines` lines.

Search is plain, case-insensitive text. Every match is highlighted; `current` is the line of
the match the user jumped to (`n` / `N` on the logs screen), drawn more strongly.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable
from typing import ClassVar

from rich.segment import Segment
from rich.text import Text
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1a\x1c-\x1f\x7f]")
_ESCAPE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def log_text(line: str) -> Text:
    """One log line as rich Text: ANSI styles kept, tabs expanded, control characters shown
    as �. Never markup."""
    text = Text.from_ansi(_CONTROL.sub("\ufffd", line), no_wrap=True, end="")
    if "\x1b" in text.plain:  # a stray escape the decoder left: drop the styles, keep the text
        text = Text(_ESCAPE.sub("\ufffd", line), no_wrap=True, end="")
    text.expand_tabs(8)
    return text


class LogView(ScrollView, can_focus=True):
    """Scrollable lines of log text; `search()` highlights a query, `current` marks a match."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "log-view--match",
        "log-view--current",
    }
    """
    | Class | Description |
    | :- | :- |
    | `log-view--match` | Every occurrence of the search text. |
    | `log-view--current` | Occurrences on the line of the current match. |
    """

    def __init__(
        self, *, max_lines: int = 10_000, id: str | None = None, classes: str | None = None
    ) -> None:
        super().__init__(id=id, classes=classes)
        self.max_lines = max_lines
        self.lines: list[Text] = []
        self.search_text = ""
        """The search text ('' = no search)."""
        self.matches: list[int] = []
        """Indexes of the lines that contain the search text, ascending."""
        self.current: int | None = None
        """Index of the line of the current match."""
        self.auto_scroll = True
        """Stick to the newest line (follow) while the view is at the end."""
        self._pattern: re.Pattern[str] | None = None
        self._width = 0

    # -- content -------------------------------------------------------------------------------
    def extend(self, raw_lines: Iterable[str]) -> int:
        """Append lines (plain strings from the container); returns how many were added."""
        added = [log_text(line) for line in raw_lines]
        if not added:
            return 0
        first = len(self.lines)
        at_end = self.is_vertical_scroll_end
        self.lines.extend(added)
        self._width = max(self._width, *(t.cell_len for t in added))
        if self._pattern is not None:
            self.matches.extend(
                first + i for i, t in enumerate(added) if self._pattern.search(t.plain)
            )
        overflow = len(self.lines) - self.max_lines
        if overflow > 0:
            del self.lines[:overflow]
            self.matches = [m - overflow for m in self.matches if m >= overflow]
            if self.current is not None:
                self.current = self.current - overflow if self.current >= overflow else None
        self.virtual_size = Size(self._width, len(self.lines))
        if self.auto_scroll and at_end:  # scrolled up to read: new lines do not pull it down
            self.scroll_end(animate=False, immediate=True, force=True, x_axis=False)
        self.refresh()
        return len(added)

    def on_resize(self) -> None:
        if self.auto_scroll:
            self.scroll_end(animate=False, immediate=True, force=True, x_axis=False)

    def clear(self) -> None:
        self.lines.clear()
        self.matches.clear()
        self.current = None
        self._width = 0
        self.virtual_size = Size(0, 0)
        self.refresh()

    @property
    def plain_lines(self) -> list[str]:
        """The lines as plain text (what search matches against)."""
        return [t.plain for t in self.lines]

    # -- search --------------------------------------------------------------------------------
    def search(self, query: str) -> int:
        """Highlight `query` (case-insensitive; '' clears); returns the number of matching lines."""
        self.search_text = query
        self.current = None
        if not query:
            self._pattern = None
            self.matches = []
        else:
            self._pattern = re.compile(re.escape(query), re.IGNORECASE)
            self.matches = [i for i, t in enumerate(self.lines) if self._pattern.search(t.plain)]
        self.refresh()
        return len(self.matches)

    def next_match(self, direction: int = 1, *, start: int | None = None) -> int | None:
        """Make the next (1) or previous (-1) matching line current, wrapping; scroll to it."""
        if not self.matches:
            self.current = None
            self.refresh()
            return None
        origin = self.current if self.current is not None else start
        if origin is None:
            origin = int(self.scroll_offset.y) - 1 if direction > 0 else len(self.lines)
        if direction > 0:
            index = bisect.bisect_right(self.matches, origin)
            line = self.matches[index % len(self.matches)]
        else:
            index = bisect.bisect_left(self.matches, origin) - 1
            line = self.matches[index % len(self.matches)]
        self.current = line
        self.scroll_to(y=max(0, line - self.size.height // 2), animate=False)
        self.refresh()
        return line

    @property
    def match_position(self) -> tuple[int, int]:
        """(1-based position of the current match, number of matches); (0, n) with none."""
        if self.current is None or self.current not in self.matches:
            return 0, len(self.matches)
        return self.matches.index(self.current) + 1, len(self.matches)

    # -- drawing -------------------------------------------------------------------------------
    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        index = scroll_y + y
        width = self.size.width
        style = self.rich_style
        if index >= len(self.lines):
            return Strip.blank(width, style)
        text = self.lines[index]
        if self._pattern is not None:
            text = text.copy()
            part = "current" if index == self.current else "match"
            highlight = self.get_component_rich_style(f"log-view--{part}")
            for found in self._pattern.finditer(text.plain):
                text.stylize(highlight, found.start(), found.end())
        segments = list(text.render(self.app.console))
        strip = Strip(Segment.apply_style(segments, style))
        return strip.crop_extend(scroll_x, scroll_x + width, style)
