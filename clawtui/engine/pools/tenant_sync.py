"""A tenant's state sync: runs of the rclone runner (`sync`) for a claimed container.

Directly on a local host's bind-mounted folder, through a staging folder on a remote host (see
`provision.staged_sync`). Every run is published (`EventKind.SYNC`, started / finished), counted
in the metrics and stored per tenant and mapping; manual syncs (`Pools.sync`) and the periodic
upload of an active claim go through here, and so do the restore on claim and the upload on
release.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Awaitable, Callable
from functools import partial

from clawtui.config.pools import PoolConfig, SyncMapping, WorkloadConfig
from clawtui.engine.api.models import EventKind
from clawtui.engine.api.pools import (
    PoolConflict,
    PoolError,
    PoolInputError,
    PoolNotFound,
    SyncResult,
)
from clawtui.engine.pools import store as ps
from clawtui.engine.pools.provision import (
    ProvisionError,
    RemoteProvisioner,
    local_staged_sync,
    staged_sync,
)
from clawtui.engine.pools.state import PoolsState
from clawtui.engine.pools.sync import Rclone, Sink, StateFolder, SyncRun


class PoolSync(PoolsState):
    """State sync of claimed containers: manual, periodic, and the runs claim and release use."""

    def _mappings(self, workload: WorkloadConfig, direction: str) -> list[SyncMapping]:
        if workload.sync is None:
            return []
        return [m for m in workload.sync.mappings if m.direction in (direction, "bidirectional")]

    async def _run_sync(
        self, tenant: str, pool: PoolConfig, container: str, direction: str, *, both: bool = False
    ) -> list[SyncRun]:
        """Every mapping of the workload in `direction`. `both`: one half of a two-way sync, so
        a copy that keeps what is newer on the destination (`mode = "sync"` would delete there
        what the other side does not have yet)."""
        workload = self.workloads[pool.workload]
        spec = workload.sync
        if spec is None:
            return []
        row = await self.ctx.store.arun(lambda c: ps.container(c, container))
        host = row.host if row is not None else pool.first_host
        rclone = Rclone(Sink(spec.sink, self.default_sink), retries=spec.retries)
        runs: list[SyncRun] = []
        for mapping in self._mappings(workload, direction):
            if both:
                mapping = mapping.model_copy(update={"mode": "copy"})
            where = workload.volume_for(mapping.path)
            if where is None:  # the config validator makes this impossible
                continue
            self._publish(
                EventKind.SYNC,
                host,
                tenant=tenant,
                pool=pool.name,
                mapping=mapping.name,
                direction=direction,
                phase="started",
            )
            if self._is_local(host):
                run = await local_staged_sync(
                    partial(rclone.run, tenant, mapping, direction=direction, newer_only=both),
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
                runner = partial(rclone.run, newer_only=both)
                run = await self._remote_sync(
                    tenant, pool, host, container, mapping, direction, runner
                )
            runs.append(run)
            self.metrics.synced(pool.name, direction, run.status, run.bytes, run.duration)
            await self.ctx.store.arun(partial(self._save_run, tenant=tenant, run=run))
            self._publish(
                EventKind.SYNC,
                host,
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
                self.ctx.log_activity(
                    "warning",
                    f"{tenant}: sync {mapping.name} ({direction}) failed: {run.error}",
                    host=host,
                    subject=f"pool:{pool.name}",
                )
        return runs

    async def _remote_sync(
        self,
        tenant: str,
        pool: PoolConfig,
        host: str,
        container: str,
        mapping: SyncMapping,
        direction: str,
        rclone_run: Callable[..., Awaitable[SyncRun]],
    ) -> SyncRun:
        """rclone through a staging folder: the engine cannot reach a remote host's disk."""
        workload = self.workloads[pool.workload]
        where = workload.volume_for(mapping.path)
        started = time.monotonic()
        try:
            if where is None:
                raise ProvisionError(f"{mapping.path} is in no writable volume")
            monitor, client = self._monitor(host)
            remote = RemoteProvisioner(monitor, client)
            return await staged_sync(
                remote,
                lambda path: rclone_run(tenant, mapping, path, direction),
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
        values = (run.mapping, run.direction, run.status, run.finished_at, run.bytes, run.files,
                  run.duration, run.error)  # fmt: skip
        with self.ctx.store.transaction():
            ps.save_sync_run(
                conn,
                tenant=tenant,
                mapping=run.mapping,
                direction=run.direction,
                status=run.status,
                last_run=run.finished_at,
                bytes_=run.bytes,
                files=run.files,
                duration=run.duration,
                error=run.error,
            )
            ps.add_sync_run(conn, tenant, values)

    async def sync(self, tenant: str, direction: str = "upload") -> SyncResult:
        """A manual sync of the tenant's container: upload, download or both.

        `both` loses nothing newer on either side: a copy down that keeps newer local files,
        then a copy up that keeps newer sink files (rclone `copy --update`, whatever the
        mapping's mode); it deletes nothing, so a file deleted on one side only comes back."""
        if direction not in ("upload", "download", "both"):
            raise PoolInputError(
                f"direction must be upload, download or both, not {direction[:20]!r}"
            )
        claim = await self.ctx.store.arun(lambda c: ps.open_claim(c, tenant))
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
                runs += await self._run_sync(
                    tenant, pool, claim.container, d, both=direction == "both"
                )
        finally:
            self._syncing.discard(tenant)
        states = [self._state_of(r) for r in runs]
        return SyncResult(tenant=tenant, ok=all(r.ok for r in runs), runs=states)

    async def _periodic(self, tenant: str, pool: PoolConfig, container: str) -> None:
        self._syncing.add(tenant)
        try:
            await self._run_sync(tenant, pool, container, "upload")
        finally:
            self._syncing.discard(tenant)
