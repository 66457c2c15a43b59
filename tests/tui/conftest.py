"""Fixtures for TUI tests: an isolated state folder, a fixed time zone, a fake engine.

Every test runs with XDG folders in its tmp_path, so saving a theme never touches the real
runtime settings file, and with TZ=UTC so activity timestamps in snapshots do not depend on
where the suite runs.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from clawtui.config import Settings
from clawtui.tui.app import ClawApp
from tests.tui.fakes import FakeEngine, fixed_clock, sample_fleet

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
