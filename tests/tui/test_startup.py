"""Start-up order of the TUI over a local engine: the first frame (the fleet) comes before the
engine's other components are started, and what goes wrong late is still told."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from clawtui.config import EngineConfig, HostConfig, Settings
from clawtui.engine.api.models import HostState
from clawtui.engine.core import Engine
from clawtui.tui.app import ClawApp
from clawtui.tui.widgets.container_table import ContainerTable
from clawtui.tui.widgets.host_header import HostHeader
from tests.tui.conftest import DOCKER_URL, SIZE
from tests.tui.helpers import screen_text, wait_for

pytestmark = pytest.mark.tui


class Gate:
    """A component whose start waits until the test opens the gate (or fails, if told to)."""

    def __init__(self, error: Exception | None = None) -> None:
        self.entered = asyncio.Event()
        self.release = asyncio.Event()
        self.error = error
        self.started = False
        self.stopped = False

    async def start(self) -> None:
        self.entered.set()
        await self.release.wait()
        if self.error is not None:
            raise self.error
        self.started = True

    async def stop(self) -> None:
        self.stopped = True


def settings_for(tmp_path: Path, url: str = DOCKER_URL) -> Settings:
    return Settings(
        engine=EngineConfig(state_dir=tmp_path / "engine"),
        hosts=[HostConfig(name="local", url=url, cgroup_root=None)],
    )


async def test_first_frame_and_fleet_before_the_components_start(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    engine = Engine(settings)
    gate = Gate()
    engine.components.insert(0, gate)  # the first component: every other one waits behind it
    app = ClawApp(engine, settings)
    async with app.run_test(size=SIZE) as pilot:
        await asyncio.wait_for(gate.entered.wait(), 10)
        # The app is mounted and drawn, the fleet is shown and its host answers, while the
        # components have not started.
        table = app.screen.query_one("#fleet-table", ContainerTable)
        assert table.display and table.region.height > 0
        header = app.screen.query(HostHeader).first()
        await wait_for(pilot, lambda: header.info.state is HostState.ONLINE, timeout=10)
        assert "local" in screen_text(app)
        assert not gate.started and not app.components_ready.is_set()
        assert not engine.components_started
        gate.release.set()
        await asyncio.wait_for(app.components_ready.wait(), 10)
        assert gate.started and engine.components_started
    assert gate.stopped  # stopped with the app


async def test_a_late_component_failure_is_notified_and_logged(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, url="unix:///nonexistent/docker.sock")
    engine = Engine(settings)
    gate = Gate(RuntimeError("port 8770 is taken"))
    engine.components.insert(0, gate)
    app = ClawApp(engine, settings)
    notes: list[tuple[str, dict[str, Any]]] = []
    notify = app.notify

    def record(message: str, **kw: Any) -> None:
        notes.append((message, kw))
        notify(message, **kw)

    app.notify = record  # type: ignore[method-assign]
    async with app.run_test(size=SIZE) as pilot:
        await asyncio.wait_for(gate.entered.wait(), 10)
        gate.release.set()
        await asyncio.wait_for(app.components_ready.wait(), 10)
        await pilot.pause()
        assert any(
            "Gate did not start: port 8770 is taken" in m and kw.get("severity") == "error"
            for m, kw in notes
        )
        logged = await engine.activity(50)
        assert any(e.level == "error" and "Gate did not start" in e.message for e in logged)
        # The components after the failed one were started all the same.
        assert engine.components_started
    assert gate.stopped


async def test_quitting_while_components_start_stops_what_began(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, url="unix:///nonexistent/docker.sock")
    engine = Engine(settings)
    gate = Gate()
    later = Gate()
    later.release.set()
    engine.components[:0] = [gate, later]
    app = ClawApp(engine, settings)
    async with app.run_test(size=SIZE) as pilot:
        await asyncio.wait_for(gate.entered.wait(), 10)
        await pilot.press("q")
    assert gate.stopped  # its start was under way: stopped
    assert not later.entered.is_set() and not later.stopped  # never started, never stopped
    assert not app.components_ready.is_set()


async def test_a_store_that_cannot_open_is_told_and_the_ui_stays_up(tmp_path: Path) -> None:
    (tmp_path / "engine").write_text("a file where the state folder should be")
    settings = settings_for(tmp_path, url="unix:///nonexistent/docker.sock")
    engine = Engine(settings)
    gate = Gate()
    gate.release.set()
    engine.components.insert(0, gate)
    hook: list[str] = []

    async def on_start() -> None:
        hook.append("start")

    app = ClawApp(engine, settings, on_start=on_start)
    notes: list[tuple[str, dict[str, Any]]] = []
    notify = app.notify

    def record(message: str, **kw: Any) -> None:
        notes.append((message, kw))
        notify(message, **kw)

    app.notify = record  # type: ignore[method-assign]
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: any("The engine did not start" in m for m, _ in notes))
        assert app.screen.query_one("#fleet-table", ContainerTable).display
        assert not gate.entered.is_set() and hook == []  # nothing more over a dead engine
