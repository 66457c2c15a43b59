"""The Dev containers panel's cards: one per dev or pool container, added, updated, removed and
sorted in place from engine data (never re-rendered), and the column that holds them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, ClassVar

from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll

from clawtui.engine.api.memory import matches_labels, memory_of
from clawtui.engine.api.models import ContainerInfo, ContainerStats, HostInfo
from clawtui.tui.widgets.devbox_card import DevboxCard

if TYPE_CHECKING:
    from clawtui.config import MemoryConfig
    from clawtui.engine.api.protocols import EngineAPI

ROLES = frozenset({"devbox", "pool"})
"""`clawtui.role` values shown here (the roles whose memory may be rebalanced); containers with
another of `[memory] adjustable_labels` (TinyClaw's dev containers) are shown too."""


class CardList(VerticalScroll, can_focus=False):
    """The scrolling column of cards; up / down move the keyboard from card to card."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "move(-1)", "Previous", id="devbox.previous", show=False),
        Binding("down", "move(1)", "Next", id="devbox.next", show=False),
    ]

    @property
    def cards(self) -> list[DevboxCard]:
        return [c for c in self.children if isinstance(c, DevboxCard)]

    def action_move(self, delta: int) -> None:
        shown = [c for c in self.cards if c.display]  # `/` and `H` hide cards
        cards = [c for c in shown if not c.slider.disabled] or shown
        if not cards:
            return
        focused = self.screen.focused
        index = next((i for i, c in enumerate(cards) if c.slider is focused), None)
        index = 0 if index is None else max(0, min(len(cards) - 1, index + delta))
        cards[index].slider.focus()
        cards[index].scroll_visible(animate=False)


if TYPE_CHECKING:
    from clawtui.tui.widgets.devbox_panel_parts import PanelParts as _Panel
else:
    _Panel = object


class DevboxCards(_Panel):
    """The cards of `DevboxesPanel` (a part of it: `self` is the panel)."""

    engine: EngineAPI
    rules: MemoryConfig
    hosts: dict[str, HostInfo]
    cards: dict[str, DevboxCard]

    def load(self, hosts: Iterable[HostInfo], containers: Iterable[ContainerInfo]) -> None:
        """A full snapshot (start, RESYNC, refresh): cards are added, updated or removed, never
        rebuilt; the recent changes are read again (the engine is running by now)."""
        if memory_of(self.engine) is not None:
            self._load_history()
        self.hosts = {h.name: h for h in hosts}
        wanted = {c.key: c for c in containers if self._is_dev(c)}
        for key in [k for k in self.cards if k not in wanted]:
            self.remove_container(key)
        for info in wanted.values():
            self.upsert(info, sync=False)
        self._resort()
        self._sync()
        self.refresh_tmux()

    def _is_dev(self, info: ContainerInfo) -> bool:
        return info.role in ROLES or matches_labels(info.labels, self.rules.adjustable_labels)

    def update_host(self, info: HostInfo) -> None:
        self.hosts[info.name] = info
        if any(c.info.host == info.name for c in self.cards.values()):
            self._sync()

    def upsert(self, info: ContainerInfo, *, sync: bool = True) -> None:
        """A CONTAINER event: update its card, add one, or drop it if its role changed."""
        if not self._is_dev(info):
            self.remove_container(info.key)
            return
        card = self.cards.get(info.key)
        if card is not None:
            if card.is_mounted:
                card.show_info(info)
            else:
                card.info = info
        else:
            card = DevboxCard(
                info,
                floor=int(self.rules.floor),
                step=int(self.rules.step),
                ceiling=self._ceiling(info.host, info.memory_limit, info.key),
                enabled=self.can_resize,
            )
            self.cards[info.key] = card
            self.card_list.mount(card, before=self._position(card))
            if self.has_focus:  # the panel held the keyboard for want of a card
                self.call_after_refresh(self.focus_first)
        if sync:
            self._sync()

    def remove_container(self, key: str) -> None:
        card = self.cards.pop(key, None)
        if card is None:
            return
        had_focus = card.is_mounted and card.slider.has_focus
        card.remove()
        self._sync()
        if had_focus:
            self.call_after_refresh(self.focus_first)

    def focus_first(self) -> None:
        """Put the keyboard on the first card's slider, or on the panel when it has none."""
        cards = [c for c in self.card_list.cards if c.key in self.cards and c.display]
        if cards and not cards[0].slider.disabled:
            cards[0].slider.focus()
        else:
            self.focus()

    def apply_stats(self, host: str, samples: Mapping[str, ContainerStats]) -> int:
        """One stats tick: usage, bars, sparklines; the sliders' values are never touched."""
        touched = 0
        for cid, sample in samples.items():
            card = self.cards.get(f"{host}/{cid}")
            if card is not None and card.is_mounted:
                card.add_sample(sample)
                touched += 1
        if touched:
            self._resort()
        return touched

    def _position(self, card: DevboxCard) -> DevboxCard | None:
        """The card the new `card` goes before, in sort order."""
        for other in self.card_list.cards:
            if other.sort_key > card.sort_key:
                return other
        return None

    def _resort(self) -> None:
        """Most used first; nothing moves while a slider is held."""
        cards = self.card_list.cards
        if not all(c.is_mounted for c in cards) or any(c.slider.dragging for c in cards):
            return
        wanted = sorted(cards, key=lambda c: c.sort_key)
        if wanted == cards:
            return
        for index, card in enumerate(wanted):
            if self.card_list.children[index] is not card:
                self.card_list.move_child(card, before=index)

    def _ceiling(self, host: str, limit: int, key: str | None = None) -> int:
        """The highest limit the host's free budget allows the container `key`, whose limit is
        `limit`: its own limit plus what is free on its host, less what the other moved sliders
        on that host take (or plus what they give back). Each host has its own budget."""
        info = self.hosts.get(host)
        if info is None or info.memory.total <= 0:
            return limit
        others = sum(c.pending for k, c in self.cards.items() if k != key and c.info.host == host)
        step = int(self.rules.step)
        ceiling = limit + max(0, info.memory.available - others)
        return max(limit, ceiling - ceiling % step)

    def refresh_ceilings(self, host: str, *, moved: str | None = None) -> None:
        """The ceilings of `host`'s cards after a slider there moved (`moved`: not that one)."""
        for key, card in self.cards.items():
            if key != moved and card.info.host == host:
                card.set_ceiling(self._ceiling(host, card.server_limit, key))
