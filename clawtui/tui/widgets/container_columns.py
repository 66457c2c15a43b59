"""The columns of the container table (`container_table.ContainerTable`) and its cells."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rich.text import Text


class Cell(Text):
    """A table cell: rich Text that also carries the value the column sorts by."""

    def __init__(self, text: str, sort_key: Any, *, style: str = "", right: bool = False) -> None:
        super().__init__(text, style=style, justify="right" if right else None, no_wrap=True)
        self.sort_key = sort_key


@dataclass(frozen=True)
class ColumnSpec:
    """One column of the table: key, header label, fixed width (None = fit the content)."""

    key: str
    label: str
    width: int | None = None
    right: bool = False


MARK = "●"

COLUMNS: tuple[ColumnSpec, ...] = (
    ColumnSpec("mark", "", 1),
    ColumnSpec("name", "Name"),
    ColumnSpec("host", "Host"),
    ColumnSpec("image", "Image"),
    ColumnSpec("state", "State", 10),
    ColumnSpec("cpu", "CPU %", 7, right=True),
    ColumnSpec("mem", "Mem MiB used / limit", 20, right=True),
    ColumnSpec("uptime", "Uptime", 8, right=True),
)
AUTO_WIDTH = frozenset(c.key for c in COLUMNS if c.width is None)
SORTABLE = tuple(c.key for c in COLUMNS if c.key != "mark")
DEFAULT_SORT = ("host", "name")
TICKED = ("cpu", "mem", "uptime")
"""The columns every stats or uptime tick rewrites."""

STATE_STYLES: dict[str, str] = {
    "running": "success",
    "paused": "warning",
    "restarting": "warning",
    "created": "secondary",
    "exited": "error",
    "dead": "error",
}
"""Which theme color (`Theme` attribute) a container state is drawn in."""
