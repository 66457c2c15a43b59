"""The one engine interface the front ends talk to.

Panels and routes use only this protocol, so they cannot tell whether the engine runs in their
process (`clawtui`, `clawtui serve`) or behind the service's HTTP API (`clawtui --connect URL`).
Reads are synchronous snapshots of engine state; changes arrive as events on a subscription.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol, runtime_checkable

from clawtui.engine.bus import Subscription
from clawtui.engine.models import ActivityEntry, ContainerInfo, EventKind, HostInfo


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
