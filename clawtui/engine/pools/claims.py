"""Claims: a tenant gets a warm container (a CAS in SQLite), or a cold one, provisioned.

The claim is validated (tenant id, config against the workload's schema, secrets), a warm row is
taken in one transaction (or a cold container created within `claim_timeout`, unless the pool
refuses cold starts), the tenant's config and secrets are written into it (see `provision`) and,
when the policy says so, its state restored; a failed provisioning or restore undoes the claim.
"""

from __future__ import annotations

import asyncio
import json
import re
import sqlite3
import time
from collections import deque
from collections.abc import Mapping
from typing import Any

from clawtui.config.pools import PoolConfig, WorkloadConfig
from clawtui.engine.api.models import EventKind
from clawtui.engine.api.pools import (
    ClaimInfo,
    PoolConflict,
    PoolError,
    PoolInputError,
    PoolSyncFailed,
    PoolUnavailable,
)
from clawtui.engine.pools import store as ps
from clawtui.engine.pools.containers import PoolContainers
from clawtui.engine.pools.crash import crash_point
from clawtui.engine.pools.provision import (
    ProvisionError,
    RemoteProvisioner,
    tenant_files,
    write_local,
)
from clawtui.engine.pools.spec import spec_hash
from clawtui.engine.pools.state import _LATENCIES, _user_uid
from clawtui.engine.pools.sync import SyncRun
from clawtui.engine.pools.tenant_sync import PoolSync

TENANT_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")
SECRET_NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$")
MAX_CONFIG_BYTES = 256 * 1024
MAX_SECRET_BYTES = 64 * 1024
MAX_SECRETS = 64


