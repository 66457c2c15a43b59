"""What the parts of the dev containers panel (cards, memory batch, tmux pane) may use of it.

`DevboxesPanel` is one widget made of three parts (`DevboxCards`, `MemoryBatch`, `TmuxPane`),
each in its own module. At run time the parts are plain mixins; for the type checker they
derive from `PanelParts`, which declares the panel (a Textual `Vertical`) and the members one
part uses of another, so a misspelt or missing member is a type error, not a crash.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from textual.containers import Vertical

if TYPE_CHECKING:
    from textual.widgets import Button
    from textual.worker import Worker

    from clawtui.config import MemoryConfig, Settings
    from clawtui.engine.api.memory import ApplyResult, MemoryChange
    from clawtui.engine.api.models import ContainerInfo, HostInfo
    from clawtui.engine.api.protocols import EngineAPI
    from clawtui.tui.widgets.devbox_card import DevboxCard
    from clawtui.tui.widgets.devbox_cards import CardList


class PanelParts(Vertical):
    """The panel as its parts see it (type checking only; see the module's docstring)."""

    engine: EngineAPI
    settings: Settings
    rules: MemoryConfig
    hosts: dict[str, HostInfo]
    cards: dict[str, DevboxCard]
    in_flight: bool
    history: list[MemoryChange]
    last_result: ApplyResult | None
    tmux_shown_for: str | None
    _current: str | None
    _clock: Callable[[], float]

    @property
    def card_list(self) -> CardList:
        raise NotImplementedError

    @property
    def apply_button(self) -> Button:
        raise NotImplementedError

    @property
    def can_resize(self) -> bool:
        raise NotImplementedError

    @property
    def current_card(self) -> DevboxCard | None:
        raise NotImplementedError

    def targets(self) -> list[ContainerInfo]:
        raise NotImplementedError

    def refresh_tmux(self) -> None:
        raise NotImplementedError

    def refresh_ceilings(self, host: str, *, moved: str | None = None) -> None:
        raise NotImplementedError

    def _sync(self) -> None:
        raise NotImplementedError

    def _load_history(self) -> Worker[None]:
        raise NotImplementedError
