"""`Engine`: composes the capabilities (fleet hosts, store, bus) and owns their lifecycle.

Both front ends receive an Engine (or a remote client with the same interface, see `api.py`).
Start and stop happen in one place, every long-lived task has a name, and everything the engine
notices worth telling the admin goes through `log_activity`: onto the bus as a LOG event and,
batched, into the store's activity log.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from clawtui.engine import store as store_migrations
from clawtui.engine.api.models import ActivityEntry, ContainerInfo, EventKind, HostInfo
from clawtui.engine.autoheal.containers import ContainerAutoheal
from clawtui.engine.autoheal.hosts import HostAutoheal
from clawtui.engine.autoheal.repair import Autoheal
from clawtui.engine.brief import store as brief_store
from clawtui.engine.brief.briefs import Briefs
from clawtui.engine.bus import EventBus, Subscription
from clawtui.engine.context import Context
from clawtui.engine.devboxes.manager import Devboxes
from clawtui.engine.escalations import store as escalation_store
from clawtui.engine.escalations.incidents import Incidents
from clawtui.engine.escalations.manager import Escalations
from clawtui.engine.fleet.actions import ContainerActions
from clawtui.engine.fleet.hosts import HostMonitor
from clawtui.engine.health.monitors import HealthMonitors
from clawtui.engine.ingress import store as ingress_store
from clawtui.engine.ingress.manager import Ingress
from clawtui.engine.memory import store as memory_store
from clawtui.engine.memory.manager import MemoryManager
from clawtui.engine.notifier import Notifier
from clawtui.engine.pools import store as pool_store
from clawtui.engine.pools.manager import Pools
from clawtui.engine.sessions.tmux_manager import TmuxManager
from clawtui.engine.store import Migration, Store
from clawtui.engine.store import StoreError as StoreError  # for the entry points
from clawtui.engine.stuck.detector import StuckDetector
from clawtui.engine.threads.manager import Threads
from clawtui.engine.threads.queue import TinyClawQueue
from clawtui.engine.tokens import store as token_store
from clawtui.engine.tokens.manager import Tokens

if TYPE_CHECKING:
    from clawtui.config import Settings

log = logging.getLogger(__name__)

_ACTIVITY_FLUSH_SECONDS = 0.5


# Every schema step: the shared tables' and those of each capability that owns tables (each in its
# own `store.py`, in its own range of versions).
MIGRATIONS: list[Migration] = [
    *store_migrations.MIGRATIONS,
    *memory_store.MIGRATIONS,
    *pool_store.MIGRATIONS,
    *escalation_store.MIGRATIONS,
    *brief_store.MIGRATIONS,
    *ingress_store.MIGRATIONS,
    *token_store.MIGRATIONS,
]


def open_store(path: Path | str) -> Store:
    """The engine's store with the schema steps of every capability that owns tables."""
    return Store(path, migrations=MIGRATIONS)


