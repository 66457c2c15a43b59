"""The one engine interface the front ends talk to.

Panels and routes use only this protocol, so they cannot tell whether the engine runs in their
process (`clawtui`, `clawtui serve`) or behind the service's HTTP API (`clawtui --connect URL`).
Reads are synchronous snapshots of engine state; changes arrive as events on a subscription.

Capabilities beyond the snapshot (container actions, dev boxes, memory rebalancing, tmux) are
described by their own protocols, beside their value types (`api.fleet`, `api.devboxes`,
`api.memory`, `api.tmux`; imported here for `clawtui.engine.api`). An engine offers them as the
attributes `actions`, `devboxes`, `memory` and `tmux`; a front end reaches them through `actions_of`
/ `devboxes_of` / `memory_of` / `tmux_of`, which answer None for an engine without them, so a panel
can say "not available here" instead of failing. The remote client (`clawtui --connect`) offers all
four over the service's REST routes. Pools, threads and ingress likewise live in `api.pools`,
`api.threads` and `api.ingress`, escalations, incidents and the brief in `api.escalations`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol, runtime_checkable

from clawtui.engine.api.devboxes import DevboxesAPI as DevboxesAPI
from clawtui.engine.api.devboxes import devboxes_of as devboxes_of
from clawtui.engine.api.fleet import ContainerActionsAPI as ContainerActionsAPI
from clawtui.engine.api.fleet import actions_of as actions_of
from clawtui.engine.api.ingress import IngressAPI as IngressAPI
from clawtui.engine.api.ingress import ingress_of as ingress_of
from clawtui.engine.api.memory import MemoryAPI as MemoryAPI
from clawtui.engine.api.memory import memory_of as memory_of
from clawtui.engine.api.models import ActivityEntry, ContainerInfo, EventKind, HostInfo
from clawtui.engine.api.pools import PoolsAPI as PoolsAPI
from clawtui.engine.api.pools import pools_of as pools_of
from clawtui.engine.api.threads import ThreadsAPI as ThreadsAPI
from clawtui.engine.api.threads import threads_of as threads_of
from clawtui.engine.api.tmux import TmuxAPI as TmuxAPI
from clawtui.engine.api.tmux import tmux_of as tmux_of

# The bus is the interface's event channel: a front end subscribes (`Subscription`), and the
# remote client republishes what it receives on a bus of its own (`EventBus`).
from clawtui.engine.bus import EventBus as EventBus
from clawtui.engine.bus import Subscription as Subscription


@runtime_checkable
class EngineAPI(Protocol):
    """What the TUI and the service may use of an engine."""

    @property
    def is_remote(self) -> bool:
        """True when this is a client of a remote engine."""
        ...

    async def start(self) -> None:
        """Connect to hosts (or the remote service) and begin publishing events."""
        ...

    async def stop(self) -> None:
        """Stop every task and close every connection; safe to call twice."""
        ...

    def subscribe(self, kinds: Iterable[EventKind] | None = None) -> Subscription:
        """A new subscription to engine events (all kinds when `kinds` is None)."""
        ...

    def hosts(self) -> list[HostInfo]:
        """Every configured host, in config order."""
        ...

    def containers(
        self, *, host: str | None = None, role: str | None = None
    ) -> list[ContainerInfo]:
        """Known containers (optionally of one host or one `clawtui.role`), by host and name."""
        ...

    def container(self, key: str) -> ContainerInfo | None:
        """One container by `host/id` key."""
        ...

    async def activity(self, limit: int = 200) -> list[ActivityEntry]:
        """The most recent entries of the activity log, newest first."""
        ...
