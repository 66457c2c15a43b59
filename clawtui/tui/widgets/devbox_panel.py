"""The Dev containers panel: a card per dev or pool container, memory sliders, and Apply.

The panel composes its parts: the cards (`devbox_cards.py`), the memory batch and recent changes
(`memory_batch.py`) and the tmux pane (`tmux_pane.py`).

Above the cards, the host headers count the sliders' pending limits in, so allocated and
available move as a slider moves. Apply sends every moved slider as one batch: the engine's
`plan` first (warnings and limits below the memory in use are confirmed in a modal), then
`apply`, in a worker; the result is shown per container, the sliders go to the limits the
engine reports, and the batch joins the "recent changes" list (read from `memory.history()`
and kept current from the engine's memory events).

Races (seed 000, "Frontend Race Condition Handling"): events update cards in place, never by
re-rendering; a stats tick only touches usage; a new limit from the engine moves a slider only
if the user is not dragging it and has not moved it (see `DevboxCard.set_server_limit`); cards
are not re-sorted while a slider is dragged; and the Apply button is disabled while a batch is
in flight, then re-enabled whatever happened (try/finally).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import ClassVar

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Button, Label, Static

from clawtui.config import Settings
from clawtui.engine.api.memory import ApplyResult, MemoryChange
from clawtui.engine.api.models import ContainerInfo, EventKind, HostInfo
from clawtui.engine.api.protocols import EngineAPI, devboxes_of, memory_of, tmux_of
from clawtui.tui.container_actions import CONTAINER_BINDINGS, ContainerActionRequested
from clawtui.tui.memory_text import (
    history_text,
)
from clawtui.tui.messages import EngineEvent, as_model
from clawtui.tui.widgets.devbox_card import DevboxCard
from clawtui.tui.widgets.devbox_cards import CardList, DevboxCards
from clawtui.tui.widgets.empty_state import EmptyState
from clawtui.tui.widgets.host_filter import (
    FilterBar,
    FilteredPanel,
    RowFilter,
    filter_binding,
    host_binding,
)
from clawtui.tui.widgets.host_header import HostHeaders
from clawtui.tui.widgets.memory_batch import MemoryBatch
from clawtui.tui.widgets.tmux_pane import TmuxPane

EMPTY_TITLE = "No dev containers"
EMPTY_BODY = (
    "Dev containers are created here (press n) or with `clawtui dev create`: an SSH-ready\n"
    "container with tmux, key-only auth and its own memory limit. Any container labelled\n"
    "clawtui.role=devbox or pool on a configured host is listed here, with a memory slider."
)
EMPTY_HINT = "Configured in the [devboxes] and [memory] sections of config.toml."


class DevboxesPanel(DevboxCards, MemoryBatch, TmuxPane, FilteredPanel, Vertical, can_focus=True):
    """Dev and pool containers with their memory, the pending budget, Apply and history.

    The panel itself takes the keyboard when it has no card (so `n` works on the empty state)
    or when the card that had it goes away.
    """

    ENGINE_EVENTS: ClassVar[frozenset[EventKind]] = frozenset(
        {
            EventKind.HOST,
            EventKind.CONTAINER,
            EventKind.CONTAINER_REMOVED,
            EventKind.MEMORY,
            EventKind.TMUX,
        }
    )

    BINDINGS: ClassVar[list[BindingType]] = [
        # Marking is for broadcasts here: both are on the help screen, not in the footer.
        *(
            replace(b, show=False) if isinstance(b, Binding) and b.id == "container.mark" else b
            for b in CONTAINER_BINDINGS
        ),
        Binding("n", "new_devbox", "New", id="devbox.create", tooltip="Create a dev container"),
        Binding("enter", "attach", "Attach", id="devbox.attach",
                tooltip="Attach to the container's tmux session (SSH); detach with prefix d"),
        # The least-used keys are not in the footer (it must fit 150 columns): see `?`.
        Binding("w", "tmux_run", "Run", id="tmux.run", show=False,
                tooltip="Start a command in a new tmux window of the selected container"),
        Binding("b", "tmux_broadcast", "Broadcast", id="tmux.broadcast", show=False,
                tooltip="Type a line into the tmux session of every marked container"),
        Binding("A", "apply", "Apply", id="memory.apply",
                tooltip="Apply every moved slider as one batch"),
        Binding("U", "reset", "Reset", id="memory.reset", show=False,
                tooltip="Put every slider back to its container's limit"),
        filter_binding("devbox", "name, image or host"),
        host_binding("devbox"),
    ]  # fmt: skip

    def __init__(self, clock: Callable[[], float], engine: EngineAPI, settings: Settings) -> None:
        super().__init__(id="devboxes-panel")
        self._clock = clock
        self.engine = engine
        self.settings = settings
        self.rules = settings.memory
        self.hosts: dict[str, HostInfo] = {}
        self.cards: dict[str, DevboxCard] = {}
        """Cards by container key."""
        self.in_flight = False
        """A batch is being planned or applied."""
        self.history: list[MemoryChange] = []
        """Recent changes, newest first."""
        self.last_result: ApplyResult | None = None
        self._current: str | None = None
        self.tmux_shown_for: str | None = None
        """Key of the container whose tmux sessions are shown."""
        self.row_filter = RowFilter()
        """`/` and `H`: which cards are shown (a hidden card's moved slider stays pending)."""

    def compose(self) -> ComposeResult:
        yield HostHeaders(budget=True, id="devbox-hosts")
        yield FilterBar("filter: part of a name, image or host", prefix="devbox")
        with Horizontal(id="devbox-body"):
            yield CardList(id="devbox-cards")
            with Vertical(id="memory-side"):
                yield Label(Text("tmux sessions"), classes="side-title", id="tmux-title")
                yield Static(id="tmux-sessions")
                yield Static(id="memory-result")
                yield Label(Text("Recent changes"), classes="side-title")
                with VerticalScroll(id="memory-history-scroll"):
                    yield Static(history_text([]), id="memory-history")
        with Horizontal(id="memory-actions"):
            yield Button("Apply changes", id="memory-apply", variant="primary", compact=True,
                         disabled=True)  # fmt: skip
            yield Button("Reset", id="memory-reset", compact=True, disabled=True)
            yield Label(id="memory-pending")
        yield EmptyState(EMPTY_TITLE, EMPTY_BODY, hint=EMPTY_HINT, id="devboxes-empty")

    def on_mount(self) -> None:
        self.query_one("#memory-result").display = False
        has_tmux = tmux_of(self.engine) is not None
        self.query_one("#tmux-title").display = has_tmux
        self.query_one("#tmux-sessions").display = has_tmux
        self._sync()

    # -- properties ----------------------------------------------------------------------------
    @property
    def card_list(self) -> CardList:
        return self.query_one(CardList)

    @property
    def apply_button(self) -> Button:
        return self.query_one("#memory-apply", Button)

    @property
    def can_resize(self) -> bool:
        return memory_of(self.engine) is not None

    @property
    def current_card(self) -> DevboxCard | None:
        """The card holding the keyboard (or the last one that did)."""
        focused = self.screen.focused if self.is_attached else None
        for card in self.cards.values():
            if focused is not None and card.is_mounted and card.slider is focused:
                self._current = card.key
                return card
        if self._current in self.cards:
            return self.cards[self._current]
        ordered = self.card_list.cards
        return ordered[0] if ordered else None

    # -- engine data ---------------------------------------------------------------------------
    def on_engine_event(self, message: EngineEvent) -> None:
        data = message.data
        if message.kind is EventKind.HOST:
            self.update_host(as_model(HostInfo, data["info"]))
        elif message.kind is EventKind.CONTAINER:
            self.upsert(as_model(ContainerInfo, data["container"]))
        elif message.kind is EventKind.CONTAINER_REMOVED:
            self.remove_container(message.container_key)
        elif message.kind is EventKind.MEMORY:
            self.memory_event(as_model(ApplyResult, data["result"]))
        elif message.kind is EventKind.TMUX:
            self.tmux_event(data)

    # -- layout --------------------------------------------------------------------------------

    def _sync(self) -> None:
        """Headers, ceilings, buttons and the pending line, from the cards and hosts."""
        if not self.is_mounted:
            return
        empty = not self.cards
        self.set_class(empty, "-empty")
        shown_hosts = [h for name, h in self.hosts.items()
                       if any(c.info.host == name for c in self.cards.values())]  # fmt: skip
        headers = self.query_one(HostHeaders)
        headers.load(shown_hosts)
        pending = self.pending_by_host()
        for host in shown_hosts:
            headers.set_pending(host.name, pending.get(host.name, 0))
        for card in self.cards.values():
            card.set_ceiling(self._ceiling(card.info.host, card.server_limit, card.key))
        several = len({c.info.host for c in self.cards.values()}) > 1
        for card in self.cards.values():
            card.host_label.display = several
        self.refilter()
        self._sync_actions()

    # -- filters: `/` text, `H` cycles hosts (host_filter.FilteredPanel) ----------------------
    def filter_hosts(self) -> list[str]:
        return sorted({c.info.host for c in self.cards.values()})

    def show_filtered(self) -> int:
        shown, lost_focus = 0, False
        for card in self.cards.values():
            info = card.info
            card.display = self.row_filter.passes(info.host, info.name, info.image)
            shown += card.display
            lost_focus |= not card.display and card.is_mounted and card.slider.has_focus
        if lost_focus:  # the keyboard goes to a card still shown (or the panel), not away
            self.focus_first()
        return shown

    def filter_done(self) -> None:
        self.focus_first()

    # -- the user's side -----------------------------------------------------------------------

    def on_descendant_focus(self, event: events.DescendantFocus) -> None:
        before = self._current
        card = self.current_card
        if card is not None:
            self._current = card.key
            if card.key != before or self.tmux_shown_for != card.key:
                self.refresh_tmux()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "memory-apply":
            self.action_apply()
        elif event.button.id == "memory-reset":
            self.action_reset()

    def action_toggle_mark(self) -> None:
        card = self.current_card
        if card is not None:
            card.set_marked(not card.marked)

    def targets(self) -> list[ContainerInfo]:
        """The marked containers (in display order), else the current one."""
        marked = [c.info for c in self.card_list.cards if c.marked]
        if marked:
            return marked
        card = self.current_card
        return [card.info] if card is not None else []

    def action_container(self, verb: str) -> None:
        self.post_message(ContainerActionRequested(self, verb, self.targets()))

    def action_attach(self) -> None:
        """Suspend the TUI, attach to the current card's tmux session, come back here."""
        from clawtui.tui.attach import attach_and_tell

        card = self.current_card
        if card is None:
            return
        key = card.key
        if not attach_and_tell(self.app, self.settings, card.info):
            return
        again = self.cards.get(key)
        if again is not None and again.is_mounted:
            self._current = key
            again.slider.focus()

    def on_click(self, event: events.Click) -> None:
        if event.chain == 2 and self.current_card is not None:
            event.stop()
            self.action_attach()

    def action_new_devbox(self) -> None:
        from clawtui.tui.screens.new_devbox import NewDevboxScreen

        devboxes = devboxes_of(self.engine)
        if devboxes is None:
            self.app.notify("Dev containers cannot be created over this engine.",
                            title="Dev containers", severity="warning")  # fmt: skip
            return
        self.app.push_screen(NewDevboxScreen(devboxes, self.settings.devboxes))
