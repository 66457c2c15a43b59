"""The Dev containers panel's tmux pane: the current container's sessions (read in a worker, stale
answers dropped, refreshed on TMUX events), and run / broadcast through the engine's tmux.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from rich.text import Text
from textual import work
from textual.widgets import Static

from clawtui.engine.api.tmux import tmux_name, tmux_of

if TYPE_CHECKING:
    from collections.abc import Callable

    from clawtui.config import Settings
    from clawtui.engine.api.models import ContainerInfo
    from clawtui.engine.api.protocols import EngineAPI


if TYPE_CHECKING:
    from clawtui.tui.widgets.devbox_panel_parts import PanelParts as _Panel
else:
    _Panel = object


class TmuxPane(_Panel):
    """tmux of `DevboxesPanel` (a part of it: `self` is the panel)."""

    engine: EngineAPI
    settings: Settings
    tmux_shown_for: str | None
    _clock: Callable[[], float]

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
                            title="tmux", severity="warning", markup=False)  # fmt: skip
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
                            title="tmux", severity="warning", markup=False)  # fmt: skip
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
