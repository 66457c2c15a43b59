"""The logs screen: one container's log, followed live, with search.

Lines come from `engine.actions.logs(key, follow=True)` in an exclusive worker (leaving the
screen cancels it, and the engine's reader thread stops with it). Lines are buffered and
added to the view a few times a second, so a burst of thousands of lines is one redraw.

Keys: `/` search (highlights as you type, Enter jumps to the first match), `n` / `N` next /
previous match, `f` follow on or off (on: the view sticks to the newest line), Esc closes the
search bar, or the screen.
"""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import Footer, Input, Label

from clawtui.engine.api.models import ContainerInfo
from clawtui.engine.api.protocols import ContainerActionsAPI
from clawtui.tui.widgets.log_view import LogView


class LogsScreen(Screen[None]):
    """The log of one container."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back", id="logs.back", tooltip="Close search, or the logs"),
        Binding("slash", "search", "Search", id="logs.search", tooltip="Find text in the log"),
        Binding("n", "next_match(1)", "Next", id="logs.next", tooltip="Next match"),
        Binding("N", "next_match(-1)", "Prev", id="logs.previous", tooltip="Previous match"),
        Binding("f", "toggle_follow", "Follow", id="logs.follow", tooltip="Stick to new lines"),
    ]

    TAIL: ClassVar[int] = 500
    """How many old lines to show before following."""
    FLUSH_SECONDS: ClassVar[float] = 0.1
    """Buffered lines are added to the view this often."""

    def __init__(self, container: ContainerInfo, actions: ContainerActionsAPI) -> None:
        super().__init__(classes="logs-screen")
        self.container = container
        self.actions = actions
        self._follow = True
        self.ended: str | None = None
        """Why the stream stopped, once it has."""
        self._pending: list[str] = []

    def compose(self) -> ComposeResult:
        with Horizontal(id="logs-title"):
            yield Label(Text(f"Logs · {self.container.name} · {self.container.host}"),
                        id="logs-name")  # fmt: skip
            yield Label(id="logs-status")
        yield LogView(id="logs-view")
        yield Input(placeholder="Search the log (Enter: jump, Esc: close)", id="logs-search")
        yield Footer(show_command_palette=False)

    @property
    def view(self) -> LogView:
        return self.query_one(LogView)

    @property
    def search_bar(self) -> Input:
        return self.query_one("#logs-search", Input)

    def on_mount(self) -> None:
        self.search_bar.display = False
        self.view.focus()
        self.set_interval(self.FLUSH_SECONDS, self.flush)
        self._show_status()
        self._stream()

    # -- the stream ----------------------------------------------------------------------------
    @work(exclusive=True, group="logs", exit_on_error=False)
    async def _stream(self) -> None:
        stream = self.actions.logs(self.container.key, tail=self.TAIL, follow=True)
        try:
            async for line in stream:
                self._pending.append(line)
            self.ended = "the log stream ended (the container stopped)"
        except Exception as exc:
            self.ended = f"could not read the log: {exc}"
            self.notify(str(exc), title="Logs", severity="error", markup=False)
        finally:
            aclose = getattr(stream, "aclose", None)
            if aclose is not None:
                await aclose()
        self.flush()
        self._show_status()

    def flush(self) -> None:
        """Add the buffered lines to the view (and follow them)."""
        if not self._pending:
            return
        lines, self._pending = self._pending, []
        self.view.extend(lines)
        self._show_status()

    def _show_status(self) -> None:
        view = self.view
        following = self.follow and view.is_vertical_scroll_end
        parts = [f"{len(view.lines)} lines", "following" if following else "paused (f follows)"]
        if view.search_text:
            at, total = view.match_position
            parts.append(f"{at}/{total} for {view.search_text!r}" if total else
                         f"no match for {view.search_text!r}")  # fmt: skip
        if self.ended:
            parts.append(self.ended)
        self.query_one("#logs-status", Label).update(Text(" · ".join(parts)))

    # -- keys ----------------------------------------------------------------------------------
    def action_back(self) -> None:
        if self.search_bar.display:
            self.search_bar.display = False
            self.view.focus()
            return
        self.dismiss()

    def action_search(self) -> None:
        self.search_bar.display = True
        self.search_bar.value = self.view.search_text
        self.search_bar.focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        self.view.search(event.value)
        self._show_status()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.search_bar.display = False
        self.view.focus()
        self.view.search(event.value)
        if event.value:
            self._jump(1)
        self._show_status()

    def action_next_match(self, direction: int) -> None:
        if not self.view.search_text:
            self.notify("Search first: press /", title="Logs")
            return
        self._jump(direction)
        self._show_status()

    def _jump(self, direction: int) -> None:
        if self.view.next_match(direction) is None:
            self.notify(f"No match for {self.view.search_text!r}", title="Logs", markup=False)
            return
        self.follow = False

    @property
    def follow(self) -> bool:
        """The view sticks to the newest line."""
        return self._follow

    @follow.setter
    def follow(self, on: bool) -> None:
        self._follow = on
        if self.is_mounted:
            self.view.auto_scroll = on
            if on:
                self.view.scroll_end(animate=False)
            self._show_status()

    def action_toggle_follow(self) -> None:
        self.follow = not self.follow
