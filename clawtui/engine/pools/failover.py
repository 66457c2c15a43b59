"""Failover: a host of a pool with `hosts = [...]` went offline (its monitor says so); the pool
carries on without it, once it has been offline for the pool's `failover_after` seconds (a
daemon restart shorter than that keeps its claims). (A one-host pool has nowhere else to go: it
keeps its claims and waits.)

Its warm (and warming) containers of every pool are counted gone (marked `removing`: no claim
takes them, and only live hosts' containers count against the warm target and `max`, so the
fill places replacements on the pool's other online hosts). Open claims whose container is on
it are closed as `lost` (when their state was not saved) with the host and the time in the
claim, a POOL event (action `lost`) and an activity line; the tenant can claim again and gets
a container on a live host, its state restored from the sink as on any claim. A claim whose
release had already saved the state is closed as `released`.

When the host is back its monitor reconciles, and so does the pool manager (`reconcile`): the
rows left `removing` there are removed with their containers (Docker restarts `unless-stopped`
containers when a killed engine comes back), so a lost claim's container is never served twice.
"""

from __future__ import annotations

import sqlite3
import time

from clawtui.engine.api.models import EventKind, HostState
from clawtui.engine.pools import store as ps
from clawtui.engine.pools.state import PoolsState


def offline_for_long(offline: bool, since: float | None, now: float, after: float) -> bool:
    """Whether a host offline since `since` has been so for `after` seconds (with `since`
    unknown, only when `after` is 0)."""
    if not offline:
        return False
    return after <= 0 or (since is not None and now - since >= after)


class PoolFailover(PoolsState):
    """Taking an offline host's containers out of the pools (see the module docstring)."""

    def _spread(self, pool: str) -> bool:
        """A pool with more than one host: the only kind that fails over (a one-host pool
        waits for its host, keeping its claims, as it always did)."""
        config = self.pools.get(pool)
        return config is not None and len(config.all_hosts) > 1

    async def _fail_over_offline_hosts(self) -> None:
        now = time.time()
        hosts: dict[str, float] = {}  # host -> the shortest failover_after of its pools
        for p in self.pools.values():
            if len(p.all_hosts) > 1:
                for h in p.all_hosts:
                    hosts[h] = min(hosts.get(h, p.failover_after), p.failover_after)
        for host, after in sorted(hosts.items()):
            monitor = self.ctx.monitors.get(host)
            if monitor is not None and offline_for_long(
                monitor.info.state is HostState.OFFLINE, monitor.info.offline_since, now, after
            ):
                await self.fail_over(host)

    async def fail_over(self, host: str) -> list[str]:
        """Take `host`'s pool containers out of service and close its claims; what changed
        (empty when there was nothing left to do: it runs every tick while the host is away)."""
        monitor = self.ctx.monitors.get(host)
        since = (monitor.info.offline_since if monitor is not None else None) or time.time()
        why_host = (monitor.info.error if monitor is not None else None) or "offline"
        stamp = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(since))
        why = f"host {host} went offline at {stamp} ({why_host})"[:500]
        busy = set(self._inflight)
        releasing = set(self._releasing)
        now = self.clock()

        def run(conn: sqlite3.Connection) -> tuple[list[ps.ContainerRow], list[ps.ClaimRow]]:
            with self.ctx.store.transaction():
                claims = [
                    c
                    for c in ps.open_claims(conn)
                    if c.host == host and self._spread(c.pool) and c.tenant not in releasing
                ]
                closed: list[ps.ClaimRow] = []
                for c in claims:
                    saved = c.release_sync is not None
                    try:
                        ps.set_claim(
                            conn,
                            c.id,
                            c.version,
                            state="released" if saved else "lost",
                            released_at=now,
                            error=None if saved else why,
                        )
                    except ps.CasFailed:
                        continue
                    ps.mark_removing(conn, c.container, now)
                    closed.append(c)
                claimed = {c.container for c in ps.open_claims(conn)}
                gone: list[ps.ContainerRow] = []
                for r in ps.containers(conn):
                    if (
                        r.host != host
                        or not self._spread(r.pool)
                        or r.state == "removing"
                        or r.name in busy
                        or r.name in claimed
                    ):
                        continue
                    ps.mark_removing(conn, r.name, now)
                    gone.append(r)
                return gone, closed

        gone, closed = await self.ctx.store.arun(run)
        changes: list[str] = []
        for c in closed:
            if c.release_sync is not None:
                changes.append(f"finished release of {c.tenant} (state saved; {host} offline)")
                continue
            self._last_periodic.pop(c.tenant, None)
            self._publish(
                EventKind.POOL,
                host,
                pool=c.pool,
                action="lost",
                tenant=c.tenant,
                container=c.container,
                message=why,
            )
            self.ctx.log_activity(
                "warning",
                f"claim of {c.tenant} lost: {c.container} is on {why}; the tenant can claim "
                "again (its state is restored from the sink as last saved)",
                host=host,
                subject=f"pool:{c.pool}",
            )
            changes.append(f"claim of {c.tenant} lost ({host} offline)")
        by_pool: dict[str, list[str]] = {}
        for r in gone:
            by_pool.setdefault(r.pool, []).append(r.name)
        for pool, names in sorted(by_pool.items()):
            others = [h for h in self.pools[pool].all_hosts if h != host]
            self._publish(
                EventKind.POOL,
                host,
                pool=pool,
                action="removed",
                message=f"{len(names)} container(s) on offline host {host} counted gone",
            )
            self.ctx.log_activity(
                "warning",
                f"pool {pool}: {host} is offline: {len(names)} container(s) there counted gone "
                f"({', '.join(names)[:300]}); refilling on {', '.join(others) or 'no other host'}",
                host=host,
                subject=f"pool:{pool}",
            )
            changes.append(f"{len(names)} container(s) of {pool} on {host} counted gone")
        if changes:
            self.room_changed()
            self.wake()
        return changes
