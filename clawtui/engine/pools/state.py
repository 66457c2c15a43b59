"""The pool manager's state and the helpers every part of it uses.

`PoolsState` holds what the parts of `Pools` share (configured pools and workloads, warm targets,
in-flight slots, background tasks, latency samples, metrics) and the small operations on it:
looking up a pool and its host, publishing, removing a container with its folder and row, CAS
updates of a row, reading a tenant's claim. The parts (`containers`, `claims`, `release`,
`tenant_sync`, `reconcile`, `invariants`) extend it; `manager.Pools` puts them together.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import shutil
import sqlite3
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from clawtui.config.pools import PoolConfig, WorkloadConfig
from clawtui.engine.api.models import EventKind, HostState
from clawtui.engine.api.pools import ClaimInfo, PoolNotFound, PoolUnavailable, SyncState
from clawtui.engine.docker_sdk import docker
from clawtui.engine.pools import store as ps
from clawtui.engine.pools.metrics import PoolMetrics
from clawtui.engine.pools.spec import LABEL_ENGINE, LABEL_POOL, LABEL_ROLE, ROLE
from clawtui.engine.pools.sync import SyncRun
from clawtui.fsutil import atomic_write

if TYPE_CHECKING:
    from clawtui.engine.context import Context
    from clawtui.engine.escalations.manager import Escalations
    from clawtui.engine.fleet.hosts import HostMonitor

_TICK = 0.5
_ORPHAN_WARMING_AGE = 10.0
_LATENCIES = 1000


def _user_uid(user: str | None) -> int | None:
    if user is None or os.geteuid() != 0:
        return None
    head = user.split(":", 1)[0]
    return int(head) if head.isdigit() else None


class PoolsState:
    """What the parts of the pool manager share; built from the narrow engine context."""

    def __init__(self, ctx: Context, *, escalations: Escalations) -> None:
        self.ctx = ctx
        self.escalations = escalations
        settings = ctx.settings
        self.workloads: dict[str, WorkloadConfig] = {w.name: w for w in settings.workloads}
        self.pools: dict[str, PoolConfig] = {p.name: p for p in settings.pools}
        state_dir = settings.engine.resolved_state_dir
        self.root = state_dir / "pools"
        self.default_sink = state_dir / "sync"
        self._targets: dict[str, int] = {}
        self._inflight: set[str] = set()
        self._draining: set[str] = set()
        """Pools `drain` took out of service (no claims, no fill) until `scale`."""
        self._tasks: set[asyncio.Task[Any]] = set()
        self._loop_task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._room = asyncio.Event()
        """Set (and replaced) whenever a container becomes warm or is removed: what a claim
        waiting for room taken by warming containers waits on (`room_changed`)."""
        self._latency: dict[str, deque[tuple[str, float]]] = {
            p: deque(maxlen=_LATENCIES) for p in self.pools
        }
        self._fill_backoff: dict[str, float] = {}
        self._seen_reconciles: dict[str, int] = {}
        self._last_periodic: dict[str, float] = {}
        self._syncing: set[str] = set()
        self._releasing: set[str] = set()
        self.reconcile_lock = asyncio.Lock()
        self.metrics = PoolMetrics()
        self.clock: Callable[[], float] = time.time
        """Wall-clock seconds for every pool decision (ages, retry and idle times, GC grace);
        tests replace it to make background decisions independent of how long steps take."""
        self.background = True
        """False: no fill / health / idle loop (a one-shot CLI engine); reconcile is called."""
        self._stopping = False
        self._engine_id: str | None = None

    @property
    def engine_id(self) -> str:
        """This engine's id, made once and kept in `<state_dir>/pools/engine-id`."""
        if self._engine_id is None:
            path = self.root / "engine-id"
            try:
                found = path.read_text(encoding="ascii").strip()
            except (FileNotFoundError, UnicodeDecodeError):
                found = ""
            if not (len(found) == 32 and all(c in "0123456789abcdef" for c in found)):
                found = secrets.token_hex(16)
                self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
                atomic_write(path, found + "\n", mode=0o600, follow_links=False)
            self._engine_id = found
        return self._engine_id

    def _spawn(self, coro: Any, name: str) -> asyncio.Task[Any]:
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def pool(self, name: str) -> PoolConfig:
        pool = self.pools.get(name)
        if pool is None:
            known = ", ".join(sorted(self.pools)) or "none configured"
            raise PoolNotFound(f"no pool named {name[:60]!r} (known: {known})")
        return pool

    def target(self, name: str) -> int:
        pool = self.pool(name)
        return min(self._targets.get(name, pool.min_warm), pool.max)

    def _monitor(self, host: str) -> tuple[HostMonitor, Any]:
        monitor = self.ctx.monitors.get(host)
        if monitor is None:
            raise PoolUnavailable(f"pool host {host!r} is not configured")
        client = monitor.client
        if client is None or monitor.info.state is not HostState.ONLINE:
            raise PoolUnavailable(
                f"host {host} is not online ({monitor.info.error or monitor.info.state.value}); "
                "try again when it is back"
            )
        return monitor, client

    def _online(self, host: str) -> bool:
        monitor = self.ctx.monitors.get(host)
        return monitor is not None and monitor.info.state is HostState.ONLINE

    def _offline(self, host: str) -> bool:
        """The host's monitor says offline (not: still connecting for the first time)."""
        monitor = self.ctx.monitors.get(host)
        return monitor is None or monitor.info.state is HostState.OFFLINE

    def _pool_hosts(self) -> set[str]:
        """Every host some pool may place containers on."""
        return {h for p in self.pools.values() for h in p.all_hosts}

    def _is_local(self, host: str) -> bool:
        monitor = self.ctx.monitors.get(host)
        return monitor is None or monitor.cfg.is_local

    def _dir(self, container: str) -> Path:
        return self.root / container

    def _publish(self, kind: EventKind, host: str | None, **data: Any) -> None:
        self.ctx.bus.publish(kind, host=host, **data)

    def wake(self) -> None:
        self._wake.set()

    def room_changed(self) -> None:
        """A container turned warm or went away: wake the claims waiting for one."""
        event, self._room = self._room, asyncio.Event()
        event.set()

    async def _discard(self, host: str, name: str, cid: str | None) -> None:
        """Remove a container (if any), its folder and its row; errors are logged, not raised.

        When Docker cannot be asked (host offline, daemon restarting) the row stays, marked
        `removing`, so the container is never left without a row: reconcile finishes the job.
        """
        monitor = self.ctx.monitors.get(host)
        client = monitor.client if monitor else None
        removed = False
        if monitor is not None and client is not None:
            try:
                await monitor.call(client.remove_container, cid or name, force=True, v=True)
                removed = True
            except docker.errors.NotFound:
                removed = True
            except (docker.errors.DockerException, OSError) as exc:
                self.ctx.log_activity(
                    "warning",
                    f"could not remove pool container {name}: {exc}; reconcile retries",
                    host=host,
                    subject="pools",
                )
        if not removed:

            def mark(conn: sqlite3.Connection) -> None:
                with self.ctx.store.transaction():
                    ps.mark_removing(conn, name, time.time())

            await self.ctx.store.arun(mark)
            return
        await asyncio.to_thread(shutil.rmtree, self._dir(name), True)
        await self._delete_row(name)
        self.room_changed()

    async def _take_for_removal(self, row: ps.ContainerRow) -> bool:
        """Mark the container `removing` if it is still as `row` saw it (compare-and-swap);
        False when something else changed it meanwhile."""

        def take(conn: sqlite3.Connection) -> bool:
            with self.ctx.store.transaction():
                try:
                    ps.set_container(conn, row.name, row.version, state="removing")
                except ps.CasFailed:
                    return False
                return True

        return await self.ctx.store.arun(take)

    async def _set_row(self, name: str, version: int, **changes: Any) -> None:
        """CAS update of one container row in its own transaction."""

        def run(conn: sqlite3.Connection) -> None:
            with self.ctx.store.transaction():
                ps.set_container(conn, name, version, **changes)

        await self.ctx.store.arun(run)

    async def _delete_row(self, name: str) -> None:
        def run(conn: sqlite3.Connection) -> None:
            with self.ctx.store.transaction():
                ps.delete_container(conn, name)

        await self.ctx.store.arun(run)

    @staticmethod
    def _endpoints(data: Any, workload: WorkloadConfig) -> list[str]:
        networks = (data.get("NetworkSettings") or {}).get("Networks") or {}
        ips = [
            str(n.get("IPAddress"))
            for n in networks.values()
            if isinstance(n, dict) and n.get("IPAddress")
        ]
        if not ips:
            return []
        return [f"{ips[0]}:{port}" for port in workload.ports] or [ips[0]]

    def _docker_health(self, host: str, cid: str | None) -> str | None:
        """'unhealthy' / 'stopped' / None from the fleet model (no Docker call)."""
        monitor = self.ctx.monitors.get(host)
        if monitor is None or cid is None:
            return None
        info = monitor.containers.get(cid)
        if info is None:
            return None
        if not info.running:
            return "stopped"
        return "unhealthy" if "(unhealthy)" in info.status else None

    async def _docker_pool_containers(self, host: str) -> dict[str, dict[str, Any]]:
        monitor, client = self._monitor(host)
        listed = await monitor.call(
            client.containers, all=True, filters={"label": f"{LABEL_ROLE}={ROLE}"}
        )
        out: dict[str, dict[str, Any]] = {}
        for c in listed if isinstance(listed, list) else []:
            if not isinstance(c, dict):
                continue
            labels = c.get("Labels") or {}
            if labels.get(LABEL_POOL) not in self.pools:
                continue  # another engine's pool: not ours to judge
            if labels.get(LABEL_ENGINE, self.engine_id) != self.engine_id:
                continue  # the same pool name, another engine's container
            names = c.get("Names") or []
            if not names:
                continue
            out[str(names[0]).lstrip("/")] = c
        return out

    async def tenant(self, tenant: str) -> ClaimInfo:
        def read(conn: sqlite3.Connection) -> tuple[ps.ClaimRow | None, Any, list[dict[str, Any]]]:
            claim = ps.open_claim(conn, tenant) or ps.last_claim(conn, tenant)
            row = ps.container(conn, claim.container) if claim is not None else None
            return claim, row, ps.sync_status(conn, tenant)

        claim, row, sync = await self.ctx.store.arun(read)
        if claim is None:
            raise PoolNotFound(f"tenant {tenant[:70]!r} has never claimed a container")
        endpoints = row.endpoints if row is not None else []
        return ClaimInfo(
            tenant=claim.tenant,
            pool=claim.pool,
            container=claim.container,
            host=claim.host,
            state=claim.state,
            source=claim.source,
            claimed_at=claim.claimed_at,
            last_activity=claim.last_activity,
            released_at=claim.released_at,
            endpoints=endpoints,
            error=claim.error,
            release_attempts=claim.release_attempts,
            sync=[SyncState.model_validate(s) for s in sync],
            config=_json_object(claim.config),
            secret_names=[str(n) for n in _json_list(claim.secret_names)],
        )

    @staticmethod
    def _state_of(run: SyncRun) -> SyncState:
        return SyncState(
            mapping=run.mapping,
            direction=run.direction,
            status=run.status,
            last_run=run.finished_at,
            bytes=run.bytes,
            files=run.files,
            duration=run.duration,
            error=run.error,
        )


def _json_object(text: str | None) -> dict[str, Any]:
    try:
        value = json.loads(text) if text else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _json_list(text: str | None) -> list[Any]:
    try:
        value = json.loads(text) if text else []
    except ValueError:
        return []
    return value if isinstance(value, list) else []
