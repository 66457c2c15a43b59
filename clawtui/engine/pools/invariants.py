"""The pool invariants, checked against the store and Docker (the tests call them after every step).

I1 no container is claimed by two tenants; I2 at most one open claim per tenant; I3 every active
claim points at an existing running container; I4 warm + warming <= target and total <= max;
I5 every pool container has a store row (or is younger than the GC grace); I6 no release removed
a container before its upload succeeded or was explicitly skipped; I7 reconcile twice changes
nothing the second time.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from clawtui.engine.pools import store as ps
from clawtui.engine.pools.spec import LABEL_POOL
from clawtui.engine.pools.state import _TICK, PoolsState


class PoolInvariants(PoolsState):
    """I1-I6 as messages (I7 is checked by calling `reconcile` twice)."""

    async def invariants(self, *, filling: bool = False) -> list[str]:
        """I1-I6 as messages (empty: all hold). `filling`: allow 2 x target (I4)."""
        problems: list[str] = []

        def read(conn: sqlite3.Connection) -> tuple[list[ps.ContainerRow], list[ps.ClaimRow]]:
            return ps.containers(conn), ps.all_claims(conn)

        rows, claims = await self.ctx.store.arun(read)
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
        for host in self._pool_hosts():
            if self._online(host):  # an offline host's containers are out of the pools
                docker_by_host[host] = await self._docker_pool_containers(host)
        for c in open_:
            if c.state != "active":
                continue
            d = docker_by_host.get(c.host, {}).get(c.container)
            if d is None or d.get("State") != "running":
                problems.append(f"I3: active claim of {c.tenant} -> {c.container} not running")
        for pool in self.pools.values():
            mine = [r for r in rows if r.pool == pool.name and r.host in docker_by_host]
            ready = sum(1 for r in mine if r.state in ("warm", "warming") and r.source == "warm")
            limit = self.target(pool.name) * (2 if filling else 1)
            if ready > limit:
                problems.append(f"I4: pool {pool.name} has {ready} warm+warming > {limit}")
            live = [
                n
                for host in pool.all_hosts
                for n, d in docker_by_host.get(host, {}).items()
                if (d.get("Labels") or {}).get(LABEL_POOL) == pool.name
            ]
            if len(mine) > pool.max or len(live) > pool.max:
                problems.append(
                    f"I4: pool {pool.name} has {max(len(mine), len(live))} > max {pool.max} "
                    f"(rows: {', '.join(f'{r.name}={r.state}' for r in mine)}; "
                    f"docker: {', '.join(sorted(live))})"
                )
        known = {r.name for r in rows}
        now = self.clock()
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
