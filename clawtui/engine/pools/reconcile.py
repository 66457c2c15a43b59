"""Reconcile: make the store and Docker agree (on start, and after every gap in a host's events).

Open claims whose container vanished are finished (state saved) or marked lost, interrupted
releases resumed, stopped claimed containers restarted, stale-spec / stopped / half-made warm
containers removed, warming rows that became healthy marked warm, and pool containers without a
row collected after the pool's GC grace. Reconciling twice changes nothing the second time (I7).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import sqlite3

from clawtui.engine.api.models import EventKind
from clawtui.engine.api.pools import PoolError, PoolUnavailable
from clawtui.engine.docker_sdk import docker
from clawtui.engine.fleet.actions import docker_error_text
from clawtui.engine.pools import store as ps
from clawtui.engine.pools.release import PoolReleases
from clawtui.engine.pools.spec import LABEL_POOL, LABEL_SPEC, spec_hash
from clawtui.engine.pools.state import _ORPHAN_WARMING_AGE


class PoolReconcile(PoolReleases):
    """Reconciling the store with Docker, host by host."""

    async def reconcile(self, host: str | None = None) -> list[str]:
        """Make the store and Docker agree; returns what was changed (empty: nothing to do)."""
        async with self.reconcile_lock:
            changes: list[str] = []
            for h in sorted(self._pool_hosts() if host is None else {host}):
                try:
                    changes += await self._reconcile_host(h)
                except PoolUnavailable:
                    continue
            if changes:
                self.ctx.log_activity(
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

        rows, claims = await self.ctx.store.arun(read)
        rows = [r for r in rows if r.host == host and r.pool in self.pools]
        by_container = {c.container: c for c in claims if c.host == host}
        changes: list[str] = []
        now = self.clock()
        known = {r.name for r in rows}
        for row in rows:
            if row.name in self._inflight:
                continue
            d = docker_now.get(row.name)
            claim = by_container.get(row.name)
            if claim is not None and claim.tenant in self._releasing:
                continue  # a release (a call or a background retry) owns this claim right now
            if d is None:
                if row.state == "warming" and now - row.created_at < _ORPHAN_WARMING_AGE:
                    continue  # maybe another process is creating it right now
                if claim is not None:
                    settled = await self._settle_lost(claim, "its container vanished")
                    changes += [settled] if settled else []
                else:
                    await self._discard(host, row.name, None)
                    changes.append(f"dropped row of missing {row.name}")
                continue
            running = d.get("State") == "running"
            spec = (d.get("Labels") or {}).get(LABEL_SPEC)
            if claim is not None:
                if claim.state == "releasing" and claim.release_sync is not None:
                    if await self._finish_release_quiet(claim):
                        changes.append(f"finished release of {claim.tenant}")
                elif claim.state == "releasing":
                    # Interrupted before its upload finished (engine crash): retry the release.
                    def resume(conn: sqlite3.Connection, c: ps.ClaimRow = claim) -> None:
                        with self.ctx.store.transaction():
                            ps.set_claim(conn, c.id, c.version, state="release_failed",
                                         next_attempt=self.clock(),
                                         error="release interrupted; retrying")  # fmt: skip

                    with contextlib.suppress(ps.CasFailed):
                        await self.ctx.store.arun(resume)
                        changes.append(f"resumed release of {claim.tenant}")
                elif not running:
                    try:
                        await monitor.call(client.start, d["Id"])
                        changes.append(f"restarted {row.name} of {claim.tenant}")
                    except docker.errors.DockerException as exc:
                        why = f"restart failed: {docker_error_text(exc)}"
                        settled = await self._settle_lost(claim, why)
                        changes += [settled] if settled else []
                elif row.state != "claimed":
                    await self._set_row(row.name, row.version, state="claimed")
                    changes.append(f"marked {row.name} claimed")
                continue
            # No open claim.
            stale_spec = (
                spec
                != spec_hash(
                    self.workloads[self.pools[row.pool].workload], self.pools[row.pool], host
                )
                or host not in self.pools[row.pool].all_hosts
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
            if (
                claim.container not in known
                and claim.container not in self._inflight
                and claim.tenant not in self._releasing
            ):
                settled = await self._settle_lost(claim, "it has no container record")
                changes += [settled] if settled else []
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

    async def _finish_release_quiet(self, claim: ps.ClaimRow) -> bool:
        """Finish a release whose upload was saved before a crash; True when it finished.

        The tenant counts as releasing meanwhile, so a `release()` call (or a background
        retry) cannot run the same release at the same time; one that lost the race to a
        concurrent writer (PoolConflict from the claim's compare-and-swap) is left as it is.
        """
        if claim.tenant in self._releasing:
            return False
        self._releasing.add(claim.tenant)
        try:
            await self._finish_release(claim)
        except PoolError:
            return False
        finally:
            self._releasing.discard(claim.tenant)
        return True

    async def _settle_lost(self, claim: ps.ClaimRow, why: str) -> str | None:
        """An open claim whose container is gone: finish it if the state was saved, else lost."""
        saved = claim.release_sync is not None

        def close(conn: sqlite3.Connection) -> None:
            with self.ctx.store.transaction():
                ps.set_claim(
                    conn,
                    claim.id,
                    claim.version,
                    state="released" if saved else "lost",
                    released_at=self.clock(),
                    error=None if saved else why,
                )
                ps.delete_container(conn, claim.container)

        try:
            await self.ctx.store.arun(close)
        except ps.CasFailed:  # changed meanwhile (a release finished it): nothing to settle
            return None
        if saved:
            await asyncio.to_thread(shutil.rmtree, self._dir(claim.container), True)
            return f"finished release of {claim.tenant}"
        self.ctx.log_activity(
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
