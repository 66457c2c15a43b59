"""Which classes own key bindings, so `[keymap]` entries can be checked against their ids.

Textual applies a keymap to whatever bindings are live; an id that no binding has is silently
ignored. The app checks the user's `[keymap]` against every id listed here at start and says
which ones are unknown. A new screen or widget with bindings is added to `_OWNERS`
(`BINDING_OWNERS` is the tuple of their classes).
"""

from __future__ import annotations

from collections.abc import Iterable
from importlib import import_module

from textual.binding import Binding
from textual.dom import DOMNode

# (module, class) of each owner: imported when the ids are asked for, not before the first frame.
_OWNERS: tuple[tuple[str, str], ...] = (
    ("clawtui.tui.screens.main", "MainScreen"),
    ("clawtui.tui.screens.help", "HelpScreen"),
    ("clawtui.tui.widgets.container_table", "ContainerTable"),
    ("clawtui.tui.widgets.panels", "FleetPanel"),
    ("clawtui.tui.widgets.devbox_panel", "DevboxesPanel"),
    ("clawtui.tui.widgets.pools_panel", "PoolsPanel"),
    ("clawtui.tui.widgets.devbox_cards", "CardList"),
    ("clawtui.tui.widgets.slider", "MemorySlider"),
    ("clawtui.tui.screens.logs", "LogsScreen"),
    ("clawtui.tui.widgets.log_view", "LogView"),
    ("clawtui.tui.screens.confirm", "ConfirmScreen"),
    ("clawtui.tui.screens.new_devbox", "NewDevboxScreen"),
    ("clawtui.tui.screens.tmux_forms", "TmuxRunScreen"),
    ("clawtui.tui.screens.tmux_forms", "TmuxBroadcastScreen"),
)


def binding_owners() -> tuple[type[DOMNode], ...]:
    """Every class that owns bindings (their modules imported on the first call)."""
    return tuple(getattr(import_module(module), name) for module, name in _OWNERS)


def __getattr__(name: str) -> object:
    if name == "BINDING_OWNERS":  # the tuple of classes, built when first asked for
        return binding_owners()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def binding_ids(owners: Iterable[type[DOMNode]]) -> set[str]:
    """Every binding id of `owners` (their own BINDINGS, not inherited ones)."""
    return {
        b.id
        for owner in owners
        for b in owner.__dict__.get("BINDINGS", [])
        if isinstance(b, Binding) and b.id
    }
