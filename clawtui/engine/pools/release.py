"""Release: upload the tenant's state, then destroy the container and refill the pool.

A failed upload keeps the claim `release_failed` and the container alive, retries with backoff
and raises an escalation after `escalate_after` failures (the `escalations` collaborator). Idle
claims are released in the background; an active claim's periodic upload is started here too.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import sqlite3

from clawtui.config.pools import PoolConfig
from clawtui.engine.api.escalations import NewEscalation, Severity, Source
from clawtui.engine.api.models import EventKind, HostState
from clawtui.engine.api.pools import (
    ClaimInfo,
    PoolConflict,
    PoolError,
    PoolNotFound,
    PoolSyncFailed,
    PoolUnavailable,
)
from clawtui.engine.docker_sdk import docker
from clawtui.engine.fleet.actions import docker_error_text
from clawtui.engine.pools import store as ps
from clawtui.engine.pools.crash import crash_point
from clawtui.engine.pools.sync import SyncRun
from clawtui.engine.pools.tenant_sync import PoolSync


def _claim_now(conn: sqlite3.Connection, claim_id: int) -> ps.ClaimRow:
    row = ps.claim(conn, claim_id)
    assert row is not None, claim_id  # changed above, in the same transaction
    return row


class PoolReleases(PoolSync):
    """Releasing a tenant's container (upload first), retries of failed releases, idle release."""

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
            last = await self.ctx.store.arun(
                lambda c: ps.open_claim(c, tenant) or ps.last_claim(c, tenant)
            )
            self.metrics.release_failed(last.pool if last is not None else "", exc)
            raise
        finally:
            self._releasing.discard(tenant)

    async def _release(self, tenant: str, *, sync: bool, force: bool) -> ClaimInfo:
        claim = await self.ctx.store.arun(lambda c: ps.open_claim(c, tenant))
        if claim is None:
            raise PoolNotFound(f"tenant {tenant[:70]!r} holds no container")
        pool = self.pools.get(claim.pool)
        workload = self.workloads.get(pool.workload) if pool else None

        def begin(conn: sqlite3.Connection) -> ps.ClaimRow:
            with self.ctx.store.transaction():
                ps.set_claim(conn, claim.id, claim.version, state="releasing")
                return _claim_now(conn, claim.id)

        try:
            current = await self.ctx.store.arun(begin)
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
            with self.ctx.store.transaction():
                ps.set_claim(conn, current.id, current.version, release_sync=verdict, error=None)
                return _claim_now(conn, claim.id)

        current = await self.ctx.store.arun(mark)
        crash_point("release.after_upload")
        return await self._finish_release(current)

    async def _finish_release(self, claim: ps.ClaimRow) -> ClaimInfo:
        monitor = self.ctx.monitors.get(claim.host)
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
            with self.ctx.store.transaction():
                ps.set_claim(
                    conn, claim.id, claim.version, state="released", released_at=self.clock()
                )
                ps.delete_container(conn, claim.container)

        try:
            await self.ctx.store.arun(close)
        except ps.CasFailed:
            # Someone else (a reconcile, another release) changed the claim since it was read.
            raise PoolConflict(
                f"the claim of {claim.tenant} changed while its release finished; try again"
            ) from None
        self._last_periodic.pop(claim.tenant, None)
        self._publish(
            EventKind.POOL,
            claim.host,
            pool=claim.pool,
            action="released",
            tenant=claim.tenant,
            container=claim.container,
        )
        self.ctx.log_activity(
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
            with self.ctx.store.transaction():
                ps.set_claim(
                    conn,
                    claim.id,
                    claim.version,
                    state="release_failed",
                    release_attempts=attempts,
                    next_attempt=self.clock() + delay,
                    error=error,
                )

        await self.ctx.store.arun(mark)
        self._publish(
            EventKind.POOL,
            claim.host,
            pool=pool.name,
            action="release_failed",
            tenant=claim.tenant,
            container=claim.container,
            message=error,
        )
        self.ctx.log_activity(
            "warning",
            f"{claim.tenant}: state upload failed on release (attempt {attempts}): {error}; "
            f"container {claim.container} kept, retrying in {delay:g}s",
            host=claim.host,
            subject=f"pool:{pool.name}",
        )
        if attempts >= pool.escalate_after:
            await self.escalations.raise_(
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
        now = self.clock()
        claims = await self.ctx.store.arun(ps.open_claims)
        for claim in claims:
            if claim.state != "release_failed" or claim.tenant in self._releasing:
                continue
            if claim.next_attempt is not None and claim.next_attempt > now:
                continue
            self._spawn(self._quiet_release(claim.tenant), f"pools:retry:{claim.tenant}")

    async def _quiet_release(self, tenant: str) -> None:
        with contextlib.suppress(PoolError):
            await self.release(tenant)

    async def _idle_and_periodic(self) -> None:
        now = self.clock()
        claims = await self.ctx.store.arun(ps.open_claims)
        for claim in claims:
            pool = self.pools.get(claim.pool)
            if pool is None or claim.state != "active" or claim.tenant in self._releasing:
                continue
            if pool.idle_timeout and now - claim.last_activity > pool.idle_timeout:
                self.ctx.log_activity(
                    "info",
                    f"{claim.tenant} idle for {pool.idle_timeout:g}s: releasing",
                    host=claim.host,
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
