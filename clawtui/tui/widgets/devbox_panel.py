"""The Dev containers panel: a card per dev or pool container, memory sliders, and Apply.

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

import logging
from collections.abc import Callable, Iterable, Mapping
from typing import ClassVar

from rich.text import Text
from textual import events, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.css.query import NoMatches
from textual.widgets import Button, Label, Static

from clawtui.config import Settings
from clawtui.engine.api.models import ContainerInfo, ContainerStats, EventKind, HostInfo
from clawtui.engine.api.protocols import EngineAPI, devboxes_of, memory_of, tmux_of
from clawtui.engine.memory.models import ApplyResult, BatchState, MemoryChange, Outcome
from clawtui.engine.sessions.tmux_manager import tmux_name
from clawtui.tui.container_actions import CONTAINER_BINDINGS, ContainerActionRequested
from clawtui.tui.format import format_bytes
from clawtui.tui.memory_text import (
    below_usage,
    history_text,
    plan_lines,
    result_lines,
    result_severity,
    rows_from_result,
    warning_lines,
)
from clawtui.tui.messages import EngineEvent, as_model
from clawtui.tui.screens.confirm import ConfirmScreen
from clawtui.tui.widgets.devbox_card import DevboxCard
from clawtui.tui.widgets.empty_state import EmptyState
from clawtui.tui.widgets.host_header import HostHeaders
from clawtui.tui.widgets.slider import MemorySlider

log = logging.getLogger(__name__)

ROLES = frozenset({"devbox", "pool"})
"""`clawtui.role` values shown here (the roles whose memory may be rebalanced)."""
WHO = "tui"
HISTORY_ROWS = 12

EMPTY_TITLE = "No dev containers"
EMPTY_BODY = (
    "Dev containers are created here (press n) or with `clawtui dev create`: an SSH-ready\n"
    "container with tmux, key-only auth and its own memory limit. Any container labelled\n"
    "clawtui.role=devbox or pool on a configured host is listed here, with a memory slider."
)
EMPTY_HINT = "Configured in the [devboxes] and [memory] sections of config.toml."


def truth_after(outcome: Outcome, old: int, new: int) -> int | None:
    """The limit a container has after a batch outcome (None: the batch did not reach it)."""
    if outcome in (Outcome.APPLIED, Outcome.ROLLBACK_FAILED, Outcome.UNCHANGED):
        return new
    if outcome in (Outcome.ROLLED_BACK, Outcome.FAILED):
        return old
    return None


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
        cards = [c for c in self.cards if not c.slider.disabled] or self.cards
        if not cards:
            return
        focused = self.screen.focused
        index = next((i for i, c in enumerate(cards) if c.slider is focused), None)
        index = 0 if index is None else max(0, min(len(cards) - 1, index + delta))
        cards[index].slider.focus()
        cards[index].scroll_visible(animate=False)


class DevboxesPanel(Vertical, can_focus=True):
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
        *CONTAINER_BINDINGS,
        Binding("n", "new_devbox", "New", id="devbox.create", tooltip="Create a dev container"),
        Binding("enter", "attach", "Attach", id="devbox.attach",
                tooltip="Attach to the container's tmux session (SSH); detach with prefix d"),
        Binding("w", "tmux_run", "Run", id="tmux.run",
                tooltip="Start a command in a new tmux window of the selected container"),
        Binding("b", "tmux_broadcast", "Broadcast", id="tmux.broadcast",
                tooltip="Type a line into the tmux session of every marked container"),
        Binding("A", "apply", "Apply", id="memory.apply",
                tooltip="Apply every moved slider as one batch"),
        Binding("U", "reset", "Reset", id="memory.reset",
                tooltip="Put every slider back to its container's limit"),
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

    def compose(self) -> ComposeResult:
        yield HostHeaders(id="devbox-hosts")
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

    def pending_changes(self) -> dict[str, int]:
        """{container key: new limit} of every moved slider."""
        return {key: card.slider.value for key, card in self.cards.items() if card.dirty}

    def pending_by_host(self) -> dict[str, int]:
        """Bytes the moved sliders would add to each host's allocation."""
        out: dict[str, int] = {}
        for card in self.cards.values():
            out[card.info.host] = out.get(card.info.host, 0) + card.pending
        return out

    # -- engine data ---------------------------------------------------------------------------
    def load(self, hosts: Iterable[HostInfo], containers: Iterable[ContainerInfo]) -> None:
        """A full snapshot (start, RESYNC, refresh): cards are added, updated or removed, never
        rebuilt; the recent changes are read again (the engine is running by now)."""
        if memory_of(self.engine) is not None:
            self._load_history()
        self.hosts = {h.name: h for h in hosts}
        wanted = {c.key: c for c in containers if c.role in ROLES}
        for key in [k for k in self.cards if k not in wanted]:
            self.remove_container(key)
        for info in wanted.values():
            self.upsert(info, sync=False)
        self._resort()
        self._sync()
        self.refresh_tmux()

    def update_host(self, info: HostInfo) -> None:
        self.hosts[info.name] = info
        if any(c.info.host == info.name for c in self.cards.values()):
            self._sync()

    def upsert(self, info: ContainerInfo, *, sync: bool = True) -> None:
        """A CONTAINER event: update its card, add one, or drop it if its role changed."""
        if info.role not in ROLES:
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
                ceiling=self._ceiling(info.host, info.memory_limit),
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
        cards = [c for c in self.card_list.cards if c.key in self.cards]
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

    def memory_event(self, result: ApplyResult) -> None:
        """A batch touched Docker (ours or anyone's): add it to the recent changes."""
        self._add_history(rows_from_result(result))

    # -- layout --------------------------------------------------------------------------------
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

    def _ceiling(self, host: str, limit: int) -> int:
        """The highest limit the host's budget allows one container whose limit is `limit`."""
        info = self.hosts.get(host)
        if info is None or info.memory.total <= 0:
            return limit
        step = int(self.rules.step)
        ceiling = limit + max(0, info.memory.available)
        return max(limit, ceiling - ceiling % step)

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
            card.set_ceiling(self._ceiling(card.info.host, card.server_limit))
        self._sync_actions()

    def _sync_actions(self) -> None:
        changes = self.pending_changes()
        self.apply_button.disabled = self.in_flight or not changes or not self.can_resize
        self.query_one("#memory-reset", Button).disabled = self.in_flight or not changes
        self.query_one("#memory-pending", Label).update(self._pending_text(changes))

    def _pending_text(self, changes: Mapping[str, int]) -> Text:
        if not self.can_resize:
            return Text("Memory limits can only be changed over a local engine.", style="dim")
        if self.in_flight:
            return Text("Applying…", style="bold")
        if not changes:
            return Text("Move a slider to change a limit; Apply sends every change at once.",
                        style="dim")  # fmt: skip
        delta = sum(self.pending_by_host().values())
        sign = "+" if delta >= 0 else "-"
        text = Text(f"{len(changes)} change{'s' if len(changes) > 1 else ''} pending "
                    f"({sign}{format_bytes(abs(delta))})")  # fmt: skip
        for name, info in self.hosts.items():
            if info.memory.total <= 0:
                continue
            left = info.memory.available - self.pending_by_host().get(name, 0)
            if name in {c.info.host for c in self.cards.values() if c.dirty}:
                if left < 0:
                    text.append(f" · {name} over budget by {format_bytes(-left)}", style="bold")
                else:
                    text.append(f" · {format_bytes(left)} left on {name}")
        return text

    # -- the user's side -----------------------------------------------------------------------
    def on_memory_slider_changed(self, event: MemorySlider.Changed) -> None:
        event.stop()
        try:
            card = event.slider.query_ancestor(DevboxCard)
        except NoMatches:
            return
        card.refresh_change()
        if self.is_mounted:
            headers = self.query_one(HostHeaders)
            headers.set_pending(card.info.host, self.pending_by_host().get(card.info.host, 0))
            self._sync_actions()

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

    def action_reset(self) -> None:
        """Every slider back to its container's limit."""
        for card in self.cards.values():
            if card.dirty and not card.slider.dragging:
                card.slider.value = card.server_limit
        self._sync()

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

    # -- apply ---------------------------------------------------------------------------------
    def action_apply(self) -> None:
        """Plan, confirm if needed, and apply every moved slider as one batch."""
        if self.in_flight:
            self.app.notify("A batch is in flight.", title="Memory", severity="warning")
            return
        changes = self.pending_changes()
        if not changes or not self.can_resize:
            self.app.notify("Nothing to apply: move a slider first.", title="Memory")
            return
        self.in_flight = True
        self._sync_actions()
        self._apply(changes)

    @work(group="memory-apply", exit_on_error=False)
    async def _apply(self, changes: dict[str, int]) -> None:
        memory = memory_of(self.engine)
        try:
            assert memory is not None
            plan = await memory.plan(changes, who=WHO, confirm_below_usage=True)
            if not plan.ok:
                self._show_result(plan_lines(plan), "warning")
                self.app.notify(plan.summary() or "The batch was refused.", title="Memory",
                                severity="warning", markup=False, timeout=8)  # fmt: skip
                return
            confirm = any(below_usage(c) for c in plan.checks)
            if plan.warnings:
                screen = ConfirmScreen("Apply memory changes?", warning_lines(plan),
                                       yes="Apply anyway", danger=confirm)  # fmt: skip
                if await self.app.push_screen_wait(screen) is None:
                    self._show_result([Text("Cancelled: nothing was changed.")], "")
                    return
            result = await memory.apply(changes, who=WHO, confirm_below_usage=confirm)
            self.last_result = result
            self._show_result(result_lines(result), result_severity(result))
            self._snap(result, changes)
            self._add_history(rows_from_result(result))
            self.app.notify(result.summary(), title="Memory", severity=result_severity(result),
                            markup=False, timeout=8)  # fmt: skip
        except Exception as exc:
            log.exception("memory batch failed")
            failed = Text("The batch did not go through: ", style="bold") + Text(str(exc))
            self._show_result([failed], "error")
            self.app.notify(str(exc) or type(exc).__name__, title="Memory", severity="error",
                            markup=False, timeout=10)  # fmt: skip
        finally:
            self.in_flight = False
            self._sync()

    def _snap(self, result: ApplyResult, sent: Mapping[str, int]) -> None:
        """Sliders of the batch go to the limits the engine now has."""
        if result.state is BatchState.REFUSED:
            return  # nothing changed: the user's values stay, to be adjusted
        for o in result.outcomes:
            card = self.cards.get(o.check.key)
            limit = truth_after(o.outcome, o.check.old_limit, o.check.new_limit)
            if card is not None and limit is not None and card.is_mounted:
                card.snap(limit, sent=sent.get(o.check.key))

    def _show_result(self, lines: list[Text], severity: str) -> None:
        area = self.query_one("#memory-result", Static)
        area.update(Text("\n").join(lines))
        area.display = True
        for each in ("information", "warning", "error"):
            area.set_class(severity == each, f"-{each}")

    # -- history -------------------------------------------------------------------------------
    @work(exclusive=True, group="memory-history", exit_on_error=False)
    async def _load_history(self) -> None:
        memory = memory_of(self.engine)
        if memory is None:
            return
        try:
            rows = await memory.history(HISTORY_ROWS)
        except Exception as exc:
            log.warning("could not read the memory history: %s", exc)
            return
        self._add_history(rows)

    def _add_history(self, rows: Iterable[MemoryChange]) -> None:
        seen = {(r.batch_id, r.host, r.container_id) for r in self.history}
        new = [r for r in rows if (r.batch_id, r.host, r.container_id) not in seen]
        if not new:
            return
        self.history = sorted([*new, *self.history], key=lambda r: r.ts, reverse=True)
        del self.history[HISTORY_ROWS:]
        self.query_one("#memory-history", Static).update(history_text(self.history))

    # -- tmux ----------------------------------------------------------------------------------
    def refresh_tmux(self) -> None:
        """Read the current card's tmux sessions again (in a worker; stale answers dropped)."""
        if not self.is_mounted or tmux_of(self.engine) is None:
            return
        card = self.current_card
        if card is None:
            self.tmux_shown_for = None
            self.query_one("#tmux-sessions", Static).update(Text(""))
            return
        self._list_tmux(card.info)

    def tmux_event(self, data: Mapping[str, object]) -> None:
        """A TMUX event: refresh when it concerns the container shown (or is a broadcast)."""
        card = self.current_card
        if card is None:
            return
        targets = data.get("targets")
        names = {data.get("target"), data.get("key")}
        if isinstance(targets, list):
            names.update(targets)
        if card.key in names or tmux_name(card.info) in names or card.info.name in names:
            self.refresh_tmux()

    @work(exclusive=True, group="tmux-list", exit_on_error=False)
    async def _list_tmux(self, info: ContainerInfo) -> None:
        from clawtui.tui.tmux_text import error_text, listing_text

        manager = tmux_of(self.engine)
        if manager is None:
            return
        area = self.query_one("#tmux-sessions", Static)
        if info.state != "running":
            area.update(Text(f"{info.name} is not running.", style="dim"))
            self.tmux_shown_for = info.key
            return
        try:
            listing = await manager.sessions(tmux_name(info))
        except Exception as exc:  # refused key, unreachable, no sshd: say it where it shows
            shown = error_text(str(exc) or type(exc).__name__)
        else:
            shown = listing_text(listing, self._clock())
        card = self.current_card
        if card is None or card.key != info.key:
            return  # the selection moved on while we asked
        area.update(shown)
        self.tmux_shown_for = info.key

    def action_tmux_run(self) -> None:
        """Ask for a command, cwd and window name; start it in the current container."""
        from clawtui.tui.screens.tmux_forms import RunRequest, TmuxRunScreen

        manager = tmux_of(self.engine)
        card = self.current_card
        if manager is None or card is None:
            self.app.notify("No container to run in here." if manager else
                            "tmux is not available over this engine.",
                            title="tmux", severity="warning")  # fmt: skip
            return
        info = card.info

        def done(answer: RunRequest | None) -> None:
            if answer is not None:
                self._tmux_run(info, answer)

        self.app.push_screen(TmuxRunScreen(tmux_name(info), self.settings.attach.session), done)

    @work(group="tmux-send", exit_on_error=False)
    async def _tmux_run(self, info: ContainerInfo, request: object) -> None:
        from clawtui.tui.screens.tmux_forms import RunRequest

        assert isinstance(request, RunRequest)
        manager = tmux_of(self.engine)
        assert manager is not None
        name = tmux_name(info)
        try:
            session = await manager.run(name, request.command, session=request.session,
                                        window=request.window, cwd=request.cwd)  # fmt: skip
        except Exception as exc:
            self.app.notify(str(exc) or type(exc).__name__, title=f"tmux run in {name}",
                            severity="error", timeout=12, markup=False)  # fmt: skip
            return
        self.app.notify(f"started in {name}, session {session}: {' '.join(request.command)}",
                        title="tmux", markup=False)  # fmt: skip
        self.refresh_tmux()

    def action_tmux_broadcast(self) -> None:
        """Ask for a line; type it into the session of every marked container."""
        from clawtui.tui.screens.tmux_forms import BroadcastRequest, TmuxBroadcastScreen

        manager = tmux_of(self.engine)
        targets = self.targets()
        if manager is None or not targets:
            self.app.notify("No container to send to here." if manager else
                            "tmux is not available over this engine.",
                            title="tmux", severity="warning")  # fmt: skip
            return
        names = [tmux_name(t) for t in targets]

        def done(answer: BroadcastRequest | None) -> None:
            if answer is not None:
                self._tmux_broadcast(names, answer)

        self.app.push_screen(TmuxBroadcastScreen(names, self.settings.attach.session), done)

    @work(group="tmux-send", exit_on_error=False)
    async def _tmux_broadcast(self, names: list[str], request: object) -> None:
        from clawtui.tui.screens.tmux_forms import BroadcastRequest

        assert isinstance(request, BroadcastRequest)
        manager = tmux_of(self.engine)
        assert manager is not None
        try:
            outcomes = await manager.broadcast(names, request.text, session=request.session)
        except Exception as exc:
            self.app.notify(str(exc) or type(exc).__name__, title="tmux broadcast",
                            severity="error", timeout=12, markup=False)  # fmt: skip
            return
        failed = [o for o in outcomes if not o.ok]
        summary = f"sent to {len(outcomes) - len(failed)} of {len(outcomes)} in session " \
                  f"{request.session}"  # fmt: skip
        if failed:
            lines = "\n".join(f"{o.container}: {o.error}" for o in failed)
            self.app.notify(f"{summary}\n{lines}", title="tmux broadcast", severity="error",
                            timeout=15, markup=False)  # fmt: skip
        else:
            self.app.notify(summary, title="tmux broadcast", markup=False)
