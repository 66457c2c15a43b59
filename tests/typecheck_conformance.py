"""Checked by mypy (strict, see pyproject.toml), never run: each engine a front end can be
handed is assignable to the engine interface and its capabilities to their protocols.

The runtime half of the conformance test is tests/unit/test_conformance.py.
"""

from __future__ import annotations

from clawtui.client.engine import RemoteEngine
from clawtui.engine.api.devboxes import DevboxesAPI
from clawtui.engine.api.escalations import BriefAPI, EscalationsAPI, IncidentsAPI
from clawtui.engine.api.fleet import ContainerActionsAPI
from clawtui.engine.api.ingress import IngressAPI
from clawtui.engine.api.memory import MemoryAPI
from clawtui.engine.api.pools import PoolsAPI
from clawtui.engine.api.protocols import EngineAPI
from clawtui.engine.api.threads import ThreadsAPI
from clawtui.engine.api.tmux import TmuxAPI
from clawtui.engine.core import Engine
from tests.tui.fake_capabilities import FakeTmux
from tests.tui.fake_panels import (
    FakeBriefs,
    FakeEscalations,
    FakeIncidents,
    FakeIngress,
    FakeThreads,
)
from tests.tui.fake_pools import FakePools
from tests.tui.fakes import FakeEngine


def full_engines(engine: Engine | RemoteEngine) -> list[object]:
    """The local engine and the remote client: a union is assignable only if each member is."""
    api: EngineAPI = engine
    actions: ContainerActionsAPI = engine.actions
    devboxes: DevboxesAPI = engine.devboxes
    memory: MemoryAPI = engine.memory
    tmux: TmuxAPI = engine.tmux
    threads: ThreadsAPI = engine.threads
    pools: PoolsAPI = engine.pools
    ingress: IngressAPI = engine.ingress
    escalations: EscalationsAPI = engine.escalations
    incidents: IncidentsAPI = engine.incidents
    briefs: BriefAPI = engine.briefs
    capabilities = [actions, devboxes, memory, tmux, threads, pools, ingress]
    return [api, *capabilities, escalations, incidents, briefs]


def fake_engine(engine: FakeEngine, tmux: FakeTmux) -> list[object]:
    api: EngineAPI = engine
    actions: ContainerActionsAPI = engine.actions
    devboxes: DevboxesAPI = engine.devboxes
    memory: MemoryAPI = engine.memory
    fake_tmux: TmuxAPI = tmux
    fake_pools: PoolsAPI = FakePools()
    return [api, actions, devboxes, memory, fake_tmux, fake_pools]


def fake_panels(
    threads: FakeThreads,
    esc: FakeEscalations,
    inc: FakeIncidents,
    briefs: FakeBriefs,
    ingress: FakeIngress,
) -> list[object]:
    """The snapshot tests' fixed panel data (`tests/tui/fake_panels.py`)."""
    fake_threads: ThreadsAPI = threads
    escalations: EscalationsAPI = esc
    incidents: IncidentsAPI = inc
    fake_briefs: BriefAPI = briefs
    fake_ingress: IngressAPI = ingress
    return [fake_threads, escalations, incidents, fake_briefs, fake_ingress]
