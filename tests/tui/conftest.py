"""Fixtures for TUI tests: an isolated state folder, a fixed time zone, a fake engine, and
`front`: a real engine handed to the app directly and over a real service (`remote_engine.py`).

Every test runs with XDG folders in its tmp_path, so saving a theme never touches the real
runtime settings file, and with TZ=UTC so activity timestamps in snapshots do not depend on
where the suite runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import docker
import pytest
from docker.errors import ImageNotFound
from textual.pilot import Pilot

from clawtui.config import Settings
from clawtui.tui.app import ClawApp
from tests.tui.fakes import FakeEngine, fixed_clock, sample_fleet
from tests.tui.remote_engine import MODES, FrontFactory

SIZE = (120, 36)


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


_run_test = ClawApp.run_test


@contextlib.asynccontextmanager
async def _run_test_with_every_panel(
    self: ClawApp, *args: Any, **kwargs: Any
) -> AsyncIterator[Pilot[None]]:
    """`run_test`, handing over the pilot once every panel is composed: the app composes the
    panels not in front after the first frame (`MainScreen.compose_pending_panels`), and these
    tests query any panel from the start. Tests of the late composition itself use
    `run_test_first_frame`."""
    async with _run_test(self, *args, **kwargs) as pilot:
        await asyncio.wait_for(self.main.panels_ready.wait(), 60)
        await pilot.pause()
        yield pilot


def run_test_first_frame(app: ClawApp, *args: Any, **kwargs: Any) -> Any:
    """The app's own `run_test`: the pilot comes with the first frame, other panels later."""
    return _run_test(app, *args, **kwargs)


@pytest.fixture(autouse=True)
def _every_panel_composed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ClawApp, "run_test", _run_test_with_every_panel)


@pytest.fixture
def engine() -> FakeEngine:
    """A fake engine holding the deterministic sample fleet."""
    fake = FakeEngine()
    sample_fleet(fake)
    return fake


@pytest.fixture
def make_app(engine: FakeEngine) -> Callable[..., ClawApp]:
    """Build a ClawApp over the fake engine; keyword arguments become Settings fields."""

    def build(settings: Settings | None = None, **kw: Any) -> ClawApp:
        clock = kw.pop("clock", fixed_clock)
        return ClawApp(engine, settings or Settings(**kw), clock=clock)

    return build


@pytest.fixture(params=MODES)
def front(request: pytest.FixtureRequest) -> FrontFactory:
    """Runs the test once over a local engine and once over `--connect` to a real service."""
    return FrontFactory(request.param)


DOCKER_URL = "unix:///var/run/docker.sock"
IMAGE = "clawtui-test/busybox:1"


@pytest.fixture
def docker_api() -> Iterator[docker.APIClient]:
    """The local Docker engine, for the live tests (real engine, real dockerd)."""
    try:
        api = docker.APIClient(base_url=DOCKER_URL, version="auto", timeout=60)
        api.ping()
    except Exception as exc:
        pytest.fail(
            f"no Docker engine answers on {DOCKER_URL}: {exc}; run scripts/ensure-docker",
            pytrace=False,
        )
    try:
        api.inspect_image(IMAGE)
    except ImageNotFound:
        pytest.fail(f"test image {IMAGE} is missing; run scripts/build-test-images", pytrace=False)
    yield api
    api.close()
