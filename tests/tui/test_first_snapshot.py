"""The fleet's first snapshot (read in a thread before the engine exists, `cmd_tui`): shown in
the first frame when it is read by then, else as soon as it comes, never over the engine once
the engine is built, and kept until the engine has reached its hosts; one that does not come
does not hold the start."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading

import pytest

from clawtui.config import Settings
from clawtui.engine.api.models import ContainerInfo, HostInfo, HostState
from clawtui.tui.app import ClawApp
from clawtui.tui.container_actions import ContainerActionRequested
from clawtui.tui.widgets.host_header import HostHeader, HostHeaders
from clawtui.tui.widgets.panels import FleetPanel
from tests.tui.conftest import SIZE, run_test_first_frame
from tests.tui.fakes import FakeEngine, container, fixed_clock, host
from tests.tui.helpers import wait_for

pytestmark = pytest.mark.tui

Snapshot = tuple[list[HostInfo], list[ContainerInfo]]


def snapshot_of(*names: str) -> Snapshot:
    return [host("local")], [container(f"{n}-id", n) for n in names]


def engine_with(*names: str) -> FakeEngine:
    engine = FakeEngine()
    engine.put_host(host("local", docker_version="99.0"), publish=False)
    for n in names:
        engine.put_container(container(f"{n}-id", n), publish=False)
    return engine


def shown(app: ClawApp) -> tuple[set[str], list[str | None]]:
    """The fleet table's container names and the host headers' Docker versions."""
    panel = app.main.query_one(FleetPanel)
    headers = [h.info.docker_version for h in panel.query(HostHeader)]
    return {c.name for c in panel.table.infos.values()}, headers


async def test_a_snapshot_read_before_the_start_is_in_the_first_frame() -> None:
    first: concurrent.futures.Future[Snapshot] = concurrent.futures.Future()
    first.set_result(snapshot_of("alpha", "beta"))
    at_build: list[tuple[set[str], list[str | None]]] = []
    composed: list[list[str]] = []
    app: ClawApp

    def factory() -> FakeEngine:
        at_build.append(shown(app))
        return engine_with("alpha", "beta")

    init = HostHeaders.__init__

    def headers_init(self: HostHeaders, *children: HostHeader, **kw: object) -> None:
        composed.append([c.info.name for c in children])
        init(self, *children, **kw)  # type: ignore[arg-type]

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(HostHeaders, "__init__", headers_init)
        app = ClawApp(factory, Settings(), clock=fixed_clock, first_snapshot=first)
        async with run_test_first_frame(app, size=SIZE) as pilot:
            await asyncio.wait_for(app.engine_ready.wait(), 30)
            assert composed == [["local"]]  # the host headers are composed with the screen
            assert at_build == [({"alpha", "beta"}, ["27.3.1"])]
            # The engine takes over: its snapshot replaces the first one.
            await wait_for(pilot, lambda: shown(app) == ({"alpha", "beta"}, ["99.0"]))


async def test_a_snapshot_read_after_the_first_frame_is_shown_when_it_comes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(ClawApp, "FIRST_SNAPSHOT_WAIT", 60.0)  # the factory waits for it
    first: concurrent.futures.Future[Snapshot] = concurrent.futures.Future()
    at_build: list[tuple[set[str], list[str | None]]] = []
    app: ClawApp

    def factory() -> FakeEngine:
        at_build.append(shown(app))
        return engine_with("alpha")

    app = ClawApp(factory, Settings(), clock=fixed_clock, first_snapshot=first)
    async with run_test_first_frame(app, size=SIZE) as pilot:
        assert shown(app) == (set(), [])
        await pilot.pause()
        await asyncio.to_thread(first.set_result, snapshot_of("alpha"))  # as FirstSnapshot does
        await asyncio.wait_for(app.engine_ready.wait(), 30)
        assert at_build == [({"alpha"}, ["27.3.1"])]
        await wait_for(pilot, lambda: shown(app) == ({"alpha"}, ["99.0"]))


async def test_a_snapshot_that_does_not_come_does_not_hold_the_start() -> None:
    first: concurrent.futures.Future[Snapshot] = concurrent.futures.Future()
    app = ClawApp(lambda: engine_with("gamma"), Settings(), clock=fixed_clock, first_snapshot=first)
    async with run_test_first_frame(app, size=SIZE) as pilot:
        await asyncio.wait_for(app.engine_ready.wait(), 30)  # after FIRST_SNAPSHOT_WAIT
        await wait_for(pilot, lambda: shown(app) == ({"gamma"}, ["99.0"]))
        # Coming after the engine was built, it is not shown over the engine's view.
        await asyncio.to_thread(first.set_result, snapshot_of("stale"))
        await pilot.pause(0.1)
        assert shown(app) == ({"gamma"}, ["99.0"])


async def test_a_snapshot_that_failed_leaves_the_fleet_to_the_engine() -> None:
    first: concurrent.futures.Future[Snapshot] = concurrent.futures.Future()
    first.set_exception(LookupError("no local Docker host answered"))
    app = ClawApp(lambda: engine_with("delta"), Settings(), clock=fixed_clock, first_snapshot=first)
    async with run_test_first_frame(app, size=SIZE) as pilot:
        await asyncio.wait_for(app.engine_ready.wait(), 30)
        await wait_for(pilot, lambda: shown(app) == ({"delta"}, ["99.0"]))


async def test_an_action_on_a_snapshot_row_waits_for_the_engine() -> None:
    """The first snapshot's rows are on screen before the engine exists: an action asked for
    then is carried out once the engine is built (not an error)."""
    first: concurrent.futures.Future[Snapshot] = concurrent.futures.Future()
    first.set_result(snapshot_of("alpha"))
    gate = threading.Event()  # holds the engine's imports (run in a thread) until released
    engine = engine_with("alpha")
    app = ClawApp(
        lambda: engine,
        Settings(),
        clock=fixed_clock,
        first_snapshot=first,
        engine_imports=lambda: gate.wait(60),
    )
    async with run_test_first_frame(app, size=SIZE) as pilot:
        table = app.main.query_one(FleetPanel).table
        (info,) = table.infos.values()
        app.main.post_message(ContainerActionRequested(table, "restart", [info]))
        await pilot.pause(0.2)
        assert not app.engine_ready.is_set() and app.return_code is None
        assert engine.actions.calls == []
        gate.set()
        await wait_for(pilot, lambda: engine.actions.calls == [("restart", info.key)])


async def test_the_snapshot_stays_until_the_engine_has_reached_its_hosts() -> None:
    """The engine, just built, is still connecting and holds no containers: the snapshot stays
    on screen (its HOST events that say connecting are not applied); the first that does not
    replaces the snapshot with the engine's whole view (a container gone since is dropped)."""
    first: concurrent.futures.Future[Snapshot] = concurrent.futures.Future()
    first.set_result(snapshot_of("alpha", "gone"))
    engine = FakeEngine()
    engine.put_host(host("local", state=HostState.CONNECTING, docker_version=None), publish=False)
    app = ClawApp(lambda: engine, Settings(), clock=fixed_clock, first_snapshot=first)
    async with run_test_first_frame(app, size=SIZE) as pilot:
        await asyncio.wait_for(app.engine_ready.wait(), 30)
        await wait_for(pilot, lambda: app.components_ready.is_set())
        engine.put_host(host("local", state=HostState.CONNECTING, docker_version="99.0"))
        await pilot.pause(0.1)
        assert shown(app) == ({"alpha", "gone"}, ["27.3.1"])
        engine.put_container(container("alpha-id", "alpha"))  # the engine's reconcile
        engine.put_host(host("local", docker_version="99.0"))  # online
        await wait_for(pilot, lambda: shown(app) == ({"alpha"}, ["99.0"]))
