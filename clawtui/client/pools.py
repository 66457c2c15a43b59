"""The pools capability of a remote engine (`RemoteEngine.pools`), over the service's routes.

The same methods as the local pool manager (`PoolsAPI` in `clawtui.engine.api.pools`): status
and tenants read `GET /api/v1/pools` and `GET /api/v1/tenants`; claim, release, sync and scale post
to the routes of `service/routes_pools.py`, whose JSON bodies are the engine's own models
(`PoolStatus`, `ClaimInfo`, `SyncResult`). A refusal of the remote side becomes a `RemoteError`
carrying the service's message (it names the problem and the fix). Secrets sent with a claim go in
the request body only; the service never echoes them.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import aiohttp

from clawtui.client.caps import RemoteError, _Client
from clawtui.engine.api.pools import (
    ClaimInfo,
    DrainResult,
    PoolContainer,
    PoolStatus,
    SyncResult,
    SyncState,
)

# A cold claim may take the pool's claim timeout (30 s by default) plus a state restore; a
# release uploads the tenant's state first. Reads stay short.
_LONG = aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=900)
_SHORT = aiohttp.ClientTimeout(total=30, sock_connect=10)


def _tenant_path(tenant: str) -> str:
    if not tenant:
        raise RemoteError("a tenant id is required")
    return f"/api/v1/tenants/{quote(tenant, safe='')}"


def _items(data: Any, key: str) -> list[Any]:
    items = data.get(key) if isinstance(data, dict) else None
    if not isinstance(items, list):
        raise RemoteError(f"the remote answered without a {key!r} list")
    return items


class RemotePools(_Client):
    """`PoolsAPI` over the service."""

    async def status(self) -> list[PoolStatus]:
        _, data = await self.call("GET", "/api/v1/pools", timeout=_SHORT)
        return [PoolStatus.model_validate(p) for p in _items(data, "pools")]

    async def tenants(self) -> list[ClaimInfo]:
        _, data = await self.call("GET", "/api/v1/tenants", timeout=_SHORT)
        return [ClaimInfo.model_validate(t) for t in _items(data, "tenants")]

    async def tenant(self, tenant: str) -> ClaimInfo:
        _, data = await self.call("GET", _tenant_path(tenant), timeout=_SHORT)
        return ClaimInfo.model_validate(data)

    async def claim(
        self, tenant: str, pool_name: str, config: Any = None, secrets: Any = None
    ) -> ClaimInfo:
        body = {"pool": pool_name, "config": config or {}, "secrets": secrets or {}}
        _, data = await self.call("POST", _tenant_path(tenant) + "/claim", json=body, timeout=_LONG)
        return ClaimInfo.model_validate(data)

    async def release(self, tenant: str, *, sync: bool = True, force: bool = False) -> ClaimInfo:
        body = {"sync": sync, "force": force}
        _, data = await self.call(
            "POST", _tenant_path(tenant) + "/release", json=body, timeout=_LONG
        )
        return ClaimInfo.model_validate(data)

    async def sync(self, tenant: str, direction: str = "upload") -> SyncResult:
        body = {"direction": direction}
        _, data = await self.call("POST", _tenant_path(tenant) + "/sync", json=body, timeout=_LONG)
        return SyncResult.model_validate(data)

    async def scale(self, pool_name: str, min_warm: int) -> PoolStatus:
        path = f"/api/v1/pools/{quote(pool_name, safe='')}/scale"
        _, data = await self.call("POST", path, json={"min_warm": min_warm}, timeout=_SHORT)
        return PoolStatus.model_validate(data)

    async def touch(self, tenant: str) -> None:
        """Nothing to send: the remote engine marks a tenant active itself (its sync route does)."""

    async def containers(self, pool_name: str) -> list[PoolContainer]:
        path = f"/api/v1/pools/{quote(pool_name, safe='')}/containers"
        _, data = await self.call("GET", path, timeout=_SHORT)
        return [PoolContainer.model_validate(c) for c in _items(data, "containers")]

    async def drain(self, pool_name: str, *, timeout: float = 300.0) -> DrainResult:
        path = f"/api/v1/pools/{quote(pool_name, safe='')}/drain"
        _, data = await self.call("POST", path, json={"timeout": timeout}, timeout=_LONG)
        return DrainResult.model_validate(data)

    async def sync_history(self, tenant: str, limit: int = 20) -> list[SyncState]:
        path = _tenant_path(tenant) + f"/syncs?limit={int(limit)}"
        _, data = await self.call("GET", path, timeout=_SHORT)
        return [SyncState.model_validate(s) for s in _items(data, "syncs")]
