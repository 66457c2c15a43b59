"""Warm pools: containers kept ready, claimed by tenants, released after their state is saved.

Seed 004 (Boilerhouse) and seed 003 (HAL-9000 warm workers: a claim in milliseconds instead of
a 2-5 s cold start). `engine.pools` is a component: `start()` reconciles the store with Docker
and runs one loop that keeps every pool at its warm target, replaces unhealthy warm containers,
releases idle claims, runs periodic syncs, retries failed release uploads and reconciles again
after every gap in a host's Docker event stream.

A claim is a compare-and-swap in SQLite (see `pool_store`), then provisioning: the tenant config
(`tenant.json`, `tenant.env`) and the secrets (one file each) are written, 0600, into folders of
the engine's machine that are bind-mounted into the container, so a warm claim on a local host
makes no Docker call at all. On a remote host they go in with the Docker archive API, and state
sync goes through a staging folder (see `pool_provision`).

Release uploads the tenant's state first (when the policy and the caller say so); a failed
upload keeps the claim in `release_failed` and the container alive, retries with backoff and
raises an escalation after `escalate_after` failures. Only then is the container destroyed and
the pool refilled: a tenant's container never goes to another tenant.

Events: `EventKind.POOL` with data {"pool", "action", "tenant"?, "container"?, "source"?,
"message"?} where action is warm | claimed | refused | released | release_failed | removed |
scaled | reconciled; `EventKind.SYNC` with {"tenant", "pool", "mapping", "direction",
"phase": started | finished, "status"?, "bytes"?, "duration"?, "error"?}. Secrets never appear
in either, nor in the activity log.

Invariants (checked by `invariants()`, used by the tests after every step):
I1 no container is claimed by two tenants; I2 at most one open claim per tenant; I3 every active
claim points at an existing running container; I4 warm + warming <= target and total <= max;
I5 every pool container has a store row (or is younger than the GC grace); I6 no release removed
a container before its upload succeeded or was explicitly skipped; I7 reconcile twice changes
nothing the second time.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import re
import secrets as pysecrets
import shutil
import sqlite3
import statistics
import time
from collections import deque
from collections.abc import Mapping
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import docker.errors
from pydantic import BaseModel, ConfigDict, Field

from clawtui.config.pools import TENANT_VAR, PoolConfig, SyncMapping, WorkloadConfig
from clawtui.engine import pool_store as ps
from clawtui.engine.containers import docker_error_text
from clawtui.engine.escalations import NewEscalation, Severity, Source
from clawtui.engine.models import EventKind, HostState
from clawtui.engine.pool_metrics import PoolMetrics
from clawtui.engine.pool_provision import (
    ProvisionError,
    RemoteProvisioner,
    local_staged_sync,
    remote_mounts,
    staged_sync,
    tenant_files,
    write_local,
)
from clawtui.engine.pool_sync import Rclone, Sink, StateFolder, SyncRun

if TYPE_CHECKING:
    from clawtui.engine.bus import Subscription
    from clawtui.engine.core import Engine
    from clawtui.engine.fleet import HostMonitor

ROLE = "pool"
LABEL_ROLE = "clawtui.role"
LABEL_POOL = "clawtui.pool"
LABEL_WORKLOAD = "clawtui.workload"
LABEL_SPEC = "clawtui.spec"
LABEL_MANAGED = "clawtui.managed"
CRASH_ENV = "CLAWTUI_POOL_CRASH"
"""Names a crash point; the engine process exits at once (like kill -9) when it gets there."""
CRASH_POINTS = (
    "claim.after_commit",
    "release.before_upload",
    "fill.after_create",
    "release.after_upload",
    "release.after_remove",
)
TENANT_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")
SECRET_NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$")
MAX_CONFIG_BYTES = 256 * 1024
MAX_SECRET_BYTES = 64 * 1024
MAX_SECRETS = 64
_TICK = 0.5
_ORPHAN_WARMING_AGE = 10.0
_LATENCIES = 1000


def crash_point(point: str) -> None:
    """Exit the process right here when CLAWTUI_POOL_CRASH names this point (tests)."""
    if os.environ.get(CRASH_ENV) == point:
        os._exit(137)


class PoolError(Exception):
    """A pool operation failed; `status` is the HTTP status the service answers with."""

    status = 500


class PoolInputError(PoolError):
    status = 400


class PoolNotFound(PoolError):
    status = 404


class PoolConflict(PoolError):
    status = 409


class PoolUnavailable(PoolError):
    status = 503


class PoolSyncFailed(PoolError):
    status = 502


class SyncState(BaseModel):
    """Last sync of one tenant's mapping."""

    model_config = ConfigDict(frozen=True)

    mapping: str
    direction: str
    status: str = Field(description="ok | skipped | failed")
    last_run: float
    bytes: int
    files: int
    duration: float
    error: str | None = None


class ClaimInfo(BaseModel):
    """A tenant's claim as the API, the CLI and the TUI show it."""

    model_config = ConfigDict(frozen=True)

    tenant: str
    pool: str
    container: str
    host: str
    state: str = Field(description="active | releasing | release_failed | released | lost")
    source: str = Field(description="warm | cold")
    claimed_at: float
    last_activity: float
    released_at: float | None = None
    endpoints: list[str] = Field(default_factory=list)
    error: str | None = None
    release_attempts: int = 0
    sync: list[SyncState] = Field(default_factory=list)
    latency_ms: float | None = Field(None, description="Claim latency (only on claim).")


class PoolStatus(BaseModel):
    """Counts and claim latency of one pool."""

    model_config = ConfigDict(frozen=True)

    name: str
    workload: str
    host: str
    target: int = Field(description="Warm containers kept (min_warm, or the scaled value).")
    max: int
    warm: int = 0
    warming: int = 0
    claimed: int = 0
    releasing: int = 0
    unhealthy: int = 0
    total: int = 0
    on_empty: str = "cold"
    warm_p50_ms: float | None = None
    warm_p99_ms: float | None = None
    cold_p50_ms: float | None = None
    claims: int = Field(0, description="Claims measured since start.")


class SyncResult(BaseModel):
    """Runs of one sync request."""

    model_config = ConfigDict(frozen=True)

    tenant: str
    ok: bool
    runs: list[SyncState]


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[min(98, max(0, round(q) - 1))]


def spec_hash(workload: WorkloadConfig, pool: PoolConfig) -> str:
    """Hash of everything that shapes a container; warm containers of an old spec are replaced."""
    data = workload.model_dump(mode="json", exclude={"sync", "config_schema"})
    data["pool_host"] = pool.host
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