class PoolClaims(PoolContainers, PoolSync):
    """Claiming a container for a tenant (warm or cold), provisioning it, undoing a failed claim."""

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
        with self.ctx.store.transaction():
            existing = ps.open_claim(conn, tenant)
            if existing is not None:
                raise PoolConflict(
                    f"tenant {tenant} already holds {existing.container} (pool {existing.pool}, "
                    f"{existing.state}); release it first"
                )
            workload = self.workloads[pool.workload]
            live = [h for h in pool.all_hosts if not self._offline(h)]
            specs = [spec_hash(workload, pool, h) for h in live]
            for r in ps.warm_containers(conn, pool.name, specs, live, 3):
                try:
                    ps.set_container(conn, r.name, r.version, state="claimed")
                except ps.CasFailed:
                    continue
                self._insert_claim(conn, tenant, pool, r, "warm")
                return r
            return None

    def _insert_claim(
        self,
        conn: sqlite3.Connection,
        tenant: str,
        pool: PoolConfig,
        row: ps.ContainerRow,
        source: str,
    ) -> None:
        ps.insert_claim(conn, tenant, pool.name, row.name, row.host, source, self.clock())

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
        monitor, client = self._monitor(row.host)
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
        if pool.name in self._draining:
            raise PoolConflict(
                f"pool {pool.name} is drained (clawtui pool drain): it takes no claims until "
                "it is scaled again (clawtui pool scale)"
            )
        config, secrets = self._validate_claim(tenant, pool, config, secrets)
        workload = self.workloads[pool.workload]
        provisioned: list[BaseException | None] = []

        def take() -> ps.ContainerRow | None:
            # One thread hop for the claim and its provisioning (the fast path of a warm claim);
            # the store lock is held for the transaction only, not for the file writes.
            taken = self.ctx.store.run(lambda conn: self._take_warm(conn, tenant, pool))
            if taken is not None:
                crash_point("claim.after_commit")
                if not self._is_local(taken.host):
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
                    EventKind.POOL, pool.first_host, pool=pool.name, action="refused", tenant=tenant
                )
                self.wake()
                raise PoolConflict(
                    f"pool {pool.name} has no warm container and refuses cold starts "
                    "(on_empty = refuse); retry shortly or scale it up"
                )
            try:
                got, source = await asyncio.wait_for(
                    self._claim_cold(tenant, pool), pool.claim_timeout
                )
            except TimeoutError:
                raise PoolUnavailable(
                    f"no container of pool {pool.name} was ready within {pool.claim_timeout:g}s"
                ) from None
            row = got
            crash_point("claim.after_commit")
            if self._is_local(row.host):
                try:
                    await asyncio.to_thread(
                        self._provision, workload, row.name, tenant, config, secrets
                    )
                    provisioned.append(None)
                except OSError as exc:
                    provisioned.append(exc)
        if not self._is_local(row.host):
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
        await self._record_config(tenant, config, secrets)
        latency = (time.perf_counter() - started) * 1000
        self._latency.setdefault(pool.name, deque(maxlen=_LATENCIES)).append((source, latency))
        self._publish(
            EventKind.POOL,
            row.host,
            pool=pool.name,
            action="claimed",
            tenant=tenant,
            container=row.name,
            source=source,
        )
        self.ctx.log_activity(
            "info",
            f"{tenant} claimed {row.name} on {row.host} ({source}, {latency:.0f} ms)",
            host=row.host,
            subject=f"pool:{pool.name}",
        )
        now = self.clock()
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
            config=dict(config),
            secret_names=sorted(secrets),
        )

    async def _record_config(
        self, tenant: str, config: Mapping[str, Any], secrets: Mapping[str, Any]
    ) -> None:
        """Keep the open claim's tenant config and its secrets' names (never the values)."""
        doc, names = json.dumps(dict(config)), json.dumps(sorted(secrets))

        def run(conn: sqlite3.Connection) -> None:
            with self.ctx.store.transaction():
                ps.set_claim_config(conn, tenant, doc, names)

        await self.ctx.store.arun(run)

    async def _claim_cold(self, tenant: str, pool: PoolConfig) -> tuple[ps.ContainerRow, str]:
        """A cold container for `tenant` (row, "cold"); when the pool is full but some of its
        room is taken by containers still warming, the first of them to turn warm (row,
        "warm"). The caller bounds the wait with `claim_timeout`; "full" (409) only when
        nothing is warming."""
        while True:
            changed = self._room  # taken before looking, so no change in between is missed
            slots = await self._reserve_slots(pool, 1, cold=True)
            if slots:
                return await self._create_cold(tenant, pool, *slots[0]), "cold"
            if not any(self._online(h) for h in pool.all_hosts):
                raise PoolUnavailable(
                    f"no host of pool {pool.name} is online ({', '.join(pool.all_hosts)}); "
                    "try again when one is back"
                )
            warming = await self.ctx.store.arun(
                lambda c: sum(
                    1
                    for r in ps.containers(c, pool.name)
                    if r.state == "warming" and r.source == "warm"
                )
            )
            if not warming:
                raise PoolConflict(
                    f"pool {pool.name} is full ({pool.max} containers) and none is warm; "
                    "release a tenant or raise max"
                )
            await changed.wait()
            taken = await self.ctx.store.arun(lambda c: self._take_warm(c, tenant, pool))
            if taken is not None:
                return taken, "warm"

    async def _create_cold(
        self, tenant: str, pool: PoolConfig, name: str, host: str
    ) -> ps.ContainerRow:
        row = await self._create_container(pool, name, host, warm=False)

        def bind(conn: sqlite3.Connection) -> ps.ContainerRow:
            with self.ctx.store.transaction():
                if ps.open_claim(conn, tenant) is not None:
                    raise PoolConflict(f"tenant {tenant} claimed another container meanwhile")
                r = ps.container(conn, name)
                if r is None:
                    raise PoolError(f"the cold container {name} vanished")
                ps.set_container(conn, name, r.version, state="claimed")
                self._insert_claim(conn, tenant, pool, r, "cold")
                return r

        try:
            return await self.ctx.store.arun(bind)
        except BaseException:
            await self._discard(host, name, row.container_id)
            raise

    async def _abort_claim(self, tenant: str, reason: str) -> None:
        claim = await self.ctx.store.arun(lambda c: ps.open_claim(c, tenant))
        if claim is None:
            return

        def close(conn: sqlite3.Connection) -> None:
            with self.ctx.store.transaction():
                ps.set_claim(
                    conn,
                    claim.id,
                    claim.version,
                    state="released",
                    released_at=self.clock(),
                    release_sync="aborted",
                    error=reason[:500],
                )

        await self.ctx.store.arun(close)
        await self._discard(claim.host, claim.container, None)
        self.wake()
