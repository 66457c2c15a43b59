"""Which classes own key bindings, so `[keymap]` entries can be checked against their ids.

Textual applies a keymap to whatever bindings are live; an id that no binding has is silently
ignored. The app checks the user's `[keymap]` against every id listed here at start and says
which ones are unknown. A new screen or widget with bindings is added to `BINDING_OWNERS`.
"""

from __future__ import annotations

from collections.abc import Iterable

from textual.binding import Binding
from textual.dom import DOMNode

from clawtui.tui.screens.confirm import ConfirmScreen
from clawtui.tui.screens.help import HelpScreen
from clawtui.tui.screens.logs import LogsScreen
from clawtui.tui.screens.main import MainScreen
from clawtui.tui.screens.new_devbox import NewDevboxScreen
from clawtui.tui.screens.tmux_forms import TmuxBroadcastScreen, TmuxRunScreen
from clawtui.tui.widgets.container_table import ContainerTable
from clawtui.tui.widgets.devbox_cards import CardList
from clawtui.tui.widgets.devbox_panel import DevboxesPanel
from clawtui.tui.widgets.log_view import LogView
from clawtui.tui.widgets.slider import MemorySlider

BINDING_OWNERS: tuple[type[DOMNode], ...] = (
    MainScreen,
    HelpScreen,
    ContainerTable,
    DevboxesPanel,
    CardList,
    MemorySlider,
    LogsScreen,
    LogView,
    ConfirmScreen,
    NewDevboxScreen,
    TmuxRunScreen,
    TmuxBroadcastScreen,
)


def binding_ids(owners: Iterable[type[DOMNode]]) -> set[str]:
    """Every binding id of `owners` (their own BINDINGS, not inherited ones)."""
    return {
        b.id
        for owner in owners
        for b in owner.__dict__.get("BINDINGS", [])
        if isinstance(b, Binding) and b.id
    }
