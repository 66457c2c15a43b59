"""REST routes of scoped tokens and the audit log (all need the admin scope).

GET    /api/v1/tokens              every token (never a secret): {"tokens": [...]}
POST   /api/v1/tokens              {"name": "...", "scopes": ["read", ...]} -> 201
                                   {"token": "<secret, shown once>", "info": {...}}
DELETE /api/v1/tokens/{name}       revoke: refused from the next request on, and every
                                   event stream opened with it is closed now
GET    /api/v1/audit?since=&limit= recorded calls, newest first
"""

from __future__ import annotations

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from clawtui.engine.api.tokens import TokenError, TokensAPI, tokens_of
from clawtui.service.bodies import no_body, parse_body
from clawtui.service.capabilities import capability
from clawtui.service.errors import fail
from clawtui.service.keys import SSE_OWNERS
from clawtui.service.routes_api import _int_query

routes = web.RouteTableDef()


class CreateBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=64)
    scopes: list[str] = Field(min_length=1, max_length=20)


def _tokens(request: web.Request) -> TokensAPI:
    return capability(request, tokens_of, "this engine keeps no tokens")


@routes.get("/api/v1/tokens")
async def list_tokens(request: web.Request) -> web.Response:
    rows = await _tokens(request).find()
    return web.json_response({"tokens": [t.model_dump(mode="json") for t in rows]})


@routes.post("/api/v1/tokens")
async def create_token(request: web.Request) -> web.Response:
    body = await parse_body(request, CreateBody)
    try:
        new = await _tokens(request).create(body.name, body.scopes)
    except TokenError as exc:
        fail(exc.status, str(exc))
    return web.json_response(
        {"token": new.secret, "info": new.info.model_dump(mode="json")}, status=201
    )


@routes.delete("/api/v1/tokens/{name}")
async def revoke_token(request: web.Request) -> web.Response:
    await no_body(request)
    name = request.match_info["name"]
    try:
        info = await _tokens(request).revoke(name)
    except TokenError as exc:
        fail(exc.status, str(exc))
    owners = request.app[SSE_OWNERS]
    for sub in [s for s, owner in owners.items() if owner == name]:
        sub.close()
    return web.json_response(info.model_dump(mode="json"))


@routes.get("/api/v1/audit")
async def audit(request: web.Request) -> web.Response:
    raw = request.query.get("since")
    since = None
    if raw is not None:
        try:
            since = float(raw)
        except ValueError:
            fail(400, f"query parameter 'since' must be epoch seconds, got {raw[:40]!r}")
    limit = _int_query(request, "limit", 500, 1, 10_000)
    rows = await _tokens(request).audit(since=since, limit=limit)
    return web.json_response({"audit": [e.model_dump(mode="json") for e in rows]})
