"""REST routes of warm pools: claim, release, status and sync of tenants; pool listing and scale.

    GET  /api/v1/pools                      every pool: warm / warming / claimed / max, latency
    POST /api/v1/pools/{pool}/scale         {"min_warm": N}: the warm target (0..max)
    GET  /api/v1/tenants                    open claims
    POST /api/v1/tenants/{id}/claim         {"pool": P, "config": {...}, "secrets": {...}}
    POST /api/v1/tenants/{id}/release       {"sync": true, "force": false}
    GET  /api/v1/tenants/{id}               the tenant's claim and last syncs
    POST /api/v1/tenants/{id}/sync          {"direction": "upload" | "download" | "both"}

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
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, ValidationError

from clawtui.engine.pools import PoolError, Pools
from clawtui.service.errors import fail
from clawtui.service.keys import ENGINE

routes = web.RouteTableDef()
M = TypeVar("M", bound=BaseModel)


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


class ScaleBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    min_warm: StrictInt


def _pools(request: web.Request) -> Pools:
    pools = getattr(request.app[ENGINE], "pools", None)
    if not isinstance(pools, Pools):
        fail(501, "pools need a local engine (this one has no pool manager)")
    return pools


async def _body(request: web.Request, model: type[M]) -> M:
    raw = await request.read()
    if not raw.strip():
        data: Any = {}
    else:
        try:
            data = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            fail(400, f"the body is not valid JSON: {str(exc)[:200]}")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = []
        for error in exc.errors(include_url=False):
            loc = ".".join(str(p) for p in error["loc"]) or "body"
            if error["type"] == "extra_forbidden":
                allowed = ", ".join(model.model_fields)
                problems.append(f"unknown field {loc!r} (expected: {allowed})")
            elif error["type"] == "missing":
                problems.append(f"field {loc!r} is required")
            else:
                # error["input"] may be a secret: never echo it
                problems.append(f"field {loc!r}: {error['msg']}")
        fail(400, "invalid body: " + "; ".join(problems)[:2000])


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
    pools = _pools(request)
    body = await _body(request, ScaleBody)
    return _ok(await _call(pools.scale(request.match_info["pool"], body.min_warm)))


@routes.get("/api/v1/tenants")
async def list_tenants(request: web.Request) -> web.Response:
    pools = _pools(request)
    return _ok({"tenants": [t.model_dump(mode="json") for t in await pools.tenants()]})


@routes.post("/api/v1/tenants/{tenant}/claim")
async def claim(request: web.Request) -> web.Response:
    pools = _pools(request)
    body = await _body(request, ClaimBody)
    tenant = request.match_info["tenant"]
    return _ok(await _call(pools.claim(tenant, body.pool, body.config, body.secrets)))


@routes.post("/api/v1/tenants/{tenant}/release")
async def release(request: web.Request) -> web.Response:
    pools = _pools(request)
    body = await _body(request, ReleaseBody)
    tenant = request.match_info["tenant"]
    return _ok(await _call(pools.release(tenant, sync=body.sync, force=body.force)))


@routes.get("/api/v1/tenants/{tenant}")
async def tenant_status(request: web.Request) -> web.Response:
    pools = _pools(request)
    return _ok(await _call(pools.tenant(request.match_info["tenant"])))


@routes.post("/api/v1/tenants/{tenant}/sync")
async def sync(request: web.Request) -> web.Response:
    pools = _pools(request)
    body = await _body(request, SyncBody)
    tenant = request.match_info["tenant"]
    result = await _call(pools.sync(tenant, body.direction))
    await pools.touch(tenant)
    return _ok(result)
