"""Pool containers: the fixed template, create + start + wait healthy, warm fill, health, shrink.

A slot is reserved in the store (a `warming` row, counted against `max`) before Docker is asked;
`_create_container` then creates, starts and waits for Docker to call the container healthy, and
on any failure removes the container and the row. The fill keeps every pool at its warm target,
`fill_concurrency` at a time; a warm container Docker reports unhealthy or stopped is replaced.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets as pysecrets
import sqlite3
import time
from typing import TYPE_CHECKING, Any

from clawtui.config.pools import TENANT_VAR, PoolConfig, WorkloadConfig
from clawtui.engine.api.models import EventKind, HostState
from clawtui.engine.api.pools import PoolError, PoolUnavailable
from clawtui.engine.docker_sdk import docker
from clawtui.engine.fleet.actions import docker_error_text
from clawtui.engine.pools import store as ps
from clawtui.engine.pools.crash import crash_point
from clawtui.engine.pools.placement import free_budget, place
from clawtui.engine.pools.provision import remote_mounts
from clawtui.engine.pools.spec import (
    LABEL_ENGINE,
    LABEL_MANAGED,
    LABEL_POOL,
    LABEL_ROLE,
    LABEL_SPEC,
    LABEL_WORKLOAD,
    ROLE,
    spec_hash,
)
from clawtui.engine.pools.state import PoolsState, _user_uid

if TYPE_CHECKING:
    from clawtui.engine.bus import Subscription
    from clawtui.engine.fleet.hosts import HostMonitor


async def _next_change(changes: Subscription, cid: str, timeout: float) -> None:
    """Until the bus says container `cid` changed (or events were lost), at most `timeout` s."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(timeout):
            while True:
                event = await changes.get()
                info = event.data.get("container")
                if event.kind is EventKind.RESYNC or getattr(info, "id", None) == cid:
                    return


