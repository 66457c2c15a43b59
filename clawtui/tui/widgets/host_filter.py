"""The host filter and text filter of every container view (issue 18), in one place.

`/` opens a text box: only rows whose name, host (or the view's other texts: image, tenant,
pool) contain the text, in any case, stay. `H` cycles a host filter through every host the
view lists, then back to every host. A line under the view's header says which filters are on
and how many rows are shown. The Fleet table, the Dev containers cards and the Pools tables all
use these pieces:

* `RowFilter`: the two filters and the test of one row, the next host of the cycle, the line;
* `FilterBar`: the text box and the line (hidden while no filter is on);
* `FilteredPanel`: `/` and `H` for a panel whose rows the panel itself shows or hides
  (it implements `filter_hosts` and `show_filtered`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Input, Label


@dataclass
class RowFilter:
    """A host filter (None: every host) and a text filter ("" : none)."""

    host: str | None = None
    text: str = ""

    def passes(self, host: str, *texts: str) -> bool:
        """Whether a row on `host` whose texts are `texts` is shown (the host counts as a text)."""
        if self.host is not None and host != self.host:
            return False
        needle = self.text.casefold()
        return not needle or any(needle in t.casefold() for t in (*texts, host))

    def next_host(self, hosts: Iterable[str]) -> str | None:
        """The host after the current one among `hosts` (sorted), then None (every host)."""
        order: list[str | None] = [None, *sorted(set(hosts))]
        index = order.index(self.host) if self.host in order else 0
        return order[(index + 1) % len(order)]

    @property
    def active(self) -> bool:
        return self.host is not None or bool(self.text)

    def describe(self, shown: int) -> str:
        """'showing 3: host gpu-box (H: next host) · matching 'web' (/: change)', or ''."""
        parts = []
        if self.host is not None:
            parts.append(f"host {self.host} (H: next host)")
        if self.text:
            parts.append(f"matching {self.text!r} (/: change)")
        return f"showing {shown}: " + " · ".join(parts) if parts else ""


def filter_binding(prefix: str, what: str = "name or host") -> Binding:
    """`/`: the text filter of a view (binding id `<prefix>.filter`)."""
    return Binding(
        "slash",
        "filter",
        "Filter",
        id=f"{prefix}.filter",
        show=False,
        tooltip=f"Show only rows whose {what} contain some text",
    )


def host_binding(prefix: str) -> Binding:
    """`H`: the host cycle of a view (binding id `<prefix>.host`)."""
    return Binding(
        "H",
        "cycle_host",
        "Host",
        id=f"{prefix}.host",
        show=False,
        tooltip="Show one host's rows, the next host, ... then every host again",
    )


class FilterBar(Vertical):
    """The `/` text box and the line saying which filters are on (each hidden when unused)."""

    DEFAULT_CSS = """
    FilterBar { height: auto; }
    FilterBar > .filter-input, FilterBar > .filter-state { display: none; }
    FilterBar > .filter-input.-shown, FilterBar > .filter-state.-shown { display: block; }
    FilterBar > .filter-state { color: $text-muted; }
    """

    class Changed(Message):
        """The text of the box changed."""

        def __init__(self, bar: FilterBar, text: str) -> None:
            super().__init__()
            self.bar = bar
            self.text = text

        @property
        def control(self) -> FilterBar:
            return self.bar

    class Submitted(Message):
        """Enter in the box: the view takes the keyboard back."""

        def __init__(self, bar: FilterBar) -> None:
            super().__init__()
            self.bar = bar

        @property
        def control(self) -> FilterBar:
            return self.bar

    def __init__(self, placeholder: str, *, prefix: str, id: str | None = None) -> None:
        super().__init__(id=id)
        self._placeholder = placeholder
        self._prefix = prefix
        self._line = ""

    def compose(self) -> ComposeResult:
        yield Input(placeholder=self._placeholder, id=f"{self._prefix}-filter",
                    classes="filter-input")  # fmt: skip
        yield Label(id=f"{self._prefix}-filter-state", classes="filter-state")

    @property
    def input(self) -> Input:
        return self.query_one(".filter-input", Input)

    def open(self) -> None:
        """Show the text box and give it the keyboard."""
        self.input.add_class("-shown")
        self.input.focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        self.post_message(self.Changed(self, event.value))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        event.input.set_class(bool(event.value), "-shown")
        self.post_message(self.Submitted(self))

    def show_state(self, row_filter: RowFilter, shown: int) -> None:
        """Say which filters are on and how many rows they leave."""
        line = row_filter.describe(shown)
        if line == self._line:  # called on every change of the view's rows: no repaint
            return
        self._line = line
        state = self.query_one(".filter-state", Label)
        state.update(Text(line))
        state.set_class(bool(line), "-shown")


class FilteredPanel:
    """`/` and `H` for a panel that shows or hides its own rows (a mixin of a Textual widget).

    The panel composes a `FilterBar`, holds `row_filter`, and implements `filter_hosts` (the
    hosts it lists) and `show_filtered` (apply `row_filter` to its rows; the number shown).
    """

    row_filter: RowFilter

    def filter_hosts(self) -> Iterable[str]:
        raise NotImplementedError

    def show_filtered(self) -> int:
        raise NotImplementedError

    def filter_done(self) -> None:
        """Enter in the text box: where the keyboard goes back to (the panel's own choice)."""

    @property
    def filter_bar(self) -> FilterBar | None:
        """The panel's FilterBar (None while it has none, e.g. an empty state)."""
        bars = self.query(FilterBar)  # type: ignore[attr-defined]
        bar: FilterBar | None = bars.first() if bars else None
        return bar

    def refilter(self) -> None:
        """Apply the filters to the rows and say which are on."""
        bar = self.filter_bar
        if bar is not None:
            bar.show_state(self.row_filter, self.show_filtered())

    def action_filter(self) -> None:
        bar = self.filter_bar
        if bar is not None:
            bar.open()

    def action_cycle_host(self) -> None:
        self.row_filter.host = self.row_filter.next_host(self.filter_hosts())
        self.refilter()

    def on_filter_bar_changed(self, event: FilterBar.Changed) -> None:
        event.stop()
        self.row_filter.text = event.text
        self.refilter()

    def on_filter_bar_submitted(self, event: FilterBar.Submitted) -> None:
        event.stop()
        self.filter_done()
