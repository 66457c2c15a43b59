"""Warm pools: containers kept ready, claimed by tenants, released after their state is saved.

Seed 004 (Boilerhouse) and seed 003 (HAL-9000 warm workers: a claim in milliseconds instead of
a 2-5 s cold start). `engine.pools` is a component: `start()` reconciles the store with Docker
and runs one loop that keeps every pool at its warm target, replaces unhealthy warm containers,
releases idle claims, runs periodic syncs, retries failed release uploads and reconciles again
after every gap in a host's Docker event stream.

A claim is a compare-and-swap in SQLite (see `store`), then provisioning: the tenant config
(`tenant.json`, `tenant.env`) and the secrets (one file each) are written, 0600, into folders of
the engine's machine that are bind-mounted into the container, so a warm claim on a local host
makes no Docker call at all. On a remote host they go in with the Docker archive API, and state
sync goes through a staging folder (see `provision`).

Release uploads the tenant's state first (when the policy and the caller say so); a failed
upload keeps the claim in `release_failed` and the container alive, retries with backoff and
raises an escalation after `escalate_after` failures. Only then is the container destroyed and
the pool refilled: a tenant's container never goes to another tenant.

Events: `EventKind.POOL` with data {"pool", "action", "tenant"?, "container"?, "source"?,
"message"?} where action is warm | claimed | refused | released | release_failed | removed |
scaled | reconciled | lost (a claim whose host went offline); the event's `host` is where the
container is (a pool with `hosts = [...]` places each container on one of them, see
`placement`, and fails over when one goes offline, see `failover`); `EventKind.SYNC` with
{"tenant", "pool", "mapping", "direction", "phase": started | finished, "status"?, "bytes"?,
"duration"?, "error"?}. Secrets never appear in either, nor in the activity log.

Where the parts live: `containers` (template, create, warm fill, health), `claims`, `release`,
`tenant_sync` (rclone runs for a claim), `reconcile`, `invariants`, over the shared `state`.
`Pools(ctx, escalations=...)` gets the engine's narrow `Context` and the escalations it raises.

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
import sqlite3
import statistics
import time

from clawtui.engine.api.models import EventKind, HostState
from clawtui.engine.api.pools import ClaimInfo, PoolInputError, PoolNotFound, PoolStatus
from clawtui.engine.pools import store as ps
from clawtui.engine.pools.claims import PoolClaims
from clawtui.engine.pools.drain import PoolDrain
from clawtui.engine.pools.failover import PoolFailover
from clawtui.engine.pools.invariants import PoolInvariants
from clawtui.engine.pools.reconcile import PoolReconcile
from clawtui.engine.pools.state import _TICK

LOST_SHOWN = 86400.0
"""Seconds a lost claim stays in `tenants()` (unless its tenant claims again)."""


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[min(98, max(0, round(q) - 1))]


class Pools(PoolClaims, PoolReconcile, PoolInvariants, PoolDrain, PoolFailover):
    """The pool manager (`engine.pools`): lifecycle, the background loop, scale and reads."""

    async def start(self) -> None:
        if not self.pools or self._loop_task is not None:
            return
        self._stopping = False
        await asyncio.to_thread(self.root.mkdir, parents=True, exist_ok=True, mode=0o700)
        self._targets = await self.ctx.store.arun(ps.targets)
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
                self.ctx.log_activity("error", f"pool manager: {exc}", subject="pools")
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

    async def settle(self, rounds: int = 50) -> int:
        """Run the background work in the caller's time: a full tick, then wait for everything
        it started (fills, retried releases, syncs), again until a tick starts nothing.

        For engines without the background loop (`background = False`: one-shot CLI engines,
        tests that drive the pools step by step with their own `clock`). Returns the ticks run.
        """
        for done in range(1, rounds + 1):
            await self._tick()
            if not self._tasks:
                return done
            while self._tasks:
                await asyncio.gather(*list(self._tasks), return_exceptions=True)
        return rounds

    async def _tick(self) -> None:
        hosts = {h for p in self.pools.values() for h in p.all_hosts}
        for host in hosts:
            monitor = self.ctx.monitors.get(host)
            if monitor is None or monitor.info.state is not HostState.ONLINE:
                continue
            if self._seen_reconciles.get(host) != monitor.reconciles:
                # First sight of the host, or the monitor reconnected after a gap.
                await self.reconcile(host)
                self._seen_reconciles[host] = monitor.reconciles
        await self._fail_over_offline_hosts()
        await self._check_health()
        for name in self.pools:
            await self._fill(name)
        await self._idle_and_periodic()
        await self._retry_releases()

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
            with self.ctx.store.transaction():
                ps.set_target(conn, pool.name, min_warm, self.clock())

        await self.ctx.store.arun(save)
        self._draining.discard(pool.name)  # scaling puts a drained pool back in service
        old = self.target(pool.name)
        self._targets[pool.name] = min_warm
        if min_warm < old:
            await self._shrink(pool)
        self._publish(
            EventKind.POOL,
            pool.first_host,
            pool=pool.name,
            action="scaled",
            message=f"{old} -> {min_warm}",
        )
        self.ctx.log_activity(
            "info",
            f"pool {pool.name} scaled: warm target {old} -> {min_warm}",
            host=pool.first_host,
            subject=f"pool:{pool.name}",
        )
        self.wake()
        return next(s for s in await self.status() if s.name == pool.name)

    async def status(self) -> list[PoolStatus]:
        def read(conn: sqlite3.Connection) -> tuple[list[ps.ContainerRow], list[ps.ClaimRow]]:
            return ps.containers(conn), ps.open_claims(conn)

        rows, claims = await self.ctx.store.arun(read)
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
                    host=pool.first_host,
                    hosts=pool.all_hosts,
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
                    draining=pool.name in self._draining,
                    warm_p50_ms=_percentile(warm_ms, 50),
                    warm_p99_ms=_percentile(warm_ms, 99),
                    cold_p50_ms=_percentile(cold_ms, 50),
                    claims=len(lat),
                )
            )
        return out

    async def tenants(self) -> list[ClaimInfo]:
        """Open claims, then the claims lost in the last `LOST_SHOWN` seconds (a host went
        offline, a container vanished) whose tenant has not claimed again."""
        since = self.clock() - LOST_SHOWN

        def read(conn: sqlite3.Connection) -> list[ps.ClaimRow]:
            return ps.open_claims(conn) + ps.recently_lost(conn, since)

        claims = await self.ctx.store.arun(read)
        out = []
        for claim in claims:
            with contextlib.suppress(PoolNotFound):
                out.append(await self.tenant(claim.tenant))
        return out

    async def touch(self, tenant: str) -> None:
        """Mark a tenant active (resets its idle timer)."""

        def run(conn: sqlite3.Connection) -> None:
            with self.ctx.store.transaction():
                ps.touch_claim(conn, tenant, self.clock())

        await self.ctx.store.arun(run)
