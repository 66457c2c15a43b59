"""The segments of a table's Text cells, as DataTable draws them with rich, computed once per
content, and once per length for short plain texts.

Rendering a cell through rich (padding, justification, styles) costs about 100 µs; a table
whose CPU, memory and uptime cells change every second meets new texts ("5m 12s", "5m 13s")
all the time. A text that rich treats character by character alike (one style, printable
ASCII, no space at either end, fitting its column, left or right justified, one line) is drawn
as a placeholder of its length once; its own characters are then put where the placeholder's
are. Any other text is rendered by rich and kept by content. `tests/tui/test_cell_text.py`
compares both with rich.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable

from rich.segment import Segment
from rich.text import Text

SegmentLines = list[list[Segment]]
_PLACEHOLDER = "x"
_MAX_KEPT = 20_000
_JUSTIFIED = (None, "default", "left", "right")

Template = tuple[SegmentLines, int, int, int]
"""A placeholder's lines, and the line, segment and offset of its characters."""


class TextCells:
    """Text cells' segments by content (`look`: everything else they are drawn with)."""

    def __init__(self) -> None:
        self._contents: dict[Hashable, SegmentLines] = {}
        self._shapes: dict[Hashable, Template | None] = {}

    def clear(self) -> None:
        self._contents.clear()
        self._shapes.clear()

    def lines(
        self, value: Text, look: Hashable, room: int, render: Callable[[Text], SegmentLines]
    ) -> SegmentLines:
        """`value` as `render` (rich, with the cell's padding and styles) draws it; `room` is
        the width its text has inside the padding. The result is shared: do not change it."""
        plain = value.plain
        if (
            0 < len(plain) <= room
            and plain.isascii()
            and plain.isprintable()
            and plain[0] != " "
            and plain[-1] != " "
            and not value.spans
            and value.justify in _JUSTIFIED
            and value.end == "\n"
        ):
            shape = (len(plain), value.style, value.justify, value.overflow, value.no_wrap, look)
            if shape not in self._shapes:
                if len(self._shapes) > _MAX_KEPT:
                    self._shapes.clear()
                self._shapes[shape] = _template(value, render)
            template = self._shapes[shape]
            if template is not None:
                return _fill(template, plain)
        content = (
            plain, value.style, tuple(value.spans), value.justify, value.overflow,
            value.no_wrap, value.end, value.tab_size, look,
        )  # fmt: skip
        lines = self._contents.get(content)
        if lines is None:
            if len(self._contents) > _MAX_KEPT:
                self._contents.clear()
            lines = self._contents[content] = render(value)
        return lines


def _template(value: Text, render: Callable[[Text], SegmentLines]) -> Template | None:
    """A placeholder of `value`'s length drawn as `value` would be, with where its characters
    are (line, segment, offset); None when they are not in one segment of their own."""
    size = len(value.plain)
    placeholder = Text(
        _PLACEHOLDER * size,
        style=value.style,
        justify=value.justify,
        overflow=value.overflow,
        no_wrap=value.no_wrap,
        end=value.end,
        tab_size=value.tab_size,
    )
    lines = render(placeholder)
    found: list[tuple[int, int, int]] = []
    for line_no, line in enumerate(lines):
        for index, segment in enumerate(line):
            if segment.control:
                return None
            count = segment.text.count(_PLACEHOLDER)
            if count:
                offset = segment.text.find(_PLACEHOLDER * size)
                if count != size or offset < 0:
                    return None
                found.append((line_no, index, offset))
    if len(found) != 1:
        return None
    return (lines, *found[0])


def _fill(template: Template, plain: str) -> SegmentLines:
    lines, line_no, index, offset = template
    line = list(lines[line_no])
    segment = line[index]
    text = segment.text
    line[index] = Segment(text[:offset] + plain + text[offset + len(plain) :], segment.style)
    return [*lines[:line_no], line, *lines[line_no + 1 :]]
