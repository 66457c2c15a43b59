"""Stylesheets at start-up: the first frame reads only the fleet view's (`CSS_PATH`); the other
panels' and screens' (`LATE_CSS_PATH`) come after it, or before a screen that needs them is
shown first; the configured theme's colours are in the first parse (no second parse)."""

from __future__ import annotations

from pathlib import Path

import pytest

from clawtui.config import Settings, TuiConfig
from clawtui.tui.app import ClawApp
from clawtui.tui.screens.help import HelpScreen
from tests.tui.conftest import SIZE, run_test_first_frame
from tests.tui.fakes import FakeEngine, fixed_clock, sample_fleet
from tests.tui.helpers import wait_for

pytestmark = pytest.mark.tui


def css_files(app: ClawApp) -> set[str]:
    return {Path(path).name for path, _ in app.stylesheet.source if path.endswith(".tcss")}


LATE = {Path(p).name for p in ClawApp.LATE_CSS_PATH}


async def test_the_late_stylesheets_come_after_the_first_frame(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    before: list[set[str]] = []
    compose_later = ClawApp._compose_later

    def after_first_frame(self: ClawApp) -> object:
        before.append(css_files(self))
        return compose_later(self)

    monkeypatch.setattr(ClawApp, "_compose_later", after_first_frame)
    engine = FakeEngine()
    sample_fleet(engine)
    app = ClawApp(engine, Settings(), clock=fixed_clock)
    async with run_test_first_frame(app, size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.main.panels_ready.is_set(), timeout=30)
        assert before == [{"app.tcss", "fleet.tcss"}]
        assert css_files(app) == {"app.tcss", "fleet.tcss"} | LATE


async def test_a_screen_shown_first_gets_its_stylesheet(monkeypatch: pytest.MonkeyPatch) -> None:
    async def nothing(self: ClawApp) -> None:  # nothing composed after the first frame
        return None

    monkeypatch.setattr(ClawApp, "_compose_later", nothing)
    engine = FakeEngine()
    sample_fleet(engine)
    app = ClawApp(engine, Settings(), clock=fixed_clock)
    async with run_test_first_frame(app, size=SIZE) as pilot:
        assert not (css_files(app) & LATE)
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))
        assert css_files(app) >= LATE
        body = app.screen.query_one("#help-body")
        assert body.styles.width is not None and body.styles.width.value == 110  # help.tcss


async def test_the_configured_theme_is_parsed_once(monkeypatch: pytest.MonkeyPatch) -> None:
    reparsed: list[str] = []
    refresh_css = ClawApp.refresh_css

    def counted(self: ClawApp, animate: bool = True) -> None:
        reparsed.append(self.theme)
        refresh_css(self, animate)

    monkeypatch.setattr(ClawApp, "refresh_css", counted)
    engine = FakeEngine()
    sample_fleet(engine)
    app = ClawApp(engine, Settings(tui=TuiConfig(theme="clawtui-light")), clock=fixed_clock)
    async with run_test_first_frame(app, size=SIZE) as pilot:
        await pilot.pause()
        assert app.theme == "clawtui-light" and app.has_class("-light-mode")
        background = app.stylesheet._variables["background"]
        assert background.lower() == str(app.current_theme.background).lower()
        assert reparsed == []
        app.select_theme("clawtui-dark")  # a change while running still restyles
        await wait_for(pilot, lambda: reparsed == ["clawtui-dark"])
