"""Small helpers for Pilot tests: waiting for a condition, reading cells as plain text."""

from __future__ import annotations

import html
import re
import time
from collections.abc import Callable

from textual.app import App
from textual.pilot import Pilot

from clawtui.tui.widgets.container_table import ContainerTable


async def wait_for(
    pilot: Pilot[object], predicate: Callable[[], object], timeout: float = 10.0
) -> None:
    """Pause the app until `predicate()` is true; fail with a clear message after `timeout`
    seconds of wall time (generous: a loaded CI machine runs Textual slowly)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await pilot.pause(0.05)


def cell(table: ContainerTable, key: str, column: str) -> str:
    """The plain text of one cell."""
    return table.get_cell(key, column).plain


def row_keys(table: ContainerTable) -> list[str]:
    """Row keys in display order."""
    return [str(row.key.value) for row in table.ordered_rows]


_SVG_TEXT = re.compile(
    r'<text class="[^"]*" x="([\d.]+)" y="[\d.]+" textLength="[\d.]+" '
    r'clip-path="url\(#[^)]*-line-(\d+)\)">(.*?)</text>'
)
_CELL_WIDTH = 12.2  # rich's SVG export: pixels per terminal cell


def screen_text(app: App[object]) -> str:
    """What the terminal shows, as plain lines rebuilt from the SVG screenshot."""
    lines: dict[int, list[tuple[float, str]]] = {}
    for match in _SVG_TEXT.finditer(app.export_screenshot()):
        x, line, text = float(match[1]), int(match[2]), html.unescape(match[3])
        lines.setdefault(line, []).append((x, text))
    out = []
    for line in sorted(lines):
        row = ""
        for x, text in sorted(lines[line]):
            row = row.ljust(round(x / _CELL_WIDTH)) + text
        out.append(row.rstrip())
    return "\n".join(out).replace("\xa0", " ")
