"""Engine.start in two steps (the TUI's order) and in one (`clawtui serve`, tests), and stop()
at any point, also while components are starting."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from clawtui.config import EngineConfig, HostConfig, Settings
from clawtui.engine.core import Engine


class Gate:
    def __init__(self, name: str, log: list[str], *, error: Exception | None = None) -> None:
        self.name = name
        self.log = log
        self.error = error
        self.release = asyncio.Event()
        self.release.set()
        self.entered = asyncio.Event()

    async def start(self) -> None:
        self.log.append(f"start {self.name}")
        self.entered.set()
        await self.release.wait()
        if self.error is not None:
            raise self.error
        self.log.append(f"started {self.name}")

    async def stop(self) -> None:
        self.log.append(f"stop {self.name}")


def engine_with(tmp_path: Path, *gates: Gate) -> Engine:
    settings = Settings(
        engine=EngineConfig(state_dir=tmp_path / "state"),
        hosts=[HostConfig(name="local", url="unix:///nonexistent/docker.sock", cgroup_root=None)],
    )
    engine = Engine(settings)
    engine.components[:] = list(gates)  # only the test's components
    return engine


async def test_start_then_components_later(tmp_path: Path) -> None:
    log: list[str] = []
    engine = engine_with(tmp_path, Gate("a", log), Gate("b", log))
    await engine.start(components=False)
    assert log == [] and not engine.components_started
    assert engine.hosts()[0].name == "local"  # the host monitors run already
    assert await engine.start_components() == []
    assert await engine.start_components() == []  # once only
    assert log == ["start a", "started a", "start b", "started b"]
    assert engine.components_started
    await engine.stop()
    assert log[-2:] == ["stop b", "stop a"]


async def test_start_components_needs_a_started_engine(tmp_path: Path) -> None:
    engine = engine_with(tmp_path)
    with pytest.raises(RuntimeError):
        await engine.start_components()


async def test_late_failures_are_returned_and_logged_and_the_rest_start(tmp_path: Path) -> None:
    log: list[str] = []
    engine = engine_with(tmp_path, Gate("a", log, error=OSError("no space")), Gate("b", log))
    await engine.start(components=False)
    failures = await engine.start_components()
    assert [(name, str(exc)) for name, exc in failures] == [("Gate", "no space")]
    assert "started b" in log
    entries = await engine.activity(10)
    assert any(e.level == "error" and "Gate did not start: no space" in e.message for e in entries)
    await engine.stop()
    assert log[-2:] == ["stop b", "stop a"]


async def test_one_step_start_raises_and_stops_at_the_first_failure(tmp_path: Path) -> None:
    log: list[str] = []
    engine = engine_with(tmp_path, Gate("a", log, error=OSError("no space")), Gate("b", log))
    with pytest.raises(OSError, match="no space"):
        await engine.start()
    assert "start b" not in log
    await engine.stop()
    assert log == ["start a", "stop a"]


async def test_stop_while_components_start(tmp_path: Path) -> None:
    log: list[str] = []
    a, b = Gate("a", log), Gate("b", log)
    a.release.clear()
    engine = engine_with(tmp_path, a, b)
    await engine.start(components=False)
    waiter = asyncio.create_task(engine.start_components())
    await asyncio.wait_for(a.entered.wait(), 5)
    await engine.stop()
    assert log == ["start a", "stop a"]  # a's start was cancelled and a stopped; b never began
    with pytest.raises(asyncio.CancelledError):
        await waiter
    await engine.stop()  # twice is fine


async def test_a_cancelled_caller_does_not_cancel_the_start(tmp_path: Path) -> None:
    log: list[str] = []
    a = Gate("a", log)
    a.release.clear()
    engine = engine_with(tmp_path, a)
    await engine.start(components=False)
    waiter = asyncio.create_task(engine.start_components())
    await asyncio.wait_for(a.entered.wait(), 5)
    waiter.cancel()
    a.release.set()
    assert await engine.start_components() == []
    assert log == ["start a", "started a"]
    await engine.stop()


async def test_the_hosts_samplers_are_spread_over_the_interval(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each host's sampler starts `i / n` of an interval after the first one's, so the hosts'
    bursts of sampling work do not fall on the same moment of every second."""
    from clawtui.engine.fleet import hosts

    settings = Settings(
        engine=EngineConfig(state_dir=tmp_path / "state", stats_interval=2.0),
        hosts=[
            HostConfig(name=n, url=f"unix:///nonexistent/{n}.sock", cgroup_root=None)
            for n in ("a", "b", "c")
        ],
    )
    engine = Engine(settings)
    engine.components[:] = []
    offsets: dict[str, float] = {}
    real_sleep = asyncio.sleep

    def sampler_of(monitor: hosts.HostMonitor) -> object:
        async def record(offset: float = 0.0) -> None:
            offsets[monitor.name] = offset
            await real_sleep(3600)

        return record

    for monitor in engine.monitors.values():
        monkeypatch.setattr(monitor, "_sampler_loop", sampler_of(monitor))
    await engine.start()
    await real_sleep(0)  # the sampler tasks ran to their first await
    assert offsets == {"a": 0.0, "b": pytest.approx(2 / 3), "c": pytest.approx(4 / 3)}
    await engine.stop()