class PoolContainers(PoolsState):
    """Creating, filling, health-replacing and shrinking a pool's containers."""

    def _container_args(
        self, pool: PoolConfig, workload: WorkloadConfig, name: str, client: Any, host: str
    ) -> dict[str, Any]:
        """The fixed template of a pool container on `host` (never from a client's body)."""
        base = self._dir(name)
        local = self._is_local(host)
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
                LABEL_SPEC: spec_hash(workload, pool, host),
                LABEL_MANAGED: "1",
                LABEL_ENGINE: self.engine_id,
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
        self, pool: PoolConfig, name: str, host: str, *, warm: bool
    ) -> ps.ContainerRow:
        """Create, start and wait healthy for the row `name` reserved on `host`; returns the
        new row.

        On any failure the container and the row are removed and PoolError raised.
        """
        workload = self.workloads[pool.workload]
        cid: str | None = None
        self._inflight.add(name)
        try:
            monitor, client = self._monitor(host)
            if self._is_local(host):
                await asyncio.to_thread(self._make_dirs, workload, name)
            args = self._container_args(pool, workload, name, client, host)
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
                with self.ctx.store.transaction():
                    r = ps.container(conn, name)
                    if r is None:
                        raise ps.CasFailed(f"slot {name} vanished")
                    ps.set_container(conn, name, r.version, container_id=cid)
                    return r

            await self.ctx.store.arun(record)
            crash_point("fill.after_create")
            await monitor.call(client.start, cid)
            endpoints = await self._wait_healthy(monitor, client, cid, workload)
            return await self.ctx.store.arun(
                lambda conn: self._mark_ready(conn, name, endpoints, warm)
            )
        except BaseException as exc:
            await self._discard(host, name, cid)  # awaited: stop() waits for the clean-up
            if isinstance(exc, PoolError | asyncio.CancelledError):
                raise
            if isinstance(exc, docker.errors.DockerException):
                raise PoolUnavailable(
                    f"could not start a {pool.name} container on {host}: {docker_error_text(exc)}"
                ) from None
            if isinstance(exc, ps.CasFailed | OSError | sqlite3.Error):
                raise PoolError(f"could not start a {pool.name} container: {exc}") from None
            raise
        finally:
            self._inflight.discard(name)
            self.room_changed()  # warm now, or gone: either way a waiting claim looks again

    def _mark_ready(
        self, conn: sqlite3.Connection, name: str, endpoints: list[str], warm: bool
    ) -> ps.ContainerRow:
        with self.ctx.store.transaction():
            r = ps.container(conn, name)
            if r is None:
                raise ps.CasFailed(f"slot {name} vanished")
            changes: dict[str, Any] = {"endpoints": json.dumps(endpoints)}
            if warm:
                changes["state"] = "warm"
            ps.set_container(conn, name, r.version, **changes)
            new = ps.container(conn, name)
            assert new is not None  # written above, in this transaction
            return new

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
        with self.ctx.bus.subscribe([EventKind.CONTAINER]) as changes:
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

    def _fleet_budgets(self, pool: PoolConfig) -> dict[str, tuple[int, set[str]]]:
        """Each online host of the pool: (free budget as the fleet model counts it, names of
        the containers it lists). Read on the event loop, where the fleet model lives."""
        out: dict[str, tuple[int, set[str]]] = {}
        for host in pool.all_hosts:
            monitor = self.ctx.monitors.get(host)
            if monitor is None or monitor.info.state is not HostState.ONLINE:
                continue
            listed = list(monitor.containers.values())
            free = free_budget(
                monitor.info.memory.total,
                int(monitor.cfg.memory_reserve),
                (c.memory_limit for c in listed),
            )
            out[host] = (free, {c.name for c in listed})
        return out

    def _row_memory(self, row: ps.ContainerRow) -> int:
        pool = self.pools.get(row.pool)
        workload = self.workloads.get(pool.workload) if pool is not None else None
        return int(workload.resources.memory) if workload is not None else 0

    def _reserve(
        self,
        conn: sqlite3.Connection,
        pool: PoolConfig,
        want: int,
        *,
        cold: bool,
        fleet: dict[str, tuple[int, set[str]]],
    ) -> list[tuple[str, str]]:
        """Reserve up to `want` slots within the target and max, in one transaction, each on
        the online host with the most free budget (`placement`); (name, host) of each.

        Only containers on live hosts (the keys of `fleet`) count against the target and max:
        those of an offline host are gone as far as the pool is concerned (see `failover`).
        """
        with self.ctx.store.transaction():
            everything = ps.containers(conn)
            rows = [r for r in everything if r.pool == pool.name and r.host in fleet]
            total = len(rows)
            ready = sum(1 for r in rows if r.state in ("warm", "warming") and r.source == "warm")
            room = pool.max - total
            if not cold:
                room = min(room, self.target(pool.name) - ready)
            count = max(0, min(room, want))
            if count == 0:
                return []
            free = {
                host: budget
                - sum(
                    self._row_memory(r)
                    for r in everything
                    if r.host == host and r.state != "removing" and r.name not in listed
                )
                for host, (budget, listed) in fleet.items()
            }
            workload = self.workloads[pool.workload]
            hosts = place(pool.all_hosts, free, int(workload.resources.memory), count)
            out: list[tuple[str, str]] = []
            now = self.clock()
            for host in hosts:
                name = f"pool-{pool.name}-{pysecrets.token_hex(4)}"
                spec = spec_hash(workload, pool, host)
                ps.insert_slot(conn, name, pool.name, host, "cold" if cold else "warm", spec, now)
                out.append((name, host))
            return out

    async def _reserve_slots(
        self, pool: PoolConfig, want: int, *, cold: bool
    ) -> list[tuple[str, str]]:
        fleet = self._fleet_budgets(pool)
        if not fleet:
            return []
        slots = await self.ctx.store.arun(
            lambda c: self._reserve(c, pool, want, cold=cold, fleet=fleet)
        )
        for name, host in slots if len(pool.all_hosts) > 1 else ():
            self.ctx.log_activity(
                "info",
                f"pool {pool.name}: placing {'cold' if cold else 'warm'} {name} on {host} "
                f"(most free memory budget of {', '.join(sorted(fleet))})",
                host=host,
                subject=f"pool:{pool.name}",
            )
        return slots

    async def _fill(self, name: str) -> None:
        pool = self.pools[name]
        if name in self._draining or self.clock() < self._fill_backoff.get(name, 0.0):
            return
        if any(
            (m := self.ctx.monitors.get(h)) is not None and m.info.state is HostState.CONNECTING
            for h in pool.all_hosts
        ):
            return  # place once every host of the pool had its first answer (or failure)
        busy = sum(1 for n in self._inflight if n.startswith(f"pool-{name}-"))
        want = pool.fill_concurrency - busy
        if want <= 0:
            return
        for slot, host in await self._reserve_slots(pool, want, cold=False):
            self._inflight.add(slot)
            self._spawn(self._fill_one(pool, slot, host), f"pools:fill:{slot}")

    async def _fill_one(self, pool: PoolConfig, slot: str, host: str) -> None:
        try:
            row = await self._create_container(pool, slot, host, warm=True)
        except PoolError as exc:
            backoff = 5.0
            self._fill_backoff[pool.name] = self.clock() + backoff
            self.ctx.log_activity(
                "warning",
                f"pool {pool.name}: could not warm a container: {exc} (retrying in {backoff:g}s)",
                host=host,
                subject=f"pool:{pool.name}",
            )
            return
        self._fill_backoff.pop(pool.name, None)
        self._publish(EventKind.POOL, row.host, pool=pool.name, action="warm", container=row.name)

    async def _check_health(self) -> None:
        rows = await self.ctx.store.arun(ps.containers)
        for row in rows:
            if row.state != "warm" or row.name in self._inflight or row.pool not in self.pools:
                continue
            monitor = self.ctx.monitors.get(row.host)
            if monitor is None or monitor.info.state is not HostState.ONLINE:
                continue  # the model of an offline host is stale
            problem = self._docker_health(row.host, row.container_id)
            if problem is None:
                continue

            if await self._take_for_removal(row):
                self.ctx.log_activity(
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

    async def _shrink(self, pool: PoolConfig) -> None:
        rows = await self.ctx.store.arun(lambda c: ps.containers(c, pool.name))
        warm = [r for r in rows if r.state == "warm"]
        extra = len(warm) - self.target(pool.name)
        for row in warm[: max(0, extra)]:
            if await self._take_for_removal(row):
                await self._discard(row.host, row.name, row.container_id)
