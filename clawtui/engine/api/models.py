"""Typed snapshots of what the engine knows, shared by the TUI, the service and remote clients.

Everything here is plain data (pydantic models) so it can cross the HTTP boundary unchanged:
`model_dump(mode="json")` on the service side, `model_validate` on the remote client side.
"""

from __future__ import annotations

import time
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

MIB = 1024 * 1024


class HostState(StrEnum):
    """Whether the engine currently has a working connection to a host's Docker engine."""

    CONNECTING = "connecting"
    ONLINE = "online"
    OFFLINE = "offline"


class HostMemory(BaseModel):
    """The memory budget of one host (seed 000, "Validation Rules")."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    total: int = Field(0, description="Total RAM reported by the Docker engine, bytes.")
    allocated: int = Field(0, description="Sum of the memory limits of all containers, bytes.")
    reserve: int = Field(0, description="OS reserve from config, bytes.")
    available: int = Field(0, description="total - reserve - allocated (may be negative).")
    unlimited: int = Field(0, description="How many containers have no memory limit.")


class HostInfo(BaseModel):
    """One configured Docker host and the engine's view of it."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    name: str
    url: str
    state: HostState = HostState.CONNECTING
    error: str | None = Field(None, description="Why the host is offline, in plain words.")
    docker_version: str | None = None
    api_version: str | None = None
    os: str | None = None
    ncpu: int = 0
    cgroup_version: str | None = None
    direct_stats: bool = Field(False, description="Stats are read from cgroup files directly.")
    containers: int = 0
    running: int = 0
    memory: HostMemory = HostMemory()
    last_seen: float | None = Field(None, description="Epoch seconds of the last good reply.")
    offline_since: float | None = Field(
        None, description="Epoch seconds when the host went offline; None while it answers."
    )


class ContainerStats(BaseModel):
    """One stats sample of a running container."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    cpu_percent: float | None = Field(
        None,
        description="CPU since the previous sample; 100 = one core. None on a first sample.",
    )
    mem_used: int | None = Field(
        None, description="usage - cache (v1) / usage - inactive_file (v2)."
    )
    mem_limit: int | None = Field(None, description="Limit the kernel enforces, bytes.")
    pids: int | None = None
    sampled_at: float = Field(default_factory=time.time, description="Epoch seconds.")


class ContainerInfo(BaseModel):
    """One container as the engine knows it (from list + inspect + events)."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    id: str
    host: str
    name: str
    image: str
    state: str = Field(description="created | running | paused | restarting | exited | dead")
    status: str = ""
    created: float = Field(0.0, description="Epoch seconds.")
    started_at: float | None = Field(None, description="Epoch seconds of the last start.")
    pid: int = 0
    labels: dict[str, str] = Field(default_factory=dict)
    memory_limit: int = Field(0, description="HostConfig.Memory; 0 = unlimited.")
    memory_swap: int = Field(0, description="HostConfig.MemorySwap; -1 = unlimited swap.")
    nano_cpus: int = 0
    restart_count: int = 0
    stats: ContainerStats | None = None

    @property
    def key(self) -> str:
        """Unique across hosts."""
        return f"{self.host}/{self.id}"

    @property
    def role(self) -> str | None:
        """What clawtui made this container for (`clawtui.role` label), if anything."""
        return self.labels.get("clawtui.role")

    @property
    def running(self) -> bool:
        return self.state == "running"

    def uptime(self, now: float | None = None) -> float | None:
        """Seconds since the last start while running, else None."""
        if not self.running or not self.started_at:
            return None
        return max(0.0, (now or time.time()) - self.started_at)


class EventKind(StrEnum):
    """Kinds of engine events on the bus (and on the service's event stream)."""

    HOST = "host"  # a host's state or info changed; data = HostInfo
    CONTAINER = "container"  # a container was added or changed; data = ContainerInfo
    CONTAINER_REMOVED = "container.removed"  # data = {"id", "host", "name"}
    STATS = "stats"  # one tick of a host's sampler; data = {"host", "stats": {id: ContainerStats}}
    RESYNC = "resync"  # a consumer fell behind or a gap happened: re-read the snapshot
    LOG = "log"  # a line for the activity view; data = {"entry": ActivityEntry}
    MEMORY = "memory"  # a memory batch touched Docker; data = {"result": memory_models.ApplyResult}
    # One kind per capability; each capability documents its own data where it publishes.
    THREAD = "thread"  # a thread, its HEARTBEAT.md, queue or repo state changed
    HEARTBEAT = "heartbeat"  # a heartbeat was sent, skipped or answered
    KB = "kb"  # the master knowledge base changed
    POOL = "pool"  # a pool's warm / claimed counts or a claim changed
    SYNC = "sync"  # a state sync started, progressed or finished
    ESCALATION = "escalation"  # an escalation was raised or decided
    INCIDENT = "incident"  # a health incident changed state
    BRIEF = "brief"  # a morning brief was built
    INGRESS = "ingress"  # a webhook delivery or relay message was accepted or rejected
    TMUX = "tmux"  # tmux sessions of a container changed (attach, run, send)


class Event(BaseModel):
    """One engine event. `key` identifies what a coalescing consumer may replace."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    kind: EventKind
    host: str | None = None
    ts: float = Field(default_factory=time.time)
    data: dict[str, Any] = Field(default_factory=dict)
    seq: int = 0
    payload: BaseModel | None = Field(None, exclude=True, repr=False)
    """The typed payload of `data` (`engine/api/events.py`; not on the wire: `data` is)."""

    @property
    def coalesce_key(self) -> tuple[str, str] | None:
        """Stats events coalesce per host: a slow consumer only needs the latest."""
        if self.kind is EventKind.STATS:
            return (self.kind.value, self.host or "")
        return None


class ActivityEntry(BaseModel):
    """One line of the engine's activity log (kept in the store)."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    ts: float
    level: str = "info"
    host: str | None = None
    subject: str | None = None
    message: str