class Component(Protocol):
    """A capability with background work: started after the store opens, stopped in reverse."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


class Engine:
    """The local engine: talks to Docker hosts directly."""

    is_remote = False

    def __init__(self, settings: Settings, *, store: Store | None = None) -> None:
        self.settings = settings
        self.bus = EventBus()
        self.store = store or open_store(settings.engine.db_path)
        self.monitors: dict[str, HostMonitor] = {
            h.name: HostMonitor(
                h,
                self.bus,
                stats_interval=settings.engine.stats_interval,
                max_backoff=settings.engine.reconnect_max_backoff,
                activity=self.log_activity,
            )
            for h in settings.hosts
        }
        self.notifier = Notifier(settings.notify)
        self.context = Context(
            settings=settings,
            store=self.store,
            bus=self.bus,
            log_activity=self.log_activity,
            monitors=self.monitors,
        )
        self.memory = MemoryManager(self.context, self.notifier)
        self._pending_activity: list[ActivityEntry] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        self._started = False
        self._components_task: asyncio.Task[list[tuple[str, Exception]]] | None = None
        self._begun: list[Component] = []  # components whose start was run, in start order
        self.started_at: float | None = None
        self.actions = ContainerActions(self.context)
        self.devboxes = Devboxes(self.context, self.actions)
        self.queue = TinyClawQueue(
            settings.threads.resolved_home(settings.engine.resolved_state_dir),
            mode=settings.threads.queue_file_mode,
            owner=settings.threads.queue_file_owner,
        )
        self.escalations = Escalations(self.context, self.queue)
        # Capabilities with background tasks register here (in start order).
        self.components: list[Component] = []
        self.threads = Threads(self.context, self.queue, self.notifier)
        self.escalations.kb_dir = self.threads.kb_dir  # decisions go to decisions.md
        self.components.append(self.threads)
        self.incidents = Incidents(self.context, self.notifier, self.queue)
        self.stuck = StuckDetector(  # activity from the threads + the queue
            self.context, self.escalations, queue=self.queue, threads=self.threads
        )
        self.briefs = Briefs(
            self.context,
            escalations=self.escalations,
            incidents=self.incidents,
            notifier=self.notifier,
            threads=self.threads,
            activity=self.stuck.provider,
        )
        self.health = HealthMonitors(self.context, self.incidents)
        self.autoheal = Autoheal(self.context, self.escalations)
        self.container_autoheal = ContainerAutoheal(self.context, self.escalations)
        self.host_autoheal = HostAutoheal(self.context, self.escalations)
        self.components += [
            self.stuck,
            self.briefs,
            self.health,
            self.autoheal,
            self.container_autoheal,
            self.host_autoheal,
        ]
        self.ingress = Ingress(self.context, self.queue, self.escalations, self.notifier)
        self.components.append(self.ingress)
        self.pools = Pools(self.context, escalations=self.escalations)
        self.components.append(self.pools)
        self.tmux = TmuxManager(self.context)
        self.tokens = Tokens(self.context)
        self.components.append(self.tokens)
        self.components.append(self.tmux)

    # -- lifecycle ---------------------------------------------------------------------------
    async def start(self, *, components: bool = True) -> None:
        """Open the store, start the host monitors and then (by default) every component.

        `components=False` stops after the host monitors, so a front end can draw the fleet
        first and call `start_components` later (the TUI does, after its first frame). With
        the default, everything is started when this returns and a component that fails to
        start raises here, as `clawtui serve` and the tests expect.
        """
        if self._started:
            return
        self._started = True
        self.started_at = time.time()
        self.bus.bind(asyncio.get_running_loop())
        await asyncio.to_thread(self.store.open)
        keep = self.settings.engine.event_log_keep_days * 86400
        await asyncio.to_thread(self.store.prune_activity, time.time() - keep)
        for i, monitor in enumerate(self.monitors.values()):
            monitor.start(phase=i / len(self.monitors))
        task = asyncio.create_task(self._flush_activity_loop(), name="engine:activity")
        self._tasks.add(task)
        if components:
            failures = await self._components_once(keep_going=False)
            if failures:
                raise failures[0][1]

    async def start_components(self) -> list[tuple[str, Exception]]:
        """Start the components not started yet, in order, once (later calls wait for the first).

        A component that fails to start does not keep the others from starting: each failure
        is logged in the activity log (level error) and returned as (component name, error).
        `stop()` at any time, also while this runs, cancels what is still starting and stops
        every component whose start began.
        """
        if not self._started:
            raise RuntimeError("start the engine (start(components=False)) first")
        return await self._components_once(keep_going=True)

    @property
    def components_started(self) -> bool:
        """True once every component's start has been run (successfully or not)."""
        task = self._components_task
        return task is not None and task.done()

    async def _components_once(self, *, keep_going: bool) -> list[tuple[str, Exception]]:
        if self._components_task is None:
            self._components_task = asyncio.create_task(
                self._start_components(keep_going), name="engine:components"
            )
        # Shielded: a caller that is cancelled (a TUI worker at exit) does not cancel the
        # start half-way; stop() does that, and then stops what was started.
        return await asyncio.shield(self._components_task)

    async def _start_components(self, keep_going: bool) -> list[tuple[str, Exception]]:
        failures: list[tuple[str, Exception]] = []
        for component in self.components:
            name = type(component).__name__
            self._begun.append(component)  # stopped by stop() even if its start fails
            try:
                await component.start()
            except Exception as exc:
                failures.append((name, exc))
                self.log_activity("error", f"{name} did not start: {exc}", subject=name)
                if not keep_going:
                    break
        return failures

    async def stop(self) -> None:
        if not self._started:
            return
        self._started = False
        starting, self._components_task = self._components_task, None
        if starting is not None and not starting.done():
            starting.cancel()
        if starting is not None:
            await asyncio.gather(starting, return_exceptions=True)
        begun, self._begun = self._begun, []
        for component in reversed(begun):
            try:
                await component.stop()
            except Exception:  # one capability failing to stop must not keep the rest running
                log.exception("stopping %s failed", type(component).__name__)
        await asyncio.gather(*(m.stop() for m in self.monitors.values()), return_exceptions=True)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        await self.notifier.aclose()
        with contextlib.suppress(Exception):
            await self._flush_activity()
        self.bus.close()
        await asyncio.to_thread(self.store.close)

    async def wait_online(self, timeout: float = 10.0) -> bool:
        """Wait until every host has answered once (online or offline); True if all online."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            states = [h.state.value for h in self.hosts()]
            if all(s == "online" for s in states):
                return True
            await asyncio.sleep(0.05)
        return False

    # -- reads -------------------------------------------------------------------------------
    def subscribe(self, kinds: Iterable[EventKind] | None = None) -> Subscription:
        return self.bus.subscribe(kinds)

    def hosts(self) -> list[HostInfo]:
        return [m.info for m in self.monitors.values()]

    def host(self, name: str) -> HostInfo | None:
        monitor = self.monitors.get(name)
        return monitor.info if monitor else None

    def containers(
        self, *, host: str | None = None, role: str | None = None
    ) -> list[ContainerInfo]:
        return self.context.containers(host=host, role=role)

    def container(self, key: str) -> ContainerInfo | None:
        return self.context.container(key)

    async def activity(self, limit: int = 200) -> list[ActivityEntry]:
        await self._flush_activity()
        return await asyncio.to_thread(self.store.recent_activity, limit)

    # -- activity log ------------------------------------------------------------------------
    def log_activity(
        self, level: str, message: str, *, host: str | None = None, subject: str | None = None
    ) -> None:
        entry = ActivityEntry(
            ts=time.time(), level=level, host=host, subject=subject, message=message
        )
        self._pending_activity.append(entry)
        self.bus.publish(EventKind.LOG, host=host, entry=entry)
        getattr(log, level if level in ("info", "warning", "error") else "info")(
            "%s%s", f"[{host}] " if host else "", message
        )

    async def _flush_activity(self) -> None:
        batch, self._pending_activity = self._pending_activity, []  # swapped on the loop thread
        if batch:
            await asyncio.to_thread(self.store.add_activity, batch)

    async def _flush_activity_loop(self) -> None:
        while True:
            await asyncio.sleep(_ACTIVITY_FLUSH_SECONDS)
            try:
                await self._flush_activity()
            except Exception as exc:  # disk full, locked: keep running, say so once per batch
                log.warning("could not write the activity log: %s", exc)
