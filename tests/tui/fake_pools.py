"""The PoolsAPI in memory for the Pools panel's tests (type-checked against the protocol in
tests/typecheck_conformance.py)."""

from __future__ import annotations

from typing import Any

from clawtui.engine.api.pools import (
    ClaimInfo,
    DrainResult,
    PoolConflict,
    PoolContainer,
    PoolStatus,
    SyncResult,
    SyncState,
)
from tests.tui.fakes import NOW


class FakePools:
    """The PoolsAPI in memory: records calls, answers like the engine."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...]]] = []
        self.claims: dict[str, ClaimInfo] = {}
        self.target = 2

    async def status(self) -> list[PoolStatus]:
        return [
            PoolStatus(name="agents", workload="agent", host="local", target=self.target, max=5,
                       warm=2, claimed=len(self.claims), total=2 + len(self.claims),
                       warm_p50_ms=3.2, warm_p99_ms=9.8),
        ]  # fmt: skip

    async def tenants(self) -> list[ClaimInfo]:
        return list(self.claims.values())

    async def claim(
        self, tenant: str, pool_name: str, config: Any = None, secrets: Any = None
    ) -> ClaimInfo:
        self.calls.append(("claim", (tenant, pool_name)))
        if tenant in self.claims:
            raise PoolConflict(f"tenant {tenant} already holds a container")
        info = ClaimInfo(
            tenant=tenant, pool=pool_name, container=f"pool-agents-{len(self.claims)}",
            host="local", state="active", source="warm", claimed_at=NOW - 5,
            last_activity=NOW, latency_ms=4.0,
            sync=[SyncState(mapping="state", direction="download", status="ok",
                            last_run=NOW - 3, bytes=10, files=1, duration=0.1)],
            config=dict(config or {}), secret_names=sorted(secrets or {}),
        )  # fmt: skip
        self.claims[tenant] = info
        return info

    async def release(self, tenant: str, *, sync: bool = True, force: bool = False) -> ClaimInfo:
        self.calls.append(("release", (tenant,)))
        info = self.claims.pop(tenant)
        return info.model_copy(update={"state": "released"})

    async def sync(self, tenant: str, direction: str = "upload") -> SyncResult:
        self.calls.append(("sync", (tenant, direction)))
        return SyncResult(tenant=tenant, ok=True, runs=[])

    async def tenant(self, tenant: str) -> ClaimInfo:
        return self.claims[tenant]

    async def touch(self, tenant: str) -> None:
        self.calls.append(("touch", (tenant,)))

    async def containers(self, pool_name: str) -> list[PoolContainer]:
        self.calls.append(("containers", (pool_name,)))
        warm = [
            PoolContainer(name=f"pool-{pool_name}-w{i}", pool=pool_name, host="local",
                          state="warm", source="warm", health="healthy", created_at=NOW - 90,
                          age=90.0)
            for i in range(2)
        ]  # fmt: skip
        claimed = [
            PoolContainer(name=c.container, pool=pool_name, host="local", state="claimed",
                          source="warm", tenant=c.tenant, health="unhealthy",
                          created_at=NOW - 300, age=300.0, last_sync=NOW - 3)
            for c in self.claims.values()
        ]  # fmt: skip
        return warm + claimed

    async def drain(self, pool_name: str, *, timeout: float = 300.0) -> DrainResult:
        self.calls.append(("drain", (pool_name,)))
        return DrainResult(pool=pool_name, done=True, removed=2)

    async def sync_history(self, tenant: str, limit: int = 20) -> list[SyncState]:
        self.calls.append(("sync_history", (tenant,)))
        return [
            SyncState(mapping="state", direction="upload", status="failed", last_run=NOW - 1,
                      bytes=0, files=0, duration=0.5, error="[red]sink unreachable"),
            SyncState(mapping="state", direction="download", status="ok", last_run=NOW - 60,
                      bytes=2048, files=3, duration=0.2),
        ][:limit]  # fmt: skip

    async def scale(self, pool_name: str, min_warm: int) -> PoolStatus:
        self.calls.append(("scale", (pool_name, min_warm)))
        self.target = min_warm
        return (await self.status())[0]
