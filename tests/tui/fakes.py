"""An in-memory engine for TUI tests where Docker is not the point.

It implements `EngineAPI` over a real `EventBus`, and its `put_*` / `remove_*` / `stats` helpers
change its state and publish the same events the real engine would, so the app sees exactly
what it sees in production. `sample_fleet` is a fixed, deterministic fleet for snapshots.
Its `actions`, `devboxes` and `memory` are the small fakes of `fake_capabilities.py`; a test that
wants tmux sets `engine.tmux = FakeTmux(engine)` (off by default: the panels then show no tmux
section, as over an engine without it).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from clawtui.engine.api.models import (
    MIB,
    ActivityEntry,
    ContainerInfo,
    ContainerStats,
    EventKind,
    HostInfo,
    HostMemory,
    HostState,
)
from clawtui.engine.bus import EventBus, Subscription
from tests.tui.fake_capabilities import FakeActions, FakeDevboxes, FakeMemory, FakeTmux

GIB = 1024 * MIB
NOW = 1_760_000_000.0
"""The fake wall clock of the tests (uptimes are computed against it)."""


def fixed_clock() -> float:
    return NOW


class FakeEngine:
    """EngineAPI in memory: hosts, containers and an activity log you set by hand."""

    is_remote = False

    def __init__(self) -> None:
        self.bus = EventBus()
        self._hosts: dict[str, HostInfo] = {}
        self._containers: dict[str, ContainerInfo] = {}
        self._activity: list[ActivityEntry] = []
        self.started = 0
        self.stopped = 0
        self.actions = FakeActions(self)
        self.devboxes = FakeDevboxes(self)
        self.memory = FakeMemory(self)
        self.tmux: FakeTmux | None = None

    # -- EngineAPI -------------------------------------------------------------------------------
    async def start(self) -> None:
        self.started += 1

    async def stop(self) -> None:
        self.stopped += 1

    def subscribe(self, kinds: Iterable[EventKind] | None = None) -> Subscription:
        return self.bus.subscribe(kinds)

    def hosts(self) -> list[HostInfo]:
        return list(self._hosts.values())

    def containers(
        self, *, host: str | None = None, role: str | None = None
    ) -> list[ContainerInfo]:
        out = [
            c
            for c in self._containers.values()
            if (host is None or c.host == host) and (role is None or c.role == role)
        ]
        return sorted(out, key=lambda c: (c.host, c.name))

    def container(self, key: str) -> ContainerInfo | None:
        return self._containers.get(key)

    async def activity(self, limit: int = 200) -> list[ActivityEntry]:
        return list(reversed(self._activity))[:limit]

    # -- test controls ---------------------------------------------------------------------------
    def put_host(self, info: HostInfo, *, publish: bool = True) -> None:
        self._hosts[info.name] = info
        if publish:
            self.bus.publish(EventKind.HOST, host=info.name, info=info)

    def put_container(self, info: ContainerInfo, *, publish: bool = True) -> None:
        self._containers[info.key] = info
        if publish:
            self.bus.publish(EventKind.CONTAINER, host=info.host, container=info)

    def remove_container(self, key: str) -> None:
        info = self._containers.pop(key)
        self.bus.publish(EventKind.CONTAINER_REMOVED, host=info.host, id=info.id, name=info.name)

    def stats(self, host: str, samples: dict[str, ContainerStats]) -> None:
        for cid, sample in samples.items():
            key = f"{host}/{cid}"
            if key in self._containers:
                self._containers[key] = self._containers[key].model_copy(update={"stats": sample})
        self.bus.publish(EventKind.STATS, host=host, stats=samples)

    def log(
        self, message: str, *, level: str = "info", host: str | None = None, ts: float = NOW
    ) -> None:
        entry = ActivityEntry(ts=ts, level=level, host=host, message=message)
        self._activity.append(entry)
        self.bus.publish(EventKind.LOG, host=host, entry=entry)

    def add_history(
        self, message: str, *, ts: float, level: str = "info", host: str | None = None
    ) -> None:
        self._activity.append(ActivityEntry(ts=ts, level=level, host=host, message=message))


def host(name: str = "local", **kw: Any) -> HostInfo:
    defaults: dict[str, Any] = {
        "url": "unix:///var/run/docker.sock",
        "state": HostState.ONLINE,
        "docker_version": "27.3.1",
        "ncpu": 8,
        "memory": HostMemory(
            total=16 * GIB, allocated=4 * GIB, reserve=2 * GIB, available=10 * GIB
        ),
    }
    defaults.update(kw)
    return HostInfo(name=name, **defaults)


def container(
    cid: str,
    name: str,
    *,
    host: str = "local",
    image: str = "clawtui-test/busybox:1",
    state: str = "running",
    started_ago: float | None = 312.0,
    memory_limit: int = 512 * MIB,
    labels: dict[str, str] | None = None,
    stats: ContainerStats | None = None,
    **kw: Any,
) -> ContainerInfo:
    cid = cid.ljust(64, "0")
    return ContainerInfo(
        id=cid,
        host=host,
        name=name,
        image=image,
        state=state,
        status=kw.pop("status", "Up" if state == "running" else "Exited (0)"),
        created=NOW - 86400 * 3,
        started_at=NOW - started_ago if started_ago is not None else None,
        labels=labels or {},
        memory_limit=memory_limit,
        memory_swap=memory_limit,
        stats=stats,
        **kw,
    )


def sample_fleet(engine: FakeEngine) -> None:
    """Two hosts (one online, one offline) and four containers, without publishing events."""
    engine.put_host(host("local", containers=4, running=3), publish=False)
    engine.put_host(
        host(
            "gpu-box",
            url="ssh://admin@gpu-box",
            state=HostState.OFFLINE,
            docker_version=None,
            ncpu=0,
            memory=HostMemory(),
            error="no Docker engine answers at ssh://admin@gpu-box: connection refused",
        ),
        publish=False,
    )
    sample = ContainerStats(
        cpu_percent=12.5, mem_used=210 * MIB, mem_limit=512 * MIB, sampled_at=NOW
    )
    for info in (
        container(
            "a1",
            "agent-alpha",
            started_ago=2 * 86400 + 3 * 3600 + 60,
            stats=sample,
            labels={"clawtui.role": "pool", "clawtui.pool": "workers"},
        ),
        container(
            "b2",
            "agent-beta",
            started_ago=312,
            memory_limit=1024 * MIB,
            stats=sample.model_copy(update={"cpu_percent": 87.25, "mem_used": 800 * MIB}),
        ),
        container(
            "c3",
            "dev-sam",
            image="clawtui/devbox:latest",
            started_ago=3 * 3600 + 4 * 60,
            labels={"clawtui.role": "devbox", "clawtui.owner": "sam"},
            stats=sample.model_copy(update={"cpu_percent": 0.0, "mem_used": 64 * MIB}),
        ),
        container(
            "d4", "broker", image="redis:7", state="exited", started_ago=None, memory_limit=0
        ),
    ):
        engine.put_container(info, publish=False)
    engine.add_history("engine started", ts=NOW - 60)
    engine.add_history("container agent-beta appeared (running)", ts=NOW - 30, host="local")
    engine.add_history(
        "host gpu-box offline: connection refused", ts=NOW - 10, level="warning", host="gpu-box"
    )
