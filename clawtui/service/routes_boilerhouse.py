"""Boilerhouse-compatible tenant routes over clawtui's warm pools, under `/boilerhouse`.

A Boilerhouse client (zdavison/boilerhouse d659f66: `ts/apps/docs/reference/api.md`,
`go/internal/api/routes_tenant.go`) works unchanged when its base URL is
`http://<clawtui>/boilerhouse` and its API key is clawtui's API token (same bearer header):

    GET  /boilerhouse/api/v1/health               {"status": "ok"}
    POST /boilerhouse/api/v1/tenants/{id}/claim   {"workload" | "workloadRef": W, "resume"?: bool}
         201 {tenantId, phase, instanceId, endpoint: {host, port}, source, claimedAt}
         200 the same when the tenant already holds W (source "existing")
    POST /boilerhouse/api/v1/tenants/{id}/release {"workload": W}
         200 {"status": "released", "tenantId": id}
    GET  /boilerhouse/api/v1/tenants/{id}         {tenantId, claims: [...]}
    GET  /boilerhouse/api/v1/tenants              [{tenantId, claims: [...]}]

A workload W is the clawtui pool named W, else the first pool whose workload is W. `source` is
`pool` (a warm container) or `cold`, with `+data` when the tenant's state was restored.
`resume` is accepted; clawtui restores a tenant's state whenever its workload syncs. Errors are
Boilerhouse's `{"error": "message"}`. clawtui holds one claim per tenant: claiming a second
workload for a tenant answers 409.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Final

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, StrictBool, ValidationError

from clawtui.engine.api.pools import ClaimInfo, PoolError, PoolsAPI, pools_of
from clawtui.service.bodies import read_json
from clawtui.service.errors import HTTPJSONError
from clawtui.service.keys import ENGINE

PREFIX: Final = "/boilerhouse/api/v1"
routes = web.RouteTableDef()

_PHASE: Final = {
    "active": "Active",
    "releasing": "Releasing",
    "release_failed": "Error",
    "released": "Released",
    "lost": "Error",
}


class BoilerhouseClaimBody(BaseModel):
    """Boilerhouse's claimRequest (unknown fields are ignored, as Go's decoder does)."""

    model_config = ConfigDict(extra="ignore")

    workload: str = Field(default="", max_length=64)
    workloadRef: str = Field(default="", max_length=64)
    resume: StrictBool | None = None

    def workload_name(self) -> str:
        return self.workload or self.workloadRef


def error(status: int, message: str) -> web.Response:
    """Boilerhouse's error body."""
    return web.json_response({"error": message}, status=status)


def _pools(request: web.Request) -> PoolsAPI | None:
    return pools_of(request.app[ENGINE])


async def _body(request: web.Request) -> BoilerhouseClaimBody | web.Response:
    try:  # the house reader: capped, read to the end, depth and numbers checked
        _, data = await read_json(request)
    except HTTPJSONError as exc:  # said in Boilerhouse's error form
        return error(exc.status, f"invalid JSON: {exc.message}")
    if not isinstance(data, dict):
        return error(400, "invalid JSON: the body must be an object")
    try:
        body = BoilerhouseClaimBody.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        return error(400, f"invalid JSON: {where}: {first['msg']}")
    if not body.workload_name():
        return error(400, "workload is required")
    return body


async def _pool_for(pools: PoolsAPI, workload: str) -> str | None:
    status = await pools.status()
    for pool in status:
        if pool.name == workload:
            return pool.name
    return next((p.name for p in status if p.workload == workload), None)


def _endpoint(endpoints: list[str]) -> dict[str, Any] | None:
    if not endpoints:
        return None
    host, _, port = endpoints[0].rpartition(":")
    if not host or not port.isdigit():
        return {"host": endpoints[0], "port": 0}
    return {"host": host, "port": int(port)}


def claim_json(claim: ClaimInfo, source: str | None = None) -> dict[str, Any]:
    """Boilerhouse's claimResponse of a clawtui claim (empty fields left out, as `omitempty`)."""
    if source is None:
        restored = any(s.direction == "download" and s.status == "ok" for s in claim.sync)
        source = ("pool" if claim.source == "warm" else "cold") + ("+data" if restored else "")
    out: dict[str, Any] = {
        "tenantId": claim.tenant,
        "phase": _PHASE.get(claim.state, "Error"),
        "instanceId": claim.container,
    }
    endpoint = _endpoint(claim.endpoints)
    if endpoint is not None:
        out["endpoint"] = endpoint
    out["source"] = source
    out["claimedAt"] = datetime.fromtimestamp(claim.claimed_at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if claim.error:
        out["detail"] = claim.error
    return out


async def _open_claim(pools: PoolsAPI, tenant: str) -> ClaimInfo | None:
    try:
        claim = await pools.tenant(tenant)
    except PoolError:
        return None
    return claim if claim.state in ("active", "releasing", "release_failed") else None


@routes.get(f"{PREFIX}/health")
async def health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


@routes.post(PREFIX + "/tenants/{tenant}/claim")
async def claim(request: web.Request) -> web.Response:
    pools = _pools(request)
    if pools is None:
        return error(503, "this clawtui has no warm pools")
    body = await _body(request)
    if isinstance(body, web.Response):
        return body
    tenant = request.match_info["tenant"]
    pool = await _pool_for(pools, body.workload_name())
    if pool is None:
        return error(404, f"workload {body.workload_name()!r} not found (no pool serves it)")
    held = await _open_claim(pools, tenant)
    if held is not None:
        if held.pool == pool and held.state == "active":
            return web.json_response(claim_json(held, "existing"), status=200)
        return error(
            409,
            f"tenant {tenant!r} already holds a claim on pool {held.pool!r} ({held.state}); "
            "clawtui holds one claim per tenant",
        )
    try:
        got = await pools.claim(tenant, pool)
    except PoolError as exc:
        return error(exc.status, str(exc))
    return web.json_response(claim_json(got), status=201)


@routes.post(PREFIX + "/tenants/{tenant}/release")
async def release(request: web.Request) -> web.Response:
    pools = _pools(request)
    if pools is None:
        return error(503, "this clawtui has no warm pools")
    body = await _body(request)
    if isinstance(body, web.Response):
        return body
    tenant = request.match_info["tenant"]
    pool = await _pool_for(pools, body.workload_name())
    held = await _open_claim(pools, tenant)
    if held is None or pool is None or held.pool != pool:
        return error(404, f"claim not found: claim-{tenant}-{body.workload_name()}")
    try:
        await pools.release(tenant)
    except PoolError as exc:
        return error(exc.status, str(exc))
    return web.json_response({"status": "released", "tenantId": tenant})


@routes.get(PREFIX + "/tenants/{tenant}")
async def tenant(request: web.Request) -> web.Response:
    pools = _pools(request)
    if pools is None:
        return error(503, "this clawtui has no warm pools")
    tenant_id = request.match_info["tenant"]
    held = await _open_claim(pools, tenant_id)
    if held is None:
        return error(404, "tenant not found")
    return web.json_response({"tenantId": tenant_id, "claims": [claim_json(held)]})


@routes.get(f"{PREFIX}/tenants")
async def tenants(request: web.Request) -> web.Response:
    pools = _pools(request)
    if pools is None:
        return error(503, "this clawtui has no warm pools")
    out = [
        {"tenantId": c.tenant, "claims": [claim_json(c)]}
        for c in await pools.tenants()
        if c.state in ("active", "releasing", "release_failed")
    ]
    return web.json_response(out)
