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
four over the service's REST routes.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from clawtui.engine.api.devboxes import DevboxesAPI as DevboxesAPI
from clawtui.engine.api.devboxes import devboxes_of as devboxes_of
from clawtui.engine.api.fleet import ContainerActionsAPI as ContainerActionsAPI
from clawtui.engine.api.fleet import actions_of as actions_of
from clawtui.engine.api.memory import MemoryAPI as MemoryAPI
from clawtui.engine.api.memory import memory_of as memory_of
from clawtui.engine.api.models import ActivityEntry, ContainerInfo, EventKind, HostInfo
from clawtui.engine.api.tmux import TmuxAPI as TmuxAPI
from clawtui.engine.api.tmux import tmux_of as tmux_of
from clawtui.engine.bus import Subscription

if TYPE_CHECKING:
    from clawtui.config.ingress import RelayRoute
    from clawtui.engine.ingress.manager import IngressRecord
    from clawtui.engine.pools.manager import ClaimInfo, PoolStatus, SyncResult
    from clawtui.engine.threads.manager import ThreadDetail, ThreadProgress, ThreadStatus
    from clawtui.engine.threads.queue import IncomingMessage


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


class IngressAPI(Protocol):
    """The webhook and relay: routes (add / remove persist at once) and recent traffic."""

    recent: Iterable[IngressRecord]
    """Recent accepted / rejected / delivered records, oldest first."""

    def routes(self) -> list[RelayRoute]: ...

    def agents(self) -> list[str]: ...

    async def add_route(self, sender: str, to: str, note: str = "") -> RelayRoute: ...

    async def remove_route(self, sender: str, to: str) -> None: ...


def ingress_of(engine: EngineAPI) -> IngressAPI | None:
    """The engine's ingress, or None when it has none (the remote client, for now)."""
    ingress: IngressAPI | None = getattr(engine, "ingress", None)
    return ingress


class PoolsAPI(Protocol):
    """Warm pools: status, claim, release, sync and scale (see engine/pools.py)."""

    async def status(self) -> list[PoolStatus]: ...

    async def tenants(self) -> list[ClaimInfo]: ...

    async def claim(
        self, tenant: str, pool_name: str, config: Any = None, secrets: Any = None
    ) -> ClaimInfo: ...

    async def release(
        self, tenant: str, *, sync: bool = True, force: bool = False
    ) -> ClaimInfo: ...

    async def sync(self, tenant: str, direction: str = "upload") -> SyncResult: ...

    async def scale(self, pool_name: str, min_warm: int) -> PoolStatus: ...


def pools_of(engine: EngineAPI) -> PoolsAPI | None:
    """The engine's pool manager (or the remote client's, over REST), or None when it has none."""
    pools: PoolsAPI | None = getattr(engine, "pools", None)
    return pools


class ThreadsAPI(Protocol):
    """Agent threads: snapshots, detail, sending, heartbeats and the knowledge base."""

    def statuses(self) -> list[ThreadStatus]: ...

    def progress(self) -> list[ThreadProgress]:
        """Per thread: id, name, cwd, last activity (epoch seconds), liveness."""
        ...

    async def detail(self, thread_id: int) -> ThreadDetail: ...

    async def send(
        self, thread_id: int, text: str, *, sender: str = "clawtui"
    ) -> IncomingMessage: ...

    async def beat_now(self, thread_id: int) -> None: ...

    async def kb_file(self, name: str) -> str:
        """context.md, decisions.md or active-projects.md; any other name is refused."""
        ...

    async def kb_log(self, limit: int = 20) -> list[str]: ...


def threads_of(engine: EngineAPI) -> ThreadsAPI | None:
    """The engine's threads capability, or None when it has none."""
    threads: ThreadsAPI | None = getattr(engine, "threads", None)
    return threads
