"""The one engine interface the front ends talk to.

Panels and routes use only this protocol, so they cannot tell whether the engine runs in their
process (`clawtui`, `clawtui serve`) or behind the service's HTTP API (`clawtui --connect URL`).
Reads are synchronous snapshots of engine state; changes arrive as events on a subscription.

Capabilities beyond the snapshot (container actions, dev boxes, memory rebalancing) are
described by their own protocols below. An engine offers them as the attributes `actions`,
`devboxes` and `memory`; a front end reaches them through `actions_of` / `devboxes_of` /
`memory_of`, which answer None for an engine without them, so a panel can say "not available
here" instead of failing. The remote client (`clawtui --connect`) offers all three over the
service's REST routes.

Threads (`ThreadsAPI` / `threads_of`) and ingress (`IngressAPI` / `ingress_of`) are defined with
their value types in `api/threads.py` and `api/ingress.py`; they are imported here so that
`clawtui.engine.api` keeps offering them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from clawtui.engine.api.ingress import IngressAPI as IngressAPI
from clawtui.engine.api.ingress import ingress_of as ingress_of
from clawtui.engine.api.models import ActivityEntry, ContainerInfo, EventKind, HostInfo
from clawtui.engine.api.pools import PoolsAPI as PoolsAPI  # re-exported: pools' home is api.pools
from clawtui.engine.api.pools import pools_of as pools_of
from clawtui.engine.api.threads import ThreadsAPI as ThreadsAPI
from clawtui.engine.api.threads import threads_of as threads_of
from clawtui.engine.bus import Subscription

if TYPE_CHECKING:
    from clawtui.engine.devboxes.manager import DevboxInfo
    from clawtui.engine.memory.models import ApplyResult, MemoryChange, MemoryPlan
    from clawtui.engine.sessions.tmux_manager import BroadcastOutcome, TmuxListing


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


class ContainerActionsAPI(Protocol):
    """Lifecycle verbs and logs of containers the engine knows, by key (`host/id`).

    Every method raises an exception whose message is meant for a person (the engine's
    `ActionError`) when the key is unknown, the host is offline or Docker refuses.
    """

    async def start(self, key: str) -> None: ...

    async def stop(self, key: str, *, timeout: int = 10) -> None: ...

    async def restart(self, key: str, *, timeout: int = 10) -> None: ...

    async def remove(self, key: str, *, force: bool = False, volumes: bool = False) -> None: ...

    def logs(self, key: str, *, tail: int | None = 100, follow: bool = False) -> AsyncIterator[str]:
        """Log lines (stdout and stderr): the last `tail`, then new ones while `follow`."""
        ...


class DevboxesAPI(Protocol):
    """Create and remove dev boxes (containers labelled `clawtui.role=devbox`)."""

    async def create(
        self,
        name: str,
        pubkey_text: str,
        *,
        memory: int | str | None = None,
        cpus: float | None = None,
        port: int | None = None,
        host: str | None = None,
        sudo: bool = False,
        progress: Callable[[str], None] | None = None,
    ) -> DevboxInfo:
        """Create and start one; `progress` gets lines (build steps, waiting for sshd)."""
        ...

    async def remove(self, name: str, *, keep_home: bool = False, host: str | None = None) -> str:
        """Remove one (and its home volume unless `keep_home`); what was done, in words."""
        ...

    def ssh_command(self, box: DevboxInfo) -> str:
        """The command a developer types to reach the dev box."""
        ...


class MemoryAPI(Protocol):
    """Live memory rebalancing: validate a batch of new limits, apply it, read the history."""

    async def plan(
        self, changes: Mapping[str, int], *, who: str, confirm_below_usage: bool = False
    ) -> MemoryPlan:
        """Validate `changes` ({container key: new limit in bytes}); nothing is changed."""
        ...

    async def apply(
        self, changes: Mapping[str, int], *, who: str, confirm_below_usage: bool = False
    ) -> ApplyResult:
        """Validate against fresh state and apply all of `changes`, or none."""
        ...

    async def history(self, limit: int = 100) -> list[MemoryChange]:
        """The newest recorded changes, newest first."""
        ...




def actions_of(engine: EngineAPI) -> ContainerActionsAPI | None:
    """The engine's container actions, or None when it has none."""
    actions: ContainerActionsAPI | None = getattr(engine, "actions", None)
    return actions


def devboxes_of(engine: EngineAPI) -> DevboxesAPI | None:
    """The engine's dev boxes, or None when it has none."""
    devboxes: DevboxesAPI | None = getattr(engine, "devboxes", None)
    return devboxes


def memory_of(engine: EngineAPI) -> MemoryAPI | None:
    """The engine's memory rebalancing, or None when it has none."""
    memory: MemoryAPI | None = getattr(engine, "memory", None)
    return memory


class TmuxAPI(Protocol):
    """tmux in containers with sshd (see engine/tmux_manager.py): list, run, send, broadcast.

    Containers are named as dev box name, container name or `HOST/ID`. Bad names raise
    `InvalidName` before anything is sent; other failures raise with a message for a person.
    """

    async def sessions(self, container: str) -> TmuxListing: ...

    async def run(
        self,
        container: str,
        command: Sequence[str],
        *,
        session: str | None = None,
        window: str | None = None,
        cwd: str | None = None,
    ) -> str:
        """Start `command` in a new window; the session it went to."""
        ...

    async def send(
        self,
        container: str,
        text: str,
        *,
        session: str | None = None,
        keys: bool = False,
        window: str | None = None,
    ) -> str: ...

    async def broadcast(
        self, containers: Sequence[str], text: str, *, session: str | None = None
    ) -> list[BroadcastOutcome]:
        """One outcome per container; one failing does not stop the others."""
        ...


def tmux_of(engine: EngineAPI) -> TmuxAPI | None:
    """The engine's tmux capability, or None when it has none."""
    tmux: TmuxAPI | None = getattr(engine, "tmux", None)
    return tmux
