"""The help screen: every key that works right now, as the user's keymap has bound it.

The rows come from the live bindings of the screen underneath (`Screen.active_bindings`), after
Textual has applied `[keymap]`, so a remapped key is shown as remapped. Keys of the same action
are merged on one line ("? F1  Help"), grouped by where they act (everywhere, the main screen,
the focused table).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, ClassVar

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.dom import DOMNode
from textual.screen import ModalScreen, Screen
from textual.widgets import Static


@dataclass
class KeyRow:
    """One action and every key bound to it."""

    section: str
    keys: list[str]
    description: str
    binding_id: str | None


def _section(node: DOMNode, app: App[Any]) -> str:
    if node is app:
        return "Everywhere"
    if isinstance(node, Screen):
        return "Main screen"
    name = type(node).__name__
    # "ContainerTable" -> "Container table"
    words = "".join(f" {c.lower()}" if c.isupper() else c for c in name).strip()
    return words[:1].upper() + words[1:]


def describe(binding: Binding) -> str:
    """The footer's short description, with the tooltip's longer one when there is one."""
    if binding.description and binding.tooltip:
        return f"{binding.description}: {binding.tooltip}"
    return binding.description or binding.tooltip


def key_rows(app: App[Any], screen: Screen[Any]) -> list[KeyRow]:
    """Every shown binding of `screen`'s focus chain with its current keys, app-wide first."""
    rows: dict[tuple[int, str], KeyRow] = {}
    order: dict[str, int] = {}
    for key, active in screen.active_bindings.items():
        binding: Binding = active.binding
        if binding.system or not (binding.description or binding.tooltip):
            continue
        section = _section(active.node, app)
        rank = 0 if active.node is app else 1 if isinstance(active.node, Screen) else 2
        order.setdefault(section, rank * 100 + len(order))
        # One row per action of a node: Textual's own `^q` Quit joins the app's `q` Quit, and
        # the row takes the description and id of the binding that has an id.
        ident = (id(active.node), binding.action)
        display = app.get_key_display(binding.with_key(key))
        row = rows.get(ident)
        if row is None:
            rows[ident] = KeyRow(section, [display], describe(binding), binding.id)
        elif display not in row.keys:
            if row.binding_id is None and binding.id:
                row.keys.insert(0, display)
                row.description, row.binding_id = describe(binding), binding.id
            else:
                row.keys.append(display)
    return sorted(rows.values(), key=lambda r: order[r.section])


def rows_table(rows: Iterable[KeyRow]) -> Group:
    """One table per section, with the same column widths so they line up."""
    tables: list[Table] = []
    table: Table | None = None
    for row in rows:
        if table is None or table.title != row.section:
            table = Table(
                title=row.section,
                title_justify="left",
                title_style="bold",
                box=None,
                show_header=False,
                expand=True,
                padding=(0, 2, 0, 0),
            )
            table.add_column(no_wrap=True, width=16)
            table.add_column(ratio=1)
            table.add_column(style="dim", no_wrap=True, width=18)
            tables.append(table)
        table.add_row(Text("  ".join(row.keys)), Text(row.description), Text(row.binding_id or ""))
    parts: list[Table | Text] = []
    for each in tables:
        if parts:
            parts.append(Text(""))
        parts.append(each)
    return Group(*parts)


class HelpScreen(ModalScreen[None]):
    """A modal list of keys; Escape, q, ? or F1 closes it."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,question_mark,f1", "close", "Close help", id="help.close"),
    ]

    def __init__(self, rows: list[KeyRow]) -> None:
        super().__init__(id="help")
        self.rows = rows

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-body") as body:
            body.border_title = "Keys"
            body.border_subtitle = "Esc closes · remap a key by its binding id in config.toml"
            yield Static(rows_table(self.rows), id="help-keys")

    def action_close(self) -> None:
        self.dismiss()
