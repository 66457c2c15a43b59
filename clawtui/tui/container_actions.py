"""The container action keys (logs, start, stop, restart, remove, mark; attach on the Fleet
table) and what carries them out.

The Fleet table and the Dev containers panel both list containers, and both answer the same
keys with the same binding ids (`container.logs`, `container.start`, ...), so `[keymap]` moves
them everywhere at once. A widget only says what was asked and of which containers, with a
`ContainerActionRequested` message: the marked ones when any are marked, else the one under the
cursor. `ContainerActionRunner` (owned by the main screen) does the rest: the logs screen, the
confirmation before a remove, the engine calls in a worker, and a toast per failure with the
engine's own message.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widget import Widget

from clawtui.engine.api.fleet import actions_of
from clawtui.engine.api.models import ContainerInfo

# The protocols, the screens and the dev boxes' interface load when first used (not for the
# first frame, which imports this module for its message).
if TYPE_CHECKING:
    from textual.screen import Screen

    from clawtui.engine.api.protocols import EngineAPI
    from clawtui.tui.screens.confirm import Confirmed

log = logging.getLogger(__name__)

VERBS = ("logs", "start", "stop", "restart", "remove")
PAST = {"start": "started", "stop": "stopped", "restart": "restarted", "remove": "removed"}
OWNER_LABEL = "clawtui.owner"

_LIFECYCLE = Binding.Group("Start/Stop/Restart/Remove", compact=True)

CONTAINER_BINDINGS: list[BindingType] = [
    Binding("l", "container('logs')", "Logs", id="container.logs",
            tooltip="Follow the container's log, with search"),
    Binding("s", "container('start')", "Start", id="container.start", group=_LIFECYCLE,
            tooltip="Start the marked containers (or the selected one)"),
    Binding("S", "container('stop')", "Stop", id="container.stop", group=_LIFECYCLE,
            tooltip="Stop the marked containers (or the selected one)"),
    Binding("R", "container('restart')", "Restart", id="container.restart", group=_LIFECYCLE,
            tooltip="Restart the marked containers (or the selected one)"),
    Binding("D", "container('remove')", "Remove", id="container.remove", group=_LIFECYCLE,
            tooltip="Remove the marked containers (or the selected one), after a question"),
    Binding("space", "toggle_mark", "Mark", id="container.mark",
            tooltip="Mark or unmark a container: actions then apply to every marked one"),
]  # fmt: skip
"""The keys of both container lists; each list has `action_container(verb)` and
`action_toggle_mark()`."""


class ContainerActionRequested(Message):
    """A container list asks for `verb` on `containers` (marked ones, or the selected one)."""

    def __init__(self, source: Widget, verb: str, containers: Sequence[ContainerInfo]) -> None:
        super().__init__()
        self.source = source
        self.verb = verb
        self.containers = list(containers)

    @property
    def control(self) -> Widget:
        return self.source


def devbox_owner(info: ContainerInfo) -> str | None:
    """The dev box name of a dev container (removed through `engine.devboxes`), else None."""
    if info.role == "devbox":
        return info.labels.get(OWNER_LABEL) or None
    return None


def remove_lines(containers: Sequence[ContainerInfo]) -> list[Text]:
    """What the remove question says about each container."""
    lines: list[Text] = []
    for info in containers:
        line = Text("• ")
        line.append(info.name, style="bold")
        line.append(f" on {info.host}")
        if info.running:
            line.append(": running, it will be killed", style="bold")
        else:
            line.append(f" ({info.state})")
        lines.append(line)
    return lines


class ContainerActionRunner:
    """Carries out container actions for one screen over one engine."""

    CONFIRM_REMOVE_TITLE: ClassVar[str] = "Remove containers?"

    def __init__(self, screen: Screen[Any], engine: EngineAPI) -> None:
        self.screen = screen
        self.engine = engine

    def handle(self, verb: str, containers: Sequence[ContainerInfo]) -> None:
        """Do `verb` on `containers` (a question first for remove)."""
        app = self.screen.app
        containers = list(containers)
        if not containers:
            app.notify("No container selected.", title="Containers", severity="warning")
            return
        actions = actions_of(self.engine)
        if actions is None:
            app.notify(
                "Container actions are not available over this engine (a remote engine).",
                title="Containers",
                severity="warning",
            )
            return
        if verb == "logs":
            from clawtui.tui.screens.logs import LogsScreen

            app.push_screen(LogsScreen(containers[0], actions))
        elif verb == "attach":
            self.attach(containers[0])
        elif verb == "remove":
            devboxes = [c for c in containers if devbox_owner(c)]
            n = len(containers)
            lines = [Text(f"Remove {n} container{'s' if n > 1 else ''}? This cannot be undone."),
                     *remove_lines(containers)]  # fmt: skip
            option = None
            if devboxes:
                lines.append(Text("Dev boxes keep their home volume unless you tick the box."))
                option = "Also delete the home volumes of dev boxes"
            from clawtui.tui.screens.confirm import ConfirmScreen

            screen = ConfirmScreen(self.CONFIRM_REMOVE_TITLE, lines, yes="Remove", option=option)

            def answered(answer: Confirmed | None) -> None:
                if answer is not None:
                    self.start(verb, containers, delete_home=answer.option)

            app.push_screen(screen, answered)
        elif verb in PAST:
            self.start(verb, containers)
        else:
            raise ValueError(f"unknown container action {verb!r}")

    def attach(self, info: ContainerInfo) -> None:
        """Suspend the TUI for an attach to `info` (tui/attach.py); say how it ended."""
        from clawtui.tui.attach import attach_and_tell

        app = self.screen.app
        settings = getattr(app, "settings", None)
        if settings is None:
            app.notify("Attaching needs the app's settings.", title="Attach", severity="error")
            return
        attach_and_tell(app, settings, info)

    def start(
        self, verb: str, containers: Sequence[ContainerInfo], *, delete_home: bool = False
    ) -> None:
        """Run a lifecycle verb on every container in a worker."""
        self.screen.run_worker(
            self._run(verb, list(containers), delete_home),
            group="container-actions",
            exit_on_error=False,
        )

    async def _one(self, verb: str, info: ContainerInfo, delete_home: bool) -> None:
        actions = actions_of(self.engine)
        assert actions is not None
        if verb == "start":
            await actions.start(info.key)
        elif verb == "stop":
            await actions.stop(info.key)
        elif verb == "restart":
            await actions.restart(info.key)
        elif verb == "remove":
            from clawtui.engine.api.devboxes import devboxes_of

            owner = devbox_owner(info)
            devboxes = devboxes_of(self.engine)
            if owner and devboxes is not None:
                await devboxes.remove(owner, keep_home=not delete_home, host=info.host)
            else:
                await actions.remove(info.key, force=True)

    async def _run(self, verb: str, containers: list[ContainerInfo], delete_home: bool) -> None:
        app = self.screen.app
        results = await asyncio.gather(
            *(self._one(verb, info, delete_home) for info in containers), return_exceptions=True
        )
        done = 0
        for info, result in zip(containers, results, strict=True):
            if isinstance(result, BaseException):
                if not isinstance(result, Exception):
                    raise result
                log.info("%s %s failed: %s", verb, info.key, result)
                app.notify(
                    str(result) or type(result).__name__,
                    title=f"Could not {verb} {info.name}",
                    severity="error",
                    markup=False,
                    timeout=10,
                )
            else:
                done += 1
        if done:
            what = containers[0].name if len(containers) == 1 else f"{done} containers"
            app.notify(f"{PAST[verb].capitalize()} {what}.", title="Containers", markup=False)
