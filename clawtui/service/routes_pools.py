"""REST routes of warm pools: claim, release, status and sync of tenants; pool listing and scale.

    GET  /api/v1/pools                      every pool: warm / warming / claimed / max, latency
    POST /api/v1/pools/{pool}/scale         {"min_warm": N}: the warm target (0..max)
    GET  /api/v1/pools/{pool}/containers    each container: state, tenant, health, age, last sync
    POST /api/v1/pools/{pool}/drain         {"timeout": S}: refuse claims, stop the warm fill,
                                            wait for claims to end, remove the containers
    GET  /api/v1/tenants                    open claims
    POST /api/v1/tenants/{id}/claim         {"pool": P, "config": {...}, "secrets": {...}}
    POST /api/v1/tenants/{id}/release       {"sync": true, "force": false}
    GET  /api/v1/tenants/{id}               the tenant's claim and last syncs
    POST /api/v1/tenants/{id}/sync          {"direction": "upload" | "download" | "both"}
    GET  /api/v1/tenants/{id}/syncs?limit=N the tenant's last N sync runs (1-100, default 20)

Claim answers 200 with the claim (container, host, endpoints, `source`: warm | cold, latency);
409 when the tenant already holds a container or the pool is empty and refuses cold starts
(or is full); 400 for bad input (the tenant config is checked against the workload's schema);
502 when restoring state failed (the claim is undone); 503 when the host is offline.
Release answers 502 when the upload failed: the claim is then `release_failed`, the container
kept and the upload retried in the background. Secret values are never echoed, logged or
published.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt

from clawtui.engine.api.pools import PoolError, PoolsAPI, pools_of
from clawtui.service.bodies import parse_body
from clawtui.service.capabilities import capability
from clawtui.service.errors import fail

routes = web.RouteTableDef()


class ClaimBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    pool: str = Field(min_length=1, max_length=64)
    config: dict[str, Any] = Field(default_factory=dict)
    secrets: dict[str, Any] = Field(default_factory=dict)


class ReleaseBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sync: StrictBool = True
    force: StrictBool = False


class SyncBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    direction: str = "upload"


class DrainBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    timeout: float = Field(default=300.0, ge=0, le=3600)


class ScaleBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    min_warm: StrictInt


def _pools(request: web.Request) -> PoolsAPI:
    return capability(request, pools_of, "pools need a local engine (this one has no pool manager)")


def _ok(model: BaseModel | dict[str, Any]) -> web.Response:
    data = model.model_dump(mode="json") if isinstance(model, BaseModel) else model
    return web.json_response(data, dumps=lambda o: json.dumps(o, ensure_ascii=False))


async def _call(coro: Any) -> Any:
    try:
        return await coro
    except PoolError as exc:
        fail(exc.status, str(exc))


@routes.get("/api/v1/pools")
async def list_pools(request: web.Request) -> web.Response:
    pools = _pools(request)
    return _ok({"pools": [s.model_dump(mode="json") for s in await pools.status()]})


@routes.post("/api/v1/pools/{pool}/scale")
async def scale(request: web.Request) -> web.Response:
    body = await parse_body(request, ScaleBody, optional=True)
    pools = _pools(request)
    return _ok(await _call(pools.scale(request.match_info["pool"], body.min_warm)))


@routes.get("/api/v1/pools/{pool}/containers")
async def pool_containers(request: web.Request) -> web.Response:
    pools = _pools(request)
    found = await _call(pools.containers(request.match_info["pool"]))
    return _ok({"containers": [c.model_dump(mode="json") for c in found]})


@routes.post("/api/v1/pools/{pool}/drain")
async def drain(request: web.Request) -> web.Response:
    pools = _pools(request)
    body = await parse_body(request, DrainBody, optional=True)
    return _ok(await _call(pools.drain(request.match_info["pool"], timeout=body.timeout)))


@routes.get("/api/v1/tenants")
async def list_tenants(request: web.Request) -> web.Response:
    pools = _pools(request)
    return _ok({"tenants": [t.model_dump(mode="json") for t in await pools.tenants()]})


@routes.post("/api/v1/tenants/{tenant}/claim")
async def claim(request: web.Request) -> web.Response:
    body = await parse_body(request, ClaimBody, optional=True)
    pools = _pools(request)
    tenant = request.match_info["tenant"]
    return _ok(await _call(pools.claim(tenant, body.pool, body.config, body.secrets)))


@routes.post("/api/v1/tenants/{tenant}/release")
async def release(request: web.Request) -> web.Response:
    body = await parse_body(request, ReleaseBody, optional=True)
    pools = _pools(request)
    tenant = request.match_info["tenant"]
    return _ok(await _call(pools.release(tenant, sync=body.sync, force=body.force)))


@routes.get("/api/v1/tenants/{tenant}")
async def tenant_status(request: web.Request) -> web.Response:
    pools = _pools(request)
    return _ok(await _call(pools.tenant(request.match_info["tenant"])))


@routes.get("/api/v1/tenants/{tenant}/syncs")
async def sync_history(request: web.Request) -> web.Response:
    pools = _pools(request)
    text = request.query.get("limit", "20")
    if not text.isdigit():
        fail(400, "limit must be a whole number 1-100")
    runs = await _call(pools.sync_history(request.match_info["tenant"], int(text)))
    return _ok({"syncs": [r.model_dump(mode="json") for r in runs]})


@routes.post("/api/v1/tenants/{tenant}/sync")
async def sync(request: web.Request) -> web.Response:
    body = await parse_body(request, SyncBody, optional=True)
    pools = _pools(request)
    tenant = request.match_info["tenant"]
    result = await _call(pools.sync(tenant, body.direction))
    await pools.touch(tenant)
    return _ok(result)
