"""A centered explanation for a panel that has nothing to show yet.

Panels of capabilities that are not built, or that have no data, say so plainly: what will
appear there, where it comes from (which config section feeds it), and how to get there. They
never show invented rows.
"""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static


class EmptyState(Static):
    """A title and a few lines of explanation, centered in the panel."""

    DEFAULT_CSS = """
    EmptyState {
        width: 1fr;
        height: 1fr;
        content-align: center middle;
        text-align: center;
        color: $text-muted;
        padding: 1 4;
    }
    """

    def __init__(self, title: str, body: str, *, hint: str = "", id: str | None = None) -> None:
        text = Text(justify="center")
        text.append(title, style="bold")
        text.append("\n\n")
        text.append(body)
        if hint:
            text.append("\n\n")
            text.append(hint, style="italic")
        super().__init__(text, id=id, classes="empty-state")
