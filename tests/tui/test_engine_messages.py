"""Engine events reach the panels as `EngineEvent` messages, by the kinds each widget names in
`ENGINE_EVENTS`: every kind a panel shows has a subscriber, and a widget mounted later gets its
kinds without any change to the screen."""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from textual.widgets import Static

from clawtui.engine.api.events import EscalationPayload, PoolPayload
from clawtui.engine.api.models import ActivityEntry, EventKind
from clawtui.tui.app import ClawApp
from clawtui.tui.messages import EngineEvent, subscribers
from tests.event_samples import every_kind
from tests.tui.conftest import SIZE
from tests.tui.fakes import FakeEngine
from tests.tui.helpers import wait_for

AppFactory = Callable[..., ClawApp]


class Probe(Static):
    ENGINE_EVENTS: ClassVar[frozenset[EventKind]] = frozenset(
        {EventKind.ESCALATION, EventKind.POOL}
    )

    def __init__(self) -> None:
        super().__init__(id="probe")
        self.got: list[EngineEvent] = []

    def on_engine_event(self, message: EngineEvent) -> None:
        self.got.append(message)


async def test_every_shown_kind_has_a_subscriber(make_app: AppFactory) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        names = {
            kind: sorted(type(w).__name__ for w in subscribers(app.main, kind))
            for kind in EventKind
        }
    assert names[EventKind.HOST] == ["DevboxesPanel", "FleetPanel"]
    assert names[EventKind.CONTAINER_REMOVED] == ["DevboxesPanel", "FleetPanel"]
    assert names[EventKind.THREAD] == ["HeartbeatsPanel", "ThreadsPanel"]
    assert names[EventKind.LOG] == ["ActivityLog"]
    assert names[EventKind.INCIDENT] == ["EscalationsPanel"]
    assert names[EventKind.SYNC] == ["PoolsPanel"]
    # Stats take the app's throttled path, RESYNC re-reads the snapshot: no messages.
    assert names[EventKind.STATS] == [] and names[EventKind.RESYNC] == []
    assert all(names[k] for k in set(EventKind) - {EventKind.STATS, EventKind.RESYNC})


async def test_a_widget_gets_the_kinds_it_names(make_app: AppFactory, engine: FakeEngine) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        probe = Probe()
        await app.main.mount(probe)
        engine.bus.publish(EventKind.LOG, entry=ActivityEntry(ts=0.0, message="hello"))
        sample = next(f for k, _, f in every_kind() if k is EventKind.ESCALATION)
        engine.bus.publish(EventKind.ESCALATION, escalation=sample["escalation"], change="raised")
        engine.bus.publish(EventKind.POOL, host="local", pool="agents", action="warm")
        await wait_for(pilot, lambda: len(probe.got) == 2)
        assert [m.kind for m in probe.got] == [EventKind.ESCALATION, EventKind.POOL]
        first, second = probe.got[0].payload, probe.got[1].payload
        assert isinstance(first, EscalationPayload) and first.change == "raised"
        assert isinstance(second, PoolPayload) and second.pool == "agents"
