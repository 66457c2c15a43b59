"""The app's themes: the theme files registered and the configured one set before the first
stylesheet parse, the palette handed to the main screen, the picker, and the choice saved in
the runtime settings (`[tui] theme`). `ClawApp` is a `ThemedApp`."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from textual.app import App
from textual.command import CommandPalette
from textual.theme import Theme

from clawtui.config import Settings, save_runtime_settings
from clawtui.tui.commands import ThemeCommands
from clawtui.tui.themes import BUILTIN_THEMES_DIR, ThemeProblem, load_themes

if TYPE_CHECKING:
    from clawtui.tui.screens.main import MainScreen

log = logging.getLogger(__name__)

DEFAULT_THEME = "clawtui-dark"
FALLBACK_THEME = "textual-dark"


class ThemedApp(App[None]):
    """The theme half of `ClawApp` (it sets `settings`, `theme_problems`, `_theme_notes`)."""

    settings: Settings
    theme_problems: list[ThemeProblem]
    _theme_notes: list[tuple[str, str]]

    @property
    def main(self) -> MainScreen:
        raise NotImplementedError

    def _load_themes(self) -> None:
        """Register the theme files and set the configured theme, before the app runs: the
        stylesheet is first parsed with its colours (setting `theme` once running parses every
        stylesheet again). What went wrong is told when the app is mounted (`_theme_notes`)."""
        loaded = load_themes([BUILTIN_THEMES_DIR, self.settings.tui.themes_dir])
        for theme in loaded.themes:
            self.register_theme(theme)
        self.theme_problems = loaded.problems
        for problem in loaded.problems:
            log.warning("theme skipped: %s", problem)
            self._theme_notes.append((str(problem), "Theme file skipped"))
        wanted = self.settings.tui.theme
        if self.get_theme(wanted) is None:
            fallback = DEFAULT_THEME if self.get_theme(DEFAULT_THEME) else FALLBACK_THEME
            note = f"Theme {wanted!r} is not installed; using {fallback!r}."
            self._theme_notes.append((note, ""))
            wanted = fallback
        # What `App._watch_theme` does, but the stylesheet's variables are set directly: it
        # has not been parsed yet (Textual is pinned; `_refresh_truecolor_filter` is its own).
        self.set_reactive(App.theme, wanted)
        dark = self.current_theme.dark
        self.set_class(True, f"-theme-{wanted}")
        self.set_class(dark, "-dark-mode")
        self.set_class(not dark, "-light-mode")
        self._refresh_truecolor_filter(self.ansi_theme)
        self.stylesheet.set_variables(self.get_css_variables())

    def _tell_theme_notes(self) -> None:
        for message, title in self._theme_notes:
            self.notify(message, title=title, severity="warning", markup=False)

    def _theme_changed(self, theme: Theme) -> None:
        palette = {
            name: value
            for name in ("success", "warning", "error", "secondary", "accent")
            if (value := getattr(theme, name, None))
        }
        self.main.set_palette(palette)

    def select_theme(self, name: str) -> bool:
        """Apply a registered theme and save it as `[tui] theme` in the runtime settings."""
        if self.get_theme(name) is None:
            self.notify(f"No theme called {name!r}.", severity="error", markup=False)
            return False
        self.theme = name
        try:
            save_runtime_settings(
                {"tui": {"theme": name}}, state_file=getattr(self.settings, "state_file", None)
            )
            self.settings.tui.theme = name
        except Exception as exc:
            log.warning("could not save the theme: %s", exc)
            self.notify(f"Theme applied but not saved: {exc}", severity="warning", markup=False)
        return True

    def action_pick_theme(self) -> None:
        """Open the theme picker."""
        self.push_screen(
            CommandPalette(providers=[ThemeCommands], placeholder="Search for themes…")
        )

    def action_change_theme(self) -> None:
        self.action_pick_theme()
