"""Operator views and verbs of a pool (seed 004, Boilerhouse): its containers, drain, and a
tenant's sync history (`pool_sync_runs`) and config (kept with the claim; secret names only).

`containers(pool)` lists each container of the pool with its state, the tenant holding it, its
health (from the fleet model: no Docker call), its age and the last sync of its tenant.

`drain(pool)` takes a pool out of service: claims are refused at once (no warm container is
handed out and no cold one is started), the warm fill stops, warm containers are removed, the
open claims are waited for (their tenants release them as usual, state saved), then what is
left is removed. The pool stays drained (empty, refusing claims) until `scale` is called on it
or the engine restarts.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from typing import Final

from clawtui.engine.api.models import EventKind
from clawtui.engine.api.pools import DrainResult, PoolContainer, PoolInputError, SyncState
from clawtui.engine.pools import store as ps
from clawtui.engine.pools.state import PoolsState

_POLL: Final = 0.2


class PoolDrain(PoolsState):
    """`containers` and `drain` of the pool manager; the tenant's config and sync history."""

    async def sync_history(self, tenant: str, limit: int = 20) -> list[SyncState]:
        if not 1 <= limit <= ps.SYNC_HISTORY:
            raise PoolInputError(f"limit must be 1-{ps.SYNC_HISTORY}")
        rows = await self.ctx.store.arun(lambda c: ps.sync_runs(c, tenant, limit))
        return [SyncState.model_validate(r) for r in rows]

    def draining(self, pool_name: str) -> bool:
        return pool_name in self._draining

    async def containers(self, pool_name: str) -> list[PoolContainer]:
        pool = self.pool(pool_name)

        def read(
            conn: sqlite3.Connection,
        ) -> tuple[list[ps.ContainerRow], list[ps.ClaimRow], dict[str, float]]:
            rows = ps.containers(conn, pool.name)
            claims = [c for c in ps.open_claims(conn) if c.pool == pool.name]
            return rows, claims, ps.last_sync_by_tenant(conn)

        rows, claims, last_sync = await self.ctx.store.arun(read)
        holder = {c.container: c.tenant for c in claims}
        now = time.time()
        out: list[PoolContainer] = []
        for r in rows:
            tenant = holder.get(r.name)
            out.append(
                PoolContainer(
                    name=r.name,
                    pool=r.pool,
                    host=r.host,
                    container_id=r.container_id,
                    state=r.state,
                    source=r.source,
                    tenant=tenant,
                    health=self._health_word(r.host, r.container_id),
                    created_at=r.created_at,
                    age=max(0.0, now - r.created_at),
                    last_sync=last_sync.get(tenant) if tenant else None,
                )
            )
        return out

    def _health_word(self, host: str, cid: str | None) -> str:
        monitor = self.ctx.monitors.get(host)
        if monitor is None or cid is None or monitor.containers.get(cid) is None:
            return "unknown"
        return self._docker_health(host, cid) or "healthy"

    async def drain(self, pool_name: str, *, timeout: float = 300.0) -> DrainResult:
        pool = self.pool(pool_name)
        if not 0 <= timeout <= 3600:
            raise PoolInputError("drain timeout must be 0-3600 seconds")
        first = pool.name not in self._draining
        self._draining.add(pool.name)
        if first:
            self.ctx.log_activity(
                "info",
                f"pool {pool.name}: draining",
                host=pool.first_host,
                subject=f"pool:{pool.name}",
            )
            self._publish(EventKind.POOL, pool.first_host, pool=pool.name, action="draining")
        removed = 0
        deadline = time.monotonic() + timeout
        while True:
            removed += await self._remove_unclaimed(pool.name)
            rows = await self.ctx.store.arun(lambda c: ps.containers(c, pool.name))
            claims = [c for c in await self.ctx.store.arun(ps.open_claims) if c.pool == pool.name]
            busy = any(n.startswith(f"pool-{pool.name}-") for n in self._inflight)
            if not rows and not claims and not busy:
                break
            if time.monotonic() >= deadline:
                return DrainResult(
                    pool=pool.name,
                    done=False,
                    removed=removed,
                    open_claims=sorted(c.tenant for c in claims),
                    remaining=len(rows),
                )
            await asyncio.sleep(_POLL)
        self._publish(EventKind.POOL, pool.first_host, pool=pool.name, action="drained")
        self.ctx.log_activity(
            "info",
            f"pool {pool.name} drained: {removed} container(s) removed",
            host=pool.first_host,
            subject=f"pool:{pool.name}",
        )
        return DrainResult(pool=pool.name, done=True, removed=removed)

    async def _remove_unclaimed(self, pool_name: str) -> int:
        """Remove the pool's warm containers (and `removing` leftovers); how many."""
        rows = await self.ctx.store.arun(lambda c: ps.containers(c, pool_name))
        count = 0
        for row in rows:
            if row.state not in ("warm", "removing") or row.name in self._inflight:
                continue

            if await self._take_for_removal(row):
                await self._discard(row.host, row.name, row.container_id)
                self._publish(
                    EventKind.POOL, row.host, pool=pool_name, action="removed", container=row.name
                )
                count += 1
        return count
