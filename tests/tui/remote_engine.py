"""One real engine behind the TUI, handed to it directly ("local") or over `--connect` ("remote").

    async def test_x(front: FrontFactory, tmp_path: Path) -> None:
        async with front.open(settings) as f:
            app = ClawApp(f.ui, settings)          # what the panels talk to
            async with app.run_test() as pilot:
                await f.connected(pilot)           # remote: the event stream is up
                await f.engine.escalations.raise_(...)   # drive the real engine

"local": `ui` is the `Engine` itself, started and stopped by the app as `clawtui` does. "remote":
the engine is started here, a real service (`ServiceRunner`, aiohttp on 127.0.0.1, a bearer
token) runs in front of it, and `ui` is a `RemoteEngine` on that service, started and stopped by
the app as `clawtui --connect` does. The `front` fixture (tests/tui/conftest.py) runs a test
once per mode, so one test body checks that a panel behaves the same over both.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Literal

from textual.pilot import Pilot

from clawtui.client.engine import RemoteEngine
from clawtui.config import Settings
from clawtui.engine.api.protocols import EngineAPI
from clawtui.engine.core import Engine
from clawtui.service.runner import ServiceRunner
from tests.tui.helpers import wait_for

Mode = Literal["local", "remote"]
MODES: tuple[Mode, ...] = ("local", "remote")
TOKEN = "t0ken-for-tui-front-tests-0123456789"


@dataclass
class Front:
    mode: Mode
    engine: Engine
    """The real engine: drive it and read its state from the test."""
    ui: EngineAPI
    """What the app is given: `engine` itself, or a `RemoteEngine` on the service."""

    @property
    def remote(self) -> bool:
        return self.mode == "remote"

    async def connected(self, pilot: Pilot[object], timeout: float = 15) -> None:
        """Wait until events published by the engine reach the app (remote: the stream is up)."""
        if isinstance(self.ui, RemoteEngine):
            await wait_for(pilot, self.ui.connected.is_set, timeout)
        else:  # local: the app starts the engine; drive it only once its store is open
            ready = getattr(pilot.app, "components_ready", None)
            if isinstance(ready, asyncio.Event):
                await wait_for(pilot, ready.is_set, timeout)

    def ui_subscribers(self) -> int:
        """Subscriptions left on the bus the app listened to (0 once the app stopped it)."""
        ui = self.ui
        assert isinstance(ui, Engine | RemoteEngine)
        return ui.bus.subscribers


class FrontFactory:
    """Opens a `Front` of one mode over a new engine built from the given settings."""

    def __init__(self, mode: Mode) -> None:
        self.mode = mode

    @contextlib.asynccontextmanager
    async def open(self, settings: Settings) -> AsyncIterator[Front]:
        engine = Engine(settings)
        if self.mode == "local":
            try:
                yield Front("local", engine, engine)
            finally:
                await engine.stop()  # a no-op when the app stopped it
            return
        await engine.start()
        runner = ServiceRunner(engine, settings, token=TOKEN, listen=("127.0.0.1", 0))
        try:
            await runner.start()
            yield Front("remote", engine, RemoteEngine(runner.url, TOKEN))
        finally:
            await runner.stop()
            await engine.stop()