async def _next_change(changes: Subscription, cid: str, timeout: float) -> None:
    """Until the bus says container `cid` changed (or events were lost), at most `timeout` s."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(timeout):
            while True:
                event = await changes.get()
                info = event.data.get("container")
                if event.kind is EventKind.RESYNC or getattr(info, "id", None) == cid:
                    return


def _user_uid(user: str | None) -> int | None:
    if user is None or os.geteuid() != 0:
        return None
    head = user.split(":", 1)[0]
    return int(head) if head.isdigit() else None


class Pools:
    """The pool manager (`engine.pools`)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        settings = engine.settings
        self.workloads: dict[str, WorkloadConfig] = {w.name: w for w in settings.workloads}
        self.pools: dict[str, PoolConfig] = {p.name: p for p in settings.pools}
        state_dir = settings.engine.resolved_state_dir
        self.root = state_dir / "pools"
        self.default_sink = state_dir / "sync"
        self._targets: dict[str, int] = {}
        self._inflight: set[str] = set()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._loop_task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
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
        self.background = True
        self._stopping = False
        """False: no fill / health / idle loop (a one-shot CLI engine); reconcile is called."""

    # -- lifecycle ---------------------------------------------------------------------------
    async def start(self) -> None:
        if not self.pools or self._loop_task is not None:
            return
        self._stopping = False
        await asyncio.to_thread(self.root.mkdir, parents=True, exist_ok=True, mode=0o700)
        self._targets = await self.engine.store.arun(ps.targets)
        if self.background:
            self._loop_task = asyncio.create_task(self._loop(), name="pools:loop")

    async def stop(self) -> None:
        self._stopping = True
        task, self._loop_task = self._loop_task, None
        if task is not None:
            task.cancel()
        for t in list(self._tasks):
            t.cancel()
        await asyncio.gather(*([task] if task else []), *self._tasks, return_exceptions=True)
        self._tasks.clear()

    def _spawn(self, coro: Any, name: str) -> asyncio.Task[Any]:
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _loop(self) -> None:
        """A full tick every _TICK seconds; a wake-up (a claim, a release) only refills, so a
        burst of claims does not also run health, idle and retry checks once per claim."""
        next_full = 0.0
        while not self._stopping:
            try:
                if time.monotonic() >= next_full:
                    await self._tick()
                    next_full = time.monotonic() + _TICK
                else:
                    for name in self.pools:
                        await self._fill(name)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # keep the pools running; say what broke
                self.engine.log_activity("error", f"pool manager: {exc}", subject="pools")
            self._wake.clear()
            # asyncio.wait, not wait_for: on 3.11 wait_for can swallow a cancel that arrives as
            # the event is set, and the loop would then never stop.
            waiter = asyncio.ensure_future(self._wake.wait())
            try:
                await asyncio.wait({waiter}, timeout=max(0.01, next_full - time.monotonic()))
            finally:
                waiter.cancel()
            if self._stopping:
                return

    async def _tick(self) -> None:
        hosts = {p.host for p in self.pools.values()}
        for host in hosts:
            monitor = self.engine.monitors.get(host)
            if monitor is None or monitor.info.state is not HostState.ONLINE:
                continue
            if self._seen_reconciles.get(host) != monitor.reconciles:
                # First sight of the host, or the monitor reconnected after a gap.
                await self.reconcile(host)
                self._seen_reconciles[host] = monitor.reconciles
        await self._check_health()
        for name in self.pools:
            await self._fill(name)
        await self._idle_and_periodic()
        await self._retry_releases()

    # -- helpers -----------------------------------------------------------------------------
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
        monitor = self.engine.monitors.get(host)
        if monitor is None:
            raise PoolUnavailable(f"pool host {host!r} is not configured")
        client = monitor.client
        if client is None or monitor.info.state is not HostState.ONLINE:
            raise PoolUnavailable(
                f"host {host} is not online ({monitor.info.error or monitor.info.state.value}); "
                "try again when it is back"
            )
        return monitor, client

    def _is_local(self, host: str) -> bool:
        monitor = self.engine.monitors.get(host)
        return monitor is None or monitor.cfg.is_local

    def _dir(self, container: str) -> Path:
        return self.root / container

    def _publish(self, kind: EventKind, host: str | None, **data: Any) -> None:
        self.engine.bus.publish(kind, host=host, **data)

    def wake(self) -> None:
        self._wake.set()

    # -- containers --------------------------------------------------------------------------
    def _container_args(
        self, pool: PoolConfig, workload: WorkloadConfig, name: str, client: Any
    ) -> dict[str, Any]:
        """The fixed template of a pool container (never from a client's body)."""
        base = self._dir(name)
        local = self._is_local(pool.host)
        binds = {
            str(base / vol_name): {"bind": vol.path, "mode": "ro" if vol.read_only else "rw"}
            for vol_name, vol in workload.volumes.all().items()
        }
        sec = workload.security
        res = workload.resources
        host_config = client.create_host_config(
            binds=binds if local else None,
            mounts=None if local else remote_mounts(workload),
            mem_limit=res.memory,
            memswap_limit=res.memory,
            nano_cpus=round(res.cpus * 1e9),
            pids_limit=res.pids,
            cap_drop=sec.cap_drop or None,
            cap_add=sec.cap_add or None,
            read_only=sec.read_only,
            tmpfs={"/tmp": "rw,nosuid,nodev,size=64m"} if sec.read_only else None,
            security_opt=["no-new-privileges:true"] if sec.no_new_privileges else None,
            network_mode=sec.network,
            restart_policy={"Name": "unless-stopped"},
        )
        hc = workload.healthcheck
        env = {k: v for k, v in workload.env.items() if TENANT_VAR not in v}
        env["CLAWTUI_POOL"] = pool.name
        env["CLAWTUI_TENANT_CONFIG"] = workload.volumes.config.path
        return {
            "image": workload.image,
            "command": workload.command,
            "name": name,
            "hostname": name[:63],
            "labels": {
                **workload.labels,
                LABEL_ROLE: ROLE,
                LABEL_POOL: pool.name,
                LABEL_WORKLOAD: workload.name,
                LABEL_SPEC: spec_hash(workload, pool),
                LABEL_MANAGED: "1",
            },
            "environment": env,
            "user": sec.user,
            "healthcheck": {
                "test": ["CMD", *hc.command],
                "interval": int(hc.interval * 1e9),
                "timeout": int(hc.timeout * 1e9),
                "retries": hc.retries,
                "start_period": int(hc.start_period * 1e9),
            },
            "host_config": host_config,
            "detach": True,
        }

    def _make_dirs(self, workload: WorkloadConfig, name: str) -> None:
        base = self._dir(name)
        base.mkdir(parents=True, exist_ok=True, mode=0o700)
        uid = _user_uid(workload.security.user)
        for vol_name in workload.volumes.all():
            d = base / vol_name
            d.mkdir(exist_ok=True, mode=0o700)
            if uid is not None:
                os.chown(d, uid, -1)

    async def _create_container(
        self, pool: PoolConfig, name: str, *, warm: bool
    ) -> ps.ContainerRow:
        """Create, start and wait healthy for the reserved row `name`; returns the new row.

        On any failure the container and the row are removed and PoolError raised.
        """
        workload = self.workloads[pool.workload]
        monitor, client = self._monitor(pool.host)
        cid: str | None = None
        self._inflight.add(name)
        try:
            if self._is_local(pool.host):
                await asyncio.to_thread(self._make_dirs, workload, name)
            args = self._container_args(pool, workload, name, client)
            # A cancelled await does not stop Docker: wait for the create to end, so that the
            # clean-up below knows the id and nothing is left behind without a row.
            create = asyncio.ensure_future(monitor.call(lambda: client.create_container(**args)))
            try:
                created = await asyncio.shield(create)
            except asyncio.CancelledError:
                with contextlib.suppress(Exception):
                    cid = str((await create)["Id"])
                raise
            cid = str(created["Id"])

            def record(conn: sqlite3.Connection) -> ps.ContainerRow:
                with self.engine.store.transaction():
                    row = conn.execute(
                        "SELECT * FROM pool_containers WHERE name = ?", (name,)
                    ).fetchone()
                    if row is None:
                        raise ps.CasFailed(f"slot {name} vanished")
                    r = ps.ContainerRow.of(row)
                    ps.set_container(conn, name, r.version, container_id=cid)
                    return r

            await self.engine.store.arun(record)
            crash_point("fill.after_create")
            await monitor.call(client.start, cid)
            endpoints = await self._wait_healthy(monitor, client, cid, workload)
            return await self.engine.store.arun(
                lambda conn: self._mark_ready(conn, name, endpoints, warm)
            )
        except BaseException as exc:
            await self._discard(pool.host, name, cid)  # awaited: stop() waits for the clean-up
            if isinstance(exc, PoolError | asyncio.CancelledError):
                raise
            if isinstance(exc, docker.errors.DockerException):
                raise PoolUnavailable(
                    f"could not start a {pool.name} container on {pool.host}: "
                    f"{docker_error_text(exc)}"
                ) from None
            if isinstance(exc, ps.CasFailed | OSError | sqlite3.Error):
                raise PoolError(f"could not start a {pool.name} container: {exc}") from None
            raise
        finally:
            self._inflight.discard(name)

    def _mark_ready(
        self, conn: sqlite3.Connection, name: str, endpoints: list[str], warm: bool
    ) -> ps.ContainerRow:
        with self.engine.store.transaction():
            row = conn.execute("SELECT * FROM pool_containers WHERE name = ?", (name,)).fetchone()
            if row is None:
                raise ps.CasFailed(f"slot {name} vanished")
            r = ps.ContainerRow.of(row)
            changes: dict[str, Any] = {"endpoints": json.dumps(endpoints)}
            if warm:
                changes["state"] = "warm"
            ps.set_container(conn, name, r.version, **changes)
            new = conn.execute("SELECT * FROM pool_containers WHERE name = ?", (name,)).fetchone()
            return ps.ContainerRow.of(new)

    async def _wait_healthy(
        self, monitor: HostMonitor, client: Any, cid: str, workload: WorkloadConfig
    ) -> list[str]:
        """Until Docker calls the container healthy; its endpoints.

        Docker announces health changes (`health_status` events); the host monitor refreshes
        the container on each and publishes CONTAINER. So the container is inspected when it
        changed, and otherwise only every half check interval (at most 1 s) in case an event
        went missing: a pool filling ten containers no longer polls dockerd 200 times a second.
        """
        hc = workload.healthcheck
        limit = hc.start_period + (hc.interval + hc.timeout) * (hc.retries + 1) + 10
        deadline = time.monotonic() + limit
        fallback = min(1.0, max(0.05, hc.interval / 2))
        with self.engine.bus.subscribe([EventKind.CONTAINER]) as changes:
            while True:
                data = await monitor.call(client.inspect_container, cid)
                state = data.get("State") if isinstance(data, dict) else None
                state = state if isinstance(state, dict) else {}
                health = state.get("Health") if isinstance(state.get("Health"), dict) else {}
                status = str((health or {}).get("Status", ""))
                if not state.get("Running"):
                    raise PoolError(
                        f"the container exited during start-up (exit {state.get('ExitCode')}); "
                        "check the workload's image and command"
                    )
                if status == "healthy":
                    return self._endpoints(data, workload)
                if status == "unhealthy":
                    raise PoolError(
                        "the container's health check failed; check healthcheck.command"
                    )
                left = deadline - time.monotonic()
                if left <= 0:
                    raise PoolError(f"the container was not healthy within {limit:.0f}s")
                await _next_change(changes, cid, min(fallback, left))

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

    async def _discard(self, host: str, name: str, cid: str | None) -> None:
        """Remove a container (if any), its folder and its row; errors are logged, not raised.

        When Docker cannot be asked (host offline, daemon restarting) the row stays, marked
        `removing`, so the container is never left without a row: reconcile finishes the job.
        """
        monitor = self.engine.monitors.get(host)
        client = monitor.client if monitor else None
        removed = False
        if monitor is not None and client is not None:
            try:
                await monitor.call(client.remove_container, cid or name, force=True, v=True)
                removed = True
            except docker.errors.NotFound:
                removed = True
            except (docker.errors.DockerException, OSError) as exc:
                self.engine.log_activity(
                    "warning",
                    f"could not remove pool container {name}: {exc}; reconcile retries",
                    host=host,
                    subject="pools",
                )
        if not removed:

            def mark(conn: sqlite3.Connection) -> None:
                with self.engine.store.transaction():
                    conn.execute(
                        "UPDATE pool_containers SET state = 'removing', "
                        "version = version + 1, updated_at = ? WHERE name = ?",
                        (time.time(), name),
                    )

            await self.engine.store.arun(mark)
            return
        await asyncio.to_thread(shutil.rmtree, self._dir(name), True)
        await self._delete_row(name)

    async def _set_row(self, name: str, version: int, **changes: Any) -> None:
        """CAS update of one container row in its own transaction."""

        def run(conn: sqlite3.Connection) -> None:
            with self.engine.store.transaction():
                ps.set_container(conn, name, version, **changes)

        await self.engine.store.arun(run)

    async def _delete_row(self, name: str) -> None:
        def run(conn: sqlite3.Connection) -> None:
            with self.engine.store.transaction():
                ps.delete_container(conn, name)

        await self.engine.store.arun(run)

    # -- filling -----------------------------------------------------------------------------
    def _reserve(
        self, conn: sqlite3.Connection, pool: PoolConfig, want: int, *, cold: bool
    ) -> list[str]:
        """Reserve up to `want` slots within the target and max, in one transaction."""
        with self.engine.store.transaction():
            rows = ps.containers(conn, pool.name)
            total = len(rows)
            ready = sum(1 for r in rows if r.state in ("warm", "warming") and r.source == "warm")
            room = pool.max - total
            if not cold:
                room = min(room, self.target(pool.name) - ready)
            names: list[str] = []
            now = time.time()
            spec = spec_hash(self.workloads[pool.workload], pool)
            for _ in range(max(0, min(room, want))):
                name = f"pool-{pool.name}-{pysecrets.token_hex(4)}"
                conn.execute(
                    "INSERT INTO pool_containers (name, pool, host, state, source, spec, "
                    "created_at, updated_at) VALUES (?, ?, ?, 'warming', ?, ?, ?, ?)",
                    (name, pool.name, pool.host, "cold" if cold else "warm", spec, now, now),
                )
                names.append(name)
            return names

    async def _fill(self, name: str) -> None:
        pool = self.pools[name]
        if time.monotonic() < self._fill_backoff.get(name, 0.0):
            return
        monitor = self.engine.monitors.get(pool.host)
        if monitor is None or monitor.info.state is not HostState.ONLINE:
            return
        busy = sum(1 for n in self._inflight if n.startswith(f"pool-{name}-"))
        want = pool.fill_concurrency - busy
        if want <= 0:
            return
        names = await self.engine.store.arun(lambda c: self._reserve(c, pool, want, cold=False))
        for slot in names:
            self._inflight.add(slot)
            self._spawn(self._fill_one(pool, slot), f"pools:fill:{slot}")

    async def _fill_one(self, pool: PoolConfig, slot: str) -> None:
        try:
            row = await self._create_container(pool, slot, warm=True)
        except PoolError as exc:
            backoff = 5.0
            self._fill_backoff[pool.name] = time.monotonic() + backoff
            self.engine.log_activity(
                "warning",
                f"pool {pool.name}: could not warm a container: {exc} (retrying in {backoff:g}s)",
                host=pool.host,
                subject=f"pool:{pool.name}",
            )
            return
        self._fill_backoff.pop(pool.name, None)
        self._publish(EventKind.POOL, pool.host, pool=pool.name, action="warm", container=row.name)

    # -- claim -------------------------------------------------------------------------------
    def _validate_claim(
        self, tenant: str, pool: PoolConfig, config: Any, secrets: Any
    ) -> tuple[dict[str, Any], dict[str, str]]:
        if not isinstance(tenant, str) or not TENANT_RE.fullmatch(tenant):
            raise PoolInputError(
                f"tenant id {str(tenant)[:70]!r} must be 1-64 characters: letters, digits, "
                "'_', '.', '@', '-', starting with a letter or digit"
            )
        if config is None:
            config = {}
        if not isinstance(config, dict):
            raise PoolInputError("config must be a JSON object")
        if len(json.dumps(config)) > MAX_CONFIG_BYTES:
            raise PoolInputError(f"config is larger than {MAX_CONFIG_BYTES // 1024} KiB")
        workload = self.workloads[pool.workload]
        if workload.config_schema is not None:
            import jsonschema

            validator = jsonschema.Draft202012Validator(workload.config_schema)
            errors = sorted(validator.iter_errors(config), key=lambda e: list(e.absolute_path))
            if errors:
                shown = "; ".join(
                    f"config{''.join(f'[{p!r}]' for p in e.absolute_path)}: {e.message[:200]}"
                    for e in errors[:5]
                )
                raise PoolInputError(
                    f"config does not match workload {workload.name}'s schema: {shown}"
                )
        if secrets is None:
            secrets = {}
        if not isinstance(secrets, dict):
            raise PoolInputError("secrets must be a JSON object of name -> text")
        if len(secrets) > MAX_SECRETS:
            raise PoolInputError(f"at most {MAX_SECRETS} secrets")
        for key, value in secrets.items():
            if not SECRET_NAME_RE.fullmatch(str(key)):
                raise PoolInputError(
                    f"secret name {str(key)[:70]!r} must be 1-64 letters, digits, '_', '.', '-'"
                )
            if not isinstance(value, str) or len(value.encode()) > MAX_SECRET_BYTES:
                # Never echo the value.
                raise PoolInputError(f"secret {key!r} must be text of at most 64 KiB")
        return config, secrets

    def _take_warm(
        self, conn: sqlite3.Connection, tenant: str, pool: PoolConfig
    ) -> ps.ContainerRow | None:
        with self.engine.store.transaction():
            existing = ps.open_claim(conn, tenant)
            if existing is not None:
                raise PoolConflict(
                    f"tenant {tenant} already holds {existing.container} (pool {existing.pool}, "
                    f"{existing.state}); release it first"
                )
            spec = spec_hash(self.workloads[pool.workload], pool)
            for row in conn.execute(
                "SELECT * FROM pool_containers WHERE pool = ? AND state = 'warm' AND spec = ? "
                "ORDER BY created_at LIMIT 3",
                (pool.name, spec),
            ).fetchall():
                r = ps.ContainerRow.of(row)
                try:
                    ps.set_container(conn, r.name, r.version, state="claimed")
                except ps.CasFailed:
                    continue
                self._insert_claim(conn, tenant, pool, r, "warm")
                return r
            return None

    @staticmethod
    def _insert_claim(
        conn: sqlite3.Connection, tenant: str, pool: PoolConfig, row: ps.ContainerRow, source: str
    ) -> None:
        now = time.time()
        conn.execute(
            "INSERT INTO pool_claims (tenant, pool, container, host, state, source, claimed_at, "
            "last_activity) VALUES (?, ?, ?, ?, 'active', ?, ?, ?)",
            (tenant, pool.name, row.name, row.host, source, now, now),
        )

    def _provision(
        self,
        workload: WorkloadConfig,
        container: str,
        tenant: str,
        config: Mapping[str, Any],
        secrets: Mapping[str, str],
    ) -> None:
        """Local host: write the claim's files into the bind-mounted folders (no Docker call)."""
        files = tenant_files(workload, tenant, config, secrets)
        write_local(self._dir(container), files, _user_uid(workload.security.user))

    async def _provision_remote(
        self,
        pool: PoolConfig,
        row: ps.ContainerRow,
        tenant: str,
        config: Mapping[str, Any],
        secrets: Mapping[str, str],
    ) -> None:
        """Remote host: upload the claim's files with the Docker archive API."""
        workload = self.workloads[pool.workload]
        monitor, client = self._monitor(pool.host)
        remote = RemoteProvisioner(monitor, client)
        target = row.container_id or row.name
        owner = await remote.owner(target, workload.security.user)
        await remote.put_files(
            target, workload, tenant_files(workload, tenant, config, secrets), owner
        )

    async def claim(
        self,
        tenant: str,
        pool_name: str,
        config: Any = None,
        secrets: Any = None,
    ) -> ClaimInfo:
        """Give `tenant` a container of the pool: warm when one is ready, else cold (or refuse)."""
        try:
            info = await self._claim(tenant, pool_name, config, secrets)
        except PoolError as exc:
            self.metrics.claim_failed(pool_name if pool_name in self.pools else "", exc)
            raise
        self.metrics.claimed(info.pool, info.source, (info.latency_ms or 0.0) / 1000)
        return info

    async def _claim(self, tenant: str, pool_name: str, config: Any, secrets: Any) -> ClaimInfo:
        started = time.perf_counter()
        pool = self.pool(pool_name)
        config, secrets = self._validate_claim(tenant, pool, config, secrets)
        workload = self.workloads[pool.workload]
        provisioned: list[BaseException | None] = []
        local = self._is_local(pool.host)

        def take() -> ps.ContainerRow | None:
            # One thread hop for the claim and its provisioning (the fast path of a warm claim);
            # the store lock is held for the transaction only, not for the file writes.
            taken = self.engine.store.run(lambda conn: self._take_warm(conn, tenant, pool))
            if taken is not None:
                crash_point("claim.after_commit")
                if not local:
                    return taken  # provisioned below, over the Docker API
                try:
                    self._provision(workload, taken.name, tenant, config, secrets)
                    provisioned.append(None)
                except OSError as exc:
                    provisioned.append(exc)
            return taken

        row = await asyncio.to_thread(take)
        source = "warm"
        if row is None:
            if pool.on_empty == "refuse":
                self._publish(
                    EventKind.POOL, pool.host, pool=pool.name, action="refused", tenant=tenant
                )
                self.wake()
                raise PoolConflict(
                    f"pool {pool.name} has no warm container and refuses cold starts "
                    "(on_empty = refuse); retry shortly or scale it up"
                )
            source = "cold"
            try:
                row = await asyncio.wait_for(self._claim_cold(tenant, pool), pool.claim_timeout)
            except TimeoutError:
                raise PoolUnavailable(
                    f"no container of pool {pool.name} was ready within {pool.claim_timeout:g}s"
                ) from None
            crash_point("claim.after_commit")
            if local:
                try:
                    await asyncio.to_thread(
                        self._provision, workload, row.name, tenant, config, secrets
                    )
                    provisioned.append(None)
                except OSError as exc:
                    provisioned.append(exc)
        if not local:
            try:
                await self._provision_remote(pool, row, tenant, config, secrets)
                provisioned.append(None)
            except (ProvisionError, PoolError) as exc:
                provisioned.append(exc)
        self.wake()  # refill behind the claim
        failure = provisioned[0] if provisioned else None
        if failure is not None:
            why = getattr(failure, "strerror", None) or str(failure)
            await self._abort_claim(tenant, f"provisioning failed: {why}")
            raise PoolError(f"could not provision the container for {tenant}: {why}")
        runs: list[SyncRun] = []
        if workload.sync is not None and workload.sync.policy.on_claim:
            runs = await self._run_sync(tenant, pool, row.name, "download")
            failed = [r for r in runs if not r.ok]
            if failed:
                await self._abort_claim(tenant, failed[0].error or "restore failed")
                raise PoolSyncFailed(
                    f"restoring {tenant}'s state failed ({failed[0].mapping}: {failed[0].error}); "
                    "the claim was undone so an empty container cannot overwrite the saved state"
                )
        latency = (time.perf_counter() - started) * 1000
        self._latency.setdefault(pool.name, deque(maxlen=_LATENCIES)).append((source, latency))
        self._publish(
            EventKind.POOL,
            pool.host,
            pool=pool.name,
            action="claimed",
            tenant=tenant,
            container=row.name,
            source=source,
        )
        self.engine.log_activity(
            "info",
            f"{tenant} claimed {row.name} ({source}, {latency:.0f} ms)",
            host=pool.host,
            subject=f"pool:{pool.name}",
        )
        now = time.time()
        return ClaimInfo(
            tenant=tenant,
            pool=pool.name,
            container=row.name,
            host=row.host,
            state="active",
            source=source,
            claimed_at=now,
            last_activity=now,
            endpoints=row.endpoints,
            sync=[self._state_of(r) for r in runs],
            latency_ms=latency,
        )

    async def _claim_cold(self, tenant: str, pool: PoolConfig) -> ps.ContainerRow:
        names = await self.engine.store.arun(lambda c: self._reserve(c, pool, 1, cold=True))
        if not names:
            raise PoolConflict(
                f"pool {pool.name} is full ({pool.max} containers) and none is warm; "
                "release a tenant or raise max"
            )
        name = names[0]
        row = await self._create_container(pool, name, warm=False)

        def bind(conn: sqlite3.Connection) -> ps.ContainerRow:
            with self.engine.store.transaction():
                if ps.open_claim(conn, tenant) is not None:
                    raise PoolConflict(f"tenant {tenant} claimed another container meanwhile")
                fresh = conn.execute(
                    "SELECT * FROM pool_containers WHERE name = ?", (name,)
                ).fetchone()
                if fresh is None:
                    raise PoolError(f"the cold container {name} vanished")
                r = ps.ContainerRow.of(fresh)
                ps.set_container(conn, name, r.version, state="claimed")
                self._insert_claim(conn, tenant, pool, r, "cold")
                return r

        try:
            return await self.engine.store.arun(bind)
        except BaseException:
            await self._discard(pool.host, name, row.container_id)
            raise

    async def _abort_claim(self, tenant: str, reason: str) -> None:
        claim = await self.engine.store.arun(lambda c: ps.open_claim(c, tenant))
        if claim is None:
            return

        def close(conn: sqlite3.Connection) -> None:
            with self.engine.store.transaction():
                ps.set_claim(
                    conn,
                    claim.id,
                    claim.version,
                    state="released",
                    released_at=time.time(),
                    release_sync="aborted",
                    error=reason[:500],
                )

        await self.engine.store.arun(close)
        await self._discard(claim.host, claim.container, None)
        self.wake()

    # -- release -----------------------------------------------------------------------------
    async def release(self, tenant: str, *, sync: bool = True, force: bool = False) -> ClaimInfo:
        """Upload the tenant's state (unless `sync` is false or `force`), then destroy and refill.

        A failed upload leaves the claim `release_failed` (container kept, retried with backoff)
        and raises PoolSyncFailed.
        """
        if tenant in self._releasing:
            raise PoolConflict(f"a release of {tenant} is already running")
        self._releasing.add(tenant)
        try:
            for _ in range(600):  # let a running sync of this tenant finish first (<= 60 s)
                if tenant not in self._syncing:
                    break
                await asyncio.sleep(0.1)
            info = await self._release(tenant, sync=sync, force=force)
            self.metrics.released(info.pool)
            return info
        except PoolError as exc:
            last = await self.engine.store.arun(
                lambda c: ps.open_claim(c, tenant) or ps.last_claim(c, tenant)
            )
            self.metrics.release_failed(last.pool if last is not None else "", exc)
            raise
        finally:
            self._releasing.discard(tenant)

    async def _release(self, tenant: str, *, sync: bool, force: bool) -> ClaimInfo:
        claim = await self.engine.store.arun(lambda c: ps.open_claim(c, tenant))
        if claim is None:
            raise PoolNotFound(f"tenant {tenant[:70]!r} holds no container")
        pool = self.pools.get(claim.pool)
        workload = self.workloads.get(pool.workload) if pool else None

        def begin(conn: sqlite3.Connection) -> ps.ClaimRow:
            with self.engine.store.transaction():
                ps.set_claim(conn, claim.id, claim.version, state="releasing")
                return ps.ClaimRow.of(
                    conn.execute("SELECT * FROM pool_claims WHERE id = ?", (claim.id,)).fetchone()
                )

        try:
            current = await self.engine.store.arun(begin)
        except ps.CasFailed:
            raise PoolConflict(f"the claim of {tenant} changed meanwhile; try again") from None
        upload = (
            sync
            and not force
            and pool is not None
            and workload is not None
            and workload.sync is not None
            and workload.sync.policy.on_release
        )
        if current.release_sync in ("ok", "forced", "skipped"):
            verdict = current.release_sync  # resumed after a crash past the upload
        elif upload and pool is not None:
            crash_point("release.before_upload")
            runs = await self._run_sync(tenant, pool, claim.container, "upload")
            failed = [r for r in runs if not r.ok]
            if failed:
                return await self._release_failed(current, pool, failed)
            verdict = "ok"
        else:
            verdict = "forced" if force else "skipped"

        def mark(conn: sqlite3.Connection) -> ps.ClaimRow:
            with self.engine.store.transaction():
                ps.set_claim(conn, current.id, current.version, release_sync=verdict, error=None)
                return ps.ClaimRow.of(
                    conn.execute("SELECT * FROM pool_claims WHERE id = ?", (claim.id,)).fetchone()
                )

        current = await self.engine.store.arun(mark)
        crash_point("release.after_upload")
        return await self._finish_release(current)

    async def _finish_release(self, claim: ps.ClaimRow) -> ClaimInfo:
        monitor = self.engine.monitors.get(claim.host)
        client = monitor.client if monitor else None
        if monitor is None or client is None or monitor.info.state is not HostState.ONLINE:
            raise PoolUnavailable(
                f"state saved, but host {claim.host} is offline: the container is removed when it "
                "is back"
            )
        try:
            await monitor.call(client.remove_container, claim.container, force=True, v=True)
        except docker.errors.NotFound:
            pass
        except docker.errors.DockerException as exc:
            raise PoolUnavailable(
                f"state saved, but removing {claim.container} failed: {docker_error_text(exc)}; "
                "the next reconcile retries"
            ) from None
        crash_point("release.after_remove")
        await asyncio.to_thread(shutil.rmtree, self._dir(claim.container), True)

        def close(conn: sqlite3.Connection) -> None:
            with self.engine.store.transaction():
                ps.set_claim(
                    conn, claim.id, claim.version, state="released", released_at=time.time()
                )
                ps.delete_container(conn, claim.container)

        await self.engine.store.arun(close)
        self._last_periodic.pop(claim.tenant, None)
        self._publish(
            EventKind.POOL,
            claim.host,
            pool=claim.pool,
            action="released",
            tenant=claim.tenant,
            container=claim.container,
        )
        self.engine.log_activity(
            "info",
            f"{claim.tenant} released {claim.container} (state {claim.release_sync})",
            host=claim.host,
            subject=f"pool:{claim.pool}",
        )
        self.wake()
        return await self.tenant(claim.tenant)

    async def _release_failed(
        self, claim: ps.ClaimRow, pool: PoolConfig, failed: list[SyncRun]
    ) -> ClaimInfo:
        attempts = claim.release_attempts + 1
        delay = min(300.0, 2.0 ** (attempts - 1))
        error = f"{failed[0].mapping}: {failed[0].error}"[:1000]

        def mark(conn: sqlite3.Connection) -> None:
            with self.engine.store.transaction():
                ps.set_claim(
                    conn,
                    claim.id,
                    claim.version,
                    state="release_failed",
                    release_attempts=attempts,
                    next_attempt=time.time() + delay,
                    error=error,
                )

        await self.engine.store.arun(mark)
        self._publish(
            EventKind.POOL,
            pool.host,
            pool=pool.name,
            action="release_failed",
            tenant=claim.tenant,
            container=claim.container,
            message=error,
        )
        self.engine.log_activity(
            "warning",
            f"{claim.tenant}: state upload failed on release (attempt {attempts}): {error}; "
            f"container {claim.container} kept, retrying in {delay:g}s",
            host=pool.host,
            subject=f"pool:{pool.name}",
        )
        if attempts >= pool.escalate_after:
            await self.engine.escalations.raise_(
                NewEscalation(
                    agent=f"pool:{pool.name}",
                    doing=f"releasing tenant {claim.tenant} (container {claim.container})",
                    tried=[f"uploaded its state {attempts} times; last error: {error}"],
                    need="the sink reachable again, or a decision to release without saving",
                    proposed_fix=(
                        f"fix the sink (credentials, endpoint, space), or run `clawtui pool "
                        f"release {claim.tenant} --force` to drop the unsaved state"
                    ),
                    severity=Severity.HIGH,
                    source=Source.SYNC,
                    dedupe_key=f"pool-release:{claim.tenant}",
                )
            )
        raise PoolSyncFailed(
            f"uploading {claim.tenant}'s state failed ({error}); the container is kept and the "
            f"upload retried in {delay:g}s"
        )

    async def _retry_releases(self) -> None:
        now = time.time()
        claims = await self.engine.store.arun(ps.open_claims)
        for claim in claims:
            if claim.state != "release_failed" or claim.tenant in self._releasing:
                continue
            if claim.next_attempt is not None and claim.next_attempt > now:
                continue
            self._spawn(self._quiet_release(claim.tenant), f"pools:retry:{claim.tenant}")

    async def _quiet_release(self, tenant: str) -> None:
        with contextlib.suppress(PoolError):
            await self.release(tenant)

    # -- sync --------------------------------------------------------------------------------
    def _mappings(self, workload: WorkloadConfig, direction: str) -> list[SyncMapping]:
        if workload.sync is None:
            return []
        return [m for m in workload.sync.mappings if m.direction in (direction, "bidirectional")]

    async def _run_sync(
        self, tenant: str, pool: PoolConfig, container: str, direction: str
    ) -> list[SyncRun]:
        workload = self.workloads[pool.workload]
        spec = workload.sync
        if spec is None:
            return []
        rclone = Rclone(Sink(spec.sink, self.default_sink), retries=spec.retries)
        runs: list[SyncRun] = []
        for mapping in self._mappings(workload, direction):
            where = workload.volume_for(mapping.path)
            if where is None:  # the config validator makes this impossible
                continue
            self._publish(
                EventKind.SYNC,
                pool.host,
                tenant=tenant,
                pool=pool.name,
                mapping=mapping.name,
                direction=direction,
                phase="started",
            )
            if self._is_local(pool.host):
                run = await local_staged_sync(
                    partial(rclone.run, tenant, mapping, direction=direction),
                    mapping=mapping,
                    folder=StateFolder(
                        self._dir(container) / where[0],
                        where[1],
                        workload.volumes.all()[where[0]].path,
                    ),
                    direction=direction,
                    staging_root=self.root,
                    name=f"{container}-{mapping.name}",
                )
            else:
                run = await self._remote_sync(tenant, pool, container, mapping, direction, rclone)
            runs.append(run)
            self.metrics.synced(pool.name, direction, run.status, run.bytes, run.duration)
            await self.engine.store.arun(partial(self._save_run, tenant=tenant, run=run))
            self._publish(
                EventKind.SYNC,
                pool.host,
                tenant=tenant,
                pool=pool.name,
                mapping=mapping.name,
                direction=direction,
                phase="finished",
                status=run.status,
                bytes=run.bytes,
                duration=run.duration,
                error=run.error,
            )
            if not run.ok:
                self.engine.log_activity(
                    "warning",
                    f"{tenant}: sync {mapping.name} ({direction}) failed: {run.error}",
                    host=pool.host,
                    subject=f"pool:{pool.name}",
                )
        return runs

    async def _remote_sync(
        self,
        tenant: str,
        pool: PoolConfig,
        container: str,
        mapping: SyncMapping,
        direction: str,
        rclone: Rclone,
    ) -> SyncRun:
        """rclone through a staging folder: the engine cannot reach a remote host's disk."""
        workload = self.workloads[pool.workload]
        where = workload.volume_for(mapping.path)
        started = time.monotonic()
        try:
            if where is None:
                raise ProvisionError(f"{mapping.path} is in no writable volume")
            monitor, client = self._monitor(pool.host)
            remote = RemoteProvisioner(monitor, client)
            return await staged_sync(
                remote,
                lambda path: rclone.run(tenant, mapping, path, direction),
                container=container,
                container_path=mapping.path,
                volume_path=workload.volumes.all()[where[0]].path,
                relative=where[1],
                direction=direction,
                staging_root=self.root,
                name=f"{container}-{mapping.name}",
                owner=await remote.owner(container, workload.security.user),
            )
        except (ProvisionError, PoolError) as exc:
            return SyncRun(
                mapping=mapping.name,
                direction=direction,
                ok=False,
                duration=time.monotonic() - started,
                error=str(exc),
                finished_at=time.time(),
            )

    def _save_run(self, conn: sqlite3.Connection, *, tenant: str, run: SyncRun) -> None:
        with self.engine.store.transaction():
            conn.execute(
                "INSERT OR REPLACE INTO pool_sync_status (tenant, mapping, direction, status, "
                "last_run, bytes, files, duration, error) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    tenant,
                    run.mapping,
                    run.direction,
                    run.status,
                    run.finished_at,
                    run.bytes,
                    run.files,
                    run.duration,
                    run.error,
                ),
            )

    async def sync(self, tenant: str, direction: str = "upload") -> SyncResult:
        """A manual sync of the tenant's container: upload, download or both."""
        if direction not in ("upload", "download", "both"):
            raise PoolInputError(
                f"direction must be upload, download or both, not {direction[:20]!r}"
            )
        claim = await self.engine.store.arun(lambda c: ps.open_claim(c, tenant))
        if claim is None or claim.state == "releasing":
            raise PoolNotFound(f"tenant {tenant[:70]!r} holds no container")
        pool = self.pool(claim.pool)
        workload = self.workloads[pool.workload]
        if workload.sync is None or not workload.sync.mappings:
            raise PoolInputError(f"workload {workload.name} has no state sync configured")
        if not workload.sync.policy.manual:
            raise PoolConflict(f"workload {workload.name} does not allow manual syncs")
        if tenant in self._syncing:
            raise PoolConflict(f"a sync of {tenant} is already running")
        self._syncing.add(tenant)
        try:
            runs: list[SyncRun] = []
            for d in ("download", "upload") if direction == "both" else (direction,):
                runs += await self._run_sync(tenant, pool, claim.container, d)
        finally:
            self._syncing.discard(tenant)
        states = [self._state_of(r) for r in runs]
        return SyncResult(tenant=tenant, ok=all(r.ok for r in runs), runs=states)

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

    async def _idle_and_periodic(self) -> None:
        now = time.time()
        claims = await self.engine.store.arun(ps.open_claims)
        for claim in claims:
            pool = self.pools.get(claim.pool)
            if pool is None or claim.state != "active" or claim.tenant in self._releasing:
                continue
            if pool.idle_timeout and now - claim.last_activity > pool.idle_timeout:
                self.engine.log_activity(
                    "info",
                    f"{claim.tenant} idle for {pool.idle_timeout:g}s: releasing",
                    host=pool.host,
                    subject=f"pool:{pool.name}",
                )
                self._spawn(self._quiet_release(claim.tenant), f"pools:idle:{claim.tenant}")
                continue
            spec = self.workloads[pool.workload].sync
            if spec is None or not spec.policy.interval or claim.tenant in self._syncing:
                continue
            last = self._last_periodic.setdefault(claim.tenant, claim.claimed_at)
            if now - last >= spec.policy.interval:
                self._last_periodic[claim.tenant] = now
                self._spawn(
                    self._periodic(claim.tenant, pool, claim.container),
                    f"pools:sync:{claim.tenant}",
                )

    async def _periodic(self, tenant: str, pool: PoolConfig, container: str) -> None:
        self._syncing.add(tenant)
        try:
            await self._run_sync(tenant, pool, container, "upload")
        finally:
            self._syncing.discard(tenant)

    # -- health ------------------------------------------------------------------------------
    def _docker_health(self, host: str, cid: str | None) -> str | None:
        """'unhealthy' / 'stopped' / None from the fleet model (no Docker call)."""
        monitor = self.engine.monitors.get(host)
        if monitor is None or cid is None:
            return None
        info = monitor.containers.get(cid)
        if info is None:
            return None
        if not info.running:
            return "stopped"
        return "unhealthy" if "(unhealthy)" in info.status else None

    async def _check_health(self) -> None:
        rows = await self.engine.store.arun(ps.containers)
        for row in rows:
            if row.state != "warm" or row.name in self._inflight or row.pool not in self.pools:
                continue
            monitor = self.engine.monitors.get(row.host)
            if monitor is None or monitor.info.state is not HostState.ONLINE:
                continue  # the model of an offline host is stale
            problem = self._docker_health(row.host, row.container_id)
            if problem is None:
                continue

            def take(conn: sqlite3.Connection, r: ps.ContainerRow = row) -> bool:
                with self.engine.store.transaction():
                    try:
                        ps.set_container(conn, r.name, r.version, state="removing")
                    except ps.CasFailed:
                        return False
                    return True

            if await self.engine.store.arun(take):
                self.engine.log_activity(
                    "warning",
                    f"warm container {row.name} is {problem}: replacing it",
                    host=row.host,
                    subject=f"pool:{row.pool}",
                )
                await self._discard(row.host, row.name, row.container_id)
                self._publish(
                    EventKind.POOL,
                    row.host,
                    pool=row.pool,
                    action="removed",
                    container=row.name,
                    message=problem,
                )

    # -- scale -------------------------------------------------------------------------------
    async def scale(self, pool_name: str, min_warm: int) -> PoolStatus:
        pool = self.pool(pool_name)
        if (
            not isinstance(min_warm, int)
            or isinstance(min_warm, bool)
            or not 0 <= min_warm <= pool.max
        ):
            raise PoolInputError(
                f"warm target must be a whole number in 0-{pool.max} (the pool's max)"
            )

        def save(conn: sqlite3.Connection) -> None:
            with self.engine.store.transaction():
                conn.execute(
                    "INSERT OR REPLACE INTO pool_targets (pool, min_warm, updated_at) "
                    "VALUES (?, ?, ?)",
                    (pool.name, min_warm, time.time()),
                )

        await self.engine.store.arun(save)
        old = self.target(pool.name)
        self._targets[pool.name] = min_warm
        if min_warm < old:
            await self._shrink(pool)
        self._publish(
            EventKind.POOL,
            pool.host,
            pool=pool.name,
            action="scaled",
            message=f"{old} -> {min_warm}",
        )
        self.engine.log_activity(
            "info",
            f"pool {pool.name} scaled: warm target {old} -> {min_warm}",
            host=pool.host,
            subject=f"pool:{pool.name}",
        )
        self.wake()
        return next(s for s in await self.status() if s.name == pool.name)

    async def _shrink(self, pool: PoolConfig) -> None:
        rows = await self.engine.store.arun(lambda c: ps.containers(c, pool.name))
        warm = [r for r in rows if r.state == "warm"]
        extra = len(warm) - self.target(pool.name)
        for row in warm[: max(0, extra)]:

            def take(conn: sqlite3.Connection, r: ps.ContainerRow = row) -> bool:
                with self.engine.store.transaction():
                    try:
                        ps.set_container(conn, r.name, r.version, state="removing")
                    except ps.CasFailed:
                        return False
                    return True

            if await self.engine.store.arun(take):
                await self._discard(row.host, row.name, row.container_id)

    # -- reads -------------------------------------------------------------------------------
    async def status(self) -> list[PoolStatus]:
        def read(conn: sqlite3.Connection) -> tuple[list[ps.ContainerRow], list[ps.ClaimRow]]:
            return ps.containers(conn), ps.open_claims(conn)

        rows, claims = await self.engine.store.arun(read)
        out: list[PoolStatus] = []
        for pool in self.pools.values():
            mine = [r for r in rows if r.pool == pool.name]
            lat = list(self._latency.get(pool.name, ()))
            warm_ms = [ms for src, ms in lat if src == "warm"]
            cold_ms = [ms for src, ms in lat if src == "cold"]
            out.append(
                PoolStatus(
                    name=pool.name,
                    workload=pool.workload,
                    host=pool.host,
                    target=self.target(pool.name),
                    max=pool.max,
                    warm=sum(1 for r in mine if r.state == "warm"),
                    warming=sum(1 for r in mine if r.state == "warming"),
                    claimed=sum(1 for r in mine if r.state == "claimed"),
                    releasing=sum(1 for c in claims if c.pool == pool.name and c.state != "active"),
                    unhealthy=sum(
                        1 for r in mine if self._docker_health(r.host, r.container_id) is not None
                    ),
                    total=len(mine),
                    on_empty=pool.on_empty,
                    warm_p50_ms=_percentile(warm_ms, 50),
                    warm_p99_ms=_percentile(warm_ms, 99),
                    cold_p50_ms=_percentile(cold_ms, 50),
                    claims=len(lat),
                )
            )
        return out

    async def tenant(self, tenant: str) -> ClaimInfo:
        def read(conn: sqlite3.Connection) -> tuple[ps.ClaimRow | None, Any, list[dict[str, Any]]]:
            claim = ps.open_claim(conn, tenant) or ps.last_claim(conn, tenant)
            row = None
            if claim is not None:
                row = conn.execute(
                    "SELECT * FROM pool_containers WHERE name = ?", (claim.container,)
                ).fetchone()
            return claim, row, ps.sync_status(conn, tenant)

        claim, row, sync = await self.engine.store.arun(read)
        if claim is None:
            raise PoolNotFound(f"tenant {tenant[:70]!r} has never claimed a container")
        endpoints = ps.ContainerRow.of(row).endpoints if row is not None else []
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
        )

    async def tenants(self) -> list[ClaimInfo]:
        claims = await self.engine.store.arun(ps.open_claims)
        out = []
        for claim in claims:
            with contextlib.suppress(PoolNotFound):
                out.append(await self.tenant(claim.tenant))
        return out

    async def touch(self, tenant: str) -> None:
        """Mark a tenant active (resets its idle timer)."""

        def run(conn: sqlite3.Connection) -> None:
            with self.engine.store.transaction():
                conn.execute(
                    "UPDATE pool_claims SET last_activity = ? "
                    "WHERE tenant = ? AND state = 'active'",
                    (time.time(), tenant),
                )

        await self.engine.store.arun(run)

    # -- reconcile ---------------------------------------------------------------------------
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
            names = c.get("Names") or []
            if not names:
                continue
            out[str(names[0]).lstrip("/")] = c
        return out

    async def reconcile(self, host: str | None = None) -> list[str]:
        """Make the store and Docker agree; returns what was changed (empty: nothing to do)."""
        async with self.reconcile_lock:
            changes: list[str] = []
            for h in sorted({p.host for p in self.pools.values()} if host is None else {host}):
                try:
                    changes += await self._reconcile_host(h)
                except PoolUnavailable:
                    continue
            if changes:
                self.engine.log_activity(
                    "info", f"pools reconciled: {'; '.join(changes)[:500]}", subject="pools"
                )
                self._publish(
                    EventKind.POOL,
                    host,
                    pool=None,
                    action="reconciled",
                    message=f"{len(changes)} changes",
                )
                self.wake()
            return changes

    async def _reconcile_host(self, host: str) -> list[str]:
        monitor, client = self._monitor(host)
        docker_now = await self._docker_pool_containers(host)

        def read(conn: sqlite3.Connection) -> tuple[list[ps.ContainerRow], list[ps.ClaimRow]]:
            return ps.containers(conn), ps.open_claims(conn)

        rows, claims = await self.engine.store.arun(read)
        rows = [r for r in rows if r.host == host and r.pool in self.pools]
        by_container = {c.container: c for c in claims if c.host == host}
        changes: list[str] = []
        now = time.time()
        known = {r.name for r in rows}
        for row in rows:
            if row.name in self._inflight:
                continue
            d = docker_now.get(row.name)
            claim = by_container.get(row.name)
            if d is None:
                if row.state == "warming" and now - row.created_at < _ORPHAN_WARMING_AGE:
                    continue  # maybe another process is creating it right now
                if claim is not None:
                    changes.append(await self._settle_lost(claim, "its container vanished"))
                else:
                    await self._discard(host, row.name, None)
                    changes.append(f"dropped row of missing {row.name}")
                continue
            running = d.get("State") == "running"
            spec = (d.get("Labels") or {}).get(LABEL_SPEC)
            if claim is not None:
                if claim.state == "releasing" and claim.release_sync is not None:
                    await self._finish_release_quiet(claim)
                    changes.append(f"finished release of {claim.tenant}")
                elif claim.state == "releasing" and claim.tenant not in self._releasing:
                    # Interrupted before its upload finished (engine crash): retry the release.
                    def resume(conn: sqlite3.Connection, c: ps.ClaimRow = claim) -> None:
                        with self.engine.store.transaction():
                            ps.set_claim(conn, c.id, c.version, state="release_failed",
                                         next_attempt=time.time(),
                                         error="release interrupted; retrying")  # fmt: skip

                    with contextlib.suppress(ps.CasFailed):
                        await self.engine.store.arun(resume)
                        changes.append(f"resumed release of {claim.tenant}")
                elif not running:
                    try:
                        await monitor.call(client.start, d["Id"])
                        changes.append(f"restarted {row.name} of {claim.tenant}")
                    except docker.errors.DockerException as exc:
                        changes.append(
                            await self._settle_lost(
                                claim, f"restart failed: {docker_error_text(exc)}"
                            )
                        )
                elif row.state != "claimed":
                    await self._set_row(row.name, row.version, state="claimed")
                    changes.append(f"marked {row.name} claimed")
                continue
            # No open claim.
            stale_spec = spec != spec_hash(
                self.workloads[self.pools[row.pool].workload], self.pools[row.pool]
            )
            if row.state == "claimed" or not running or row.state == "removing" or stale_spec:
                await self._discard(host, row.name, d.get("Id"))
                why = "stale spec" if stale_spec else ("stopped" if not running else row.state)
                changes.append(f"removed {row.name} ({why})")
            elif row.state == "warming":
                status = str(d.get("Status", ""))
                if "(healthy)" in status:
                    inspect = await monitor.call(client.inspect_container, d["Id"])
                    workload = self.workloads[self.pools[row.pool].workload]
                    endpoints = self._endpoints(inspect, workload)
                    await self._set_row(
                        row.name,
                        row.version,
                        state="warm",
                        container_id=str(d["Id"]),
                        endpoints=json.dumps(endpoints),
                    )
                    changes.append(f"{row.name} is warm")
                elif now - row.created_at > 120:
                    await self._discard(host, row.name, d.get("Id"))
                    changes.append(f"removed {row.name} (never became healthy)")
        for claim in by_container.values():
            if claim.container not in known and claim.container not in self._inflight:
                changes.append(await self._settle_lost(claim, "it has no container record"))
        for name, d in docker_now.items():
            if name in known or name in self._inflight:
                continue
            created = float(d.get("Created") or 0)
            grace = self.pools[(d.get("Labels") or {})[LABEL_POOL]].gc_grace
            if now - created >= grace:
                with contextlib.suppress(docker.errors.DockerException):
                    await monitor.call(client.remove_container, d["Id"], force=True, v=True)
                await asyncio.to_thread(shutil.rmtree, self._dir(name), True)
                changes.append(f"collected unknown {name}")
        return changes

    async def _finish_release_quiet(self, claim: ps.ClaimRow) -> None:
        with contextlib.suppress(PoolError):
            await self._finish_release(claim)

    async def _settle_lost(self, claim: ps.ClaimRow, why: str) -> str:
        """An open claim whose container is gone: finish it if the state was saved, else lost."""
        saved = claim.release_sync is not None

        def close(conn: sqlite3.Connection) -> None:
            with self.engine.store.transaction():
                ps.set_claim(
                    conn,
                    claim.id,
                    claim.version,
                    state="released" if saved else "lost",
                    released_at=time.time(),
                    error=None if saved else why,
                )
                ps.delete_container(conn, claim.container)

        await self.engine.store.arun(close)
        if saved:
            await asyncio.to_thread(shutil.rmtree, self._dir(claim.container), True)
            return f"finished release of {claim.tenant}"
        self.engine.log_activity(
            "warning",
            f"claim of {claim.tenant} lost: {why}; its unsynced files stay in "
            f"{self._dir(claim.container)}",
            host=claim.host,
            subject=f"pool:{claim.pool}",
        )
        self._publish(
            EventKind.POOL,
            claim.host,
            pool=claim.pool,
            action="removed",
            tenant=claim.tenant,
            container=claim.container,
            message=why,
        )
        return f"claim of {claim.tenant} lost ({why})"

    # -- invariants --------------------------------------------------------------------------
    async def invariants(self, *, filling: bool = False) -> list[str]:
        """I1-I6 as messages (empty: all hold). `filling`: allow 2 x target (I4)."""
        problems: list[str] = []

        def read(conn: sqlite3.Connection) -> tuple[list[ps.ContainerRow], list[ps.ClaimRow]]:
            return ps.containers(conn), ps.all_claims(conn)

        rows, claims = await self.engine.store.arun(read)
        open_ = [c for c in claims if c.open]
        seen_c: dict[str, str] = {}
        seen_t: set[str] = set()
        for c in open_:
            if c.container in seen_c and seen_c[c.container] != c.tenant:
                problems.append(
                    f"I1: {c.container} claimed by {seen_c[c.container]} and {c.tenant}"
                )
            seen_c[c.container] = c.tenant
            if c.tenant in seen_t:
                problems.append(f"I2: {c.tenant} has two open claims")
            seen_t.add(c.tenant)
        docker_by_host: dict[str, dict[str, dict[str, Any]]] = {}
        for host in {p.host for p in self.pools.values()}:
            docker_by_host[host] = await self._docker_pool_containers(host)
        for c in open_:
            if c.state != "active":
                continue
            d = docker_by_host.get(c.host, {}).get(c.container)
            if d is None or d.get("State") != "running":
                problems.append(f"I3: active claim of {c.tenant} -> {c.container} not running")
        for pool in self.pools.values():
            mine = [r for r in rows if r.pool == pool.name]
            ready = sum(1 for r in mine if r.state in ("warm", "warming") and r.source == "warm")
            limit = self.target(pool.name) * (2 if filling else 1)
            if ready > limit:
                problems.append(f"I4: pool {pool.name} has {ready} warm+warming > {limit}")
            live = [
                n
                for n, d in docker_by_host[pool.host].items()
                if (d.get("Labels") or {}).get(LABEL_POOL) == pool.name
            ]
            if len(mine) > pool.max or len(live) > pool.max:
                problems.append(
                    f"I4: pool {pool.name} has {max(len(mine), len(live))} > max {pool.max} "
                    f"(rows: {', '.join(f'{r.name}={r.state}' for r in mine)}; "
                    f"docker: {', '.join(sorted(live))})"
                )
        known = {r.name for r in rows}
        now = time.time()
        for host, found in docker_by_host.items():
            for name, d in found.items():
                pool = self.pools[(d.get("Labels") or {})[LABEL_POOL]]
                if (
                    name not in known
                    and now - float(d.get("Created") or 0) > pool.gc_grace + 2 * _TICK + 5
                ):
                    problems.append(f"I5: {name} on {host} has no row past the grace period")
        for c in claims:
            if c.state == "released" and c.release_sync not in (
                "ok",
                "forced",
                "skipped",
                "aborted",
            ):
                problems.append(f"I6: claim {c.id} of {c.tenant} released without a saved state")
        return problems
