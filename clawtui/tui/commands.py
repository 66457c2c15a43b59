"""Command palette providers: every main action of the app, found by typing.

`ClawCommands` is the app's palette (Ctrl+P by default): go to a panel, switch theme, help,
refresh, toggle the activity log, quit; container actions on the front panel's marked or
selected containers; a new dev container; apply or reset the memory sliders. `ThemeCommands`
is the theme picker; choosing a theme goes through `ClawApp.select_theme`, which applies it
and saves it in the runtime settings file. Both call only public methods of the app, so the
palette can never do something a key cannot.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import partial
from typing import TYPE_CHECKING, cast

from textual.command import DiscoveryHit, Hit, Hits, Provider

from clawtui.tui.widgets.panels import PANELS

if TYPE_CHECKING:
    from clawtui.tui.app import ClawApp

Command = tuple[str, str, Callable[[], object]]

CONTAINER_COMMANDS: tuple[tuple[str, str], ...] = (
    ("logs", "Follow the log of the selected container"),
    ("start", "Start the marked containers (or the selected one)"),
    ("stop", "Stop the marked containers (or the selected one)"),
    ("restart", "Restart the marked containers (or the selected one)"),
    ("remove", "Remove the marked containers (or the selected one), after a question"),
)


class _AppCommands(Provider):
    """Shared search over a list of (name, help, callback)."""

    @property
    def claw(self) -> ClawApp:
        return cast("ClawApp", self.app)

    def commands(self) -> Iterator[Command]:
        raise NotImplementedError

    def discoverable(self) -> Iterator[Command]:
        return self.commands()

    async def discover(self) -> Hits:
        for name, help_text, callback in self.discoverable():
            yield DiscoveryHit(name, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, help_text, callback in self.commands():
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), callback, help=help_text)


class ClawCommands(_AppCommands):
    """The main actions of clawtui."""

    def commands(self) -> Iterator[Command]:
        app = self.claw
        for panel in PANELS:
            yield (f"Go to {panel.title}", panel.description, partial(app.show_panel, panel.id))
        yield ("Switch theme…", "Pick a theme; the choice is saved", app.action_pick_theme)
        yield ("Help: keys", "Every key and what it does", app.action_help)
        yield ("Refresh", "Re-read hosts and containers from the engine", app.action_refresh)
        yield ("Toggle activity log", "Show or hide the activity log", app.toggle_activity)
        for verb, help_text in CONTAINER_COMMANDS:
            yield (f"Container: {verb}", help_text, partial(app.container_command, verb))
        yield (
            "New dev container…",
            "Create an SSH-ready dev container",
            partial(app.devbox_command, "new"),
        )
        yield (
            "Memory: apply slider changes",
            "Send every moved memory slider as one batch",
            partial(app.devbox_command, "apply"),
        )
        yield (
            "Memory: reset sliders",
            "Put every memory slider back to its limit",
            partial(app.devbox_command, "reset"),
        )
        yield ("Quit", "Leave clawtui (the engine stops with it)", app.action_quit)
        # Themes are only searched, not listed on open: there are a couple of dozen.
        for name in sorted(app.available_themes):
            yield (
                f"Theme: {name}",
                "Use this theme and save the choice",
                partial(app.select_theme, name),
            )

    def discoverable(self) -> Iterator[Command]:
        return (c for c in self.commands() if not c[0].startswith("Theme: "))


class ThemeCommands(_AppCommands):
    """The theme picker: one entry per registered theme."""

    def commands(self) -> Iterator[Command]:
        app = self.claw
        for name in sorted(app.available_themes):
            current = " (current)" if name == app.theme else ""
            yield (
                name,
                f"{'dark' if app.available_themes[name].dark else 'light'}{current}",
                partial(app.select_theme, name),
            )
