"""Panels composed after the first frame (`MainScreen.compose_panel`): only Fleet is composed
before it; a panel composed later shows the engine's current state and the events of its
`REPLAY_EVENTS` that came before it existed; the panel keys compose what they bring to the
front; an app given an engine factory builds the engine after the first frame.

These tests use the app's own `run_test` (`run_test_first_frame`), not the suite's, which
waits for every panel."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from textual.widgets import RichLog, TabPane

from clawtui.config import Settings
from clawtui.engine.api.models import EventKind, HostState
from clawtui.tui.app import ClawApp
from clawtui.tui.screens.main import MainScreen
from clawtui.tui.widgets.panels import PANELS, FleetPanel
from tests.tui.conftest import SIZE, run_test_first_frame
from tests.tui.fakes import FakeEngine, fixed_clock, sample_fleet
from tests.tui.helpers import wait_for
from tests.tui.test_threads_panels import build

pytestmark = pytest.mark.tui


@pytest.fixture
def only_on_switch(monkeypatch: pytest.MonkeyPatch) -> None:
    """Panels are composed only when brought to the front (not all after the first frame)."""

    async def nothing(self: MainScreen) -> None:
        return None

    monkeypatch.setattr(MainScreen, "compose_pending_panels", nothing)


def composed(app: ClawApp) -> set[str]:
    return {p.id for p in PANELS if app.main.is_composed(p.id)}


async def test_only_fleet_is_composed_until_a_panel_is_shown(only_on_switch: None) -> None:
    engine = FakeEngine()
    sample_fleet(engine)
    app = ClawApp(engine, Settings(), clock=fixed_clock)
    async with run_test_first_frame(app, size=SIZE) as pilot:
        await pilot.pause()
        assert composed(app) == {"fleet"}
        for spec in PANELS[1:]:
            assert not app.screen.query_one(f"TabPane#{spec.id}", TabPane).children
        assert not app.main.panels_ready.is_set()
        # Each panel key composes its panel and brings it to the front.
        for spec in PANELS[1:]:
            await pilot.press(spec.key)
            await wait_for(pilot, lambda spec=spec: app.main.is_composed(spec.id))
            await wait_for(pilot, lambda spec=spec: app.main.active_panel == spec.id)
            assert app.screen.query_one(f"TabPane#{spec.id}", TabPane).children
        assert composed(app) == {p.id for p in PANELS}
        assert app.main.panels_ready.is_set()
        await pilot.press("1")
        assert app.main.active_panel == "fleet"
        assert len(app.screen.query(FleetPanel)) == 1  # composed once


async def test_a_late_panel_gets_the_events_it_missed(tmp_path: Path, only_on_switch: None) -> None:
    engine, app = build(tmp_path)
    async with run_test_first_frame(app, size=SIZE) as pilot:
        await pilot.pause()
        assert not app.main.is_composed("heartbeats")
        engine.bus.publish(EventKind.HEARTBEAT, thread_id=2, action="ran", ok=True,
                           tiers=["quick"], reply="all green before the panel")  # fmt: skip
        engine.bus.publish(EventKind.KB, action="merged", thread_id=2)
        await wait_for(pilot, lambda: len(app.main._missed) >= 2)
        app.show_panel("heartbeats")
        await wait_for(pilot, lambda: app.main.is_composed("heartbeats"))
        log = app.screen.query_one("#heartbeats-log", RichLog)
        await wait_for(pilot, lambda: len(log.lines) >= 2)
        text = "\n".join(line.text for line in log.lines)
        assert "thread 2 ran (quick): all green before the panel" in text
        assert "knowledge base: merged from thread 2" in text
        # Events after it exists arrive once (not replayed again), after the missed ones.
        engine.bus.publish(EventKind.HEARTBEAT, thread_id=2, action="skipped")
        await wait_for(pilot, lambda: len(log.lines) >= 3)
        await pilot.pause()
        lines = [line.text for line in log.lines]
        assert len(lines) == 3 and lines[-1].startswith("thread 2 skipped")
        # A panel that reads its state when composed shows it (here: both threads).
        app.show_panel("threads")
        await wait_for(pilot, lambda: app.main.is_composed("threads"))
        table = app.screen.query_one("#threads-table")
        await wait_for(pilot, lambda: table.row_count == 2)  # type: ignore[attr-defined]


async def test_dev_containers_panel_shows_the_fleet_as_it_is_when_composed(
    only_on_switch: None,
) -> None:
    engine = FakeEngine()
    sample_fleet(engine)
    app = ClawApp(engine, Settings(), clock=fixed_clock)
    async with run_test_first_frame(app, size=SIZE) as pilot:
        await pilot.pause()
        # A container goes away before the panel exists: the panel must not show it.
        gone = next(c for c in engine.containers() if c.name == "dev-sam")
        kept = next(c for c in engine.containers() if c.name == "agent-alpha")  # a pool one
        engine.remove_container(gone.key)
        await pilot.pause()
        app.show_panel("devboxes")
        await wait_for(pilot, lambda: app.main.is_composed("devboxes"))
        await pilot.pause()
        panel = app.main.devboxes
        assert gone.key not in panel.cards
        assert kept.key in panel.cards


async def test_every_panel_is_composed_after_the_first_frame() -> None:
    engine = FakeEngine()
    sample_fleet(engine)
    app = ClawApp(engine, Settings(), clock=fixed_clock)
    async with run_test_first_frame(app, size=SIZE):
        await asyncio.wait_for(app.main.panels_ready.wait(), 30)
        assert composed(app) == {p.id for p in PANELS}


async def test_an_engine_factory_runs_after_the_first_frame(tmp_path: Path) -> None:
    from clawtui.engine.core import Engine
    from tests.tui.test_startup import settings_for

    settings = settings_for(tmp_path)
    seen: list[tuple[bool, bool]] = []
    app: ClawApp

    def factory() -> Engine:
        # The screen is mounted and drawn, with the fleet view, before the engine exists.
        seen.append((app.main.is_mounted, bool(app.main.query(FleetPanel))))
        return Engine(settings)

    app = ClawApp(factory, settings)
    async with run_test_first_frame(app, size=SIZE) as pilot:
        await asyncio.wait_for(app.engine_ready.wait(), 30)
        assert seen == [(True, True)]
        header = app.main.query_one(FleetPanel).query_one("HostHeader")
        await wait_for(
            pilot,
            lambda: header.info.state is HostState.ONLINE,  # type: ignore[attr-defined]
            timeout=15,
        )
        await asyncio.wait_for(app.components_ready.wait(), 30)
        engine = app.engine
        assert isinstance(engine, Engine) and engine.components_started
    assert not engine._started  # stopped with the app


async def test_a_failing_engine_factory_ends_the_app_with_its_error() -> None:
    def factory() -> FakeEngine:
        raise RuntimeError("the store is locked")

    app = ClawApp(factory, Settings())
    async with run_test_first_frame(app, size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.return_code is not None)
    assert app.return_code == 1


async def test_the_footer_has_its_keys_when_it_is_composed(monkeypatch: pytest.MonkeyPatch) -> None:
    """The first frame shows the footer's keys: they are composed with the footer, not after
    the screen first publishes its bindings (Textual's footer starts empty and fills in some
    200-500 ms later)."""
    from textual.widgets import Footer
    from textual.widgets._footer import FooterKey

    from clawtui.tui.screens.main import KeysFooter

    seen: list[list[str]] = []
    compose = KeysFooter.compose

    def first_compose(self: Footer) -> object:
        out = list(compose(self))
        seen.append([w.description for w in out if isinstance(w, FooterKey)])
        return iter(out)

    monkeypatch.setattr(KeysFooter, "compose", first_compose)
    engine = FakeEngine()
    sample_fleet(engine)
    app = ClawApp(engine, Settings(), clock=fixed_clock)
    async with run_test_first_frame(app, size=SIZE):
        pass
    assert seen, "the footer was never composed"
    assert "Quit" in seen[0]  # the very first composition already has the keys
