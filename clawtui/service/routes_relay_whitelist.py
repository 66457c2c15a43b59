"""REST routes of the relay whitelist: list, add and remove the (from, to) paths agents may use.

    GET    /api/v1/relay/routes               {"routes": [{"from", "to", "note"?}],
                                               "agents": [{"name", "thread_id", "has_secret"}]}
    POST   /api/v1/relay/routes               {"from": "ryan", "to": "cody", "note": "..."}
                                              -> 201 the route {"from", "to", "note"?}
    DELETE /api/v1/relay/routes/{from}/{to}   -> 200 {"removed": {"from", "to"}}

The list is the JSON `clawtui relay routes --json` prints. A change is written to the runtime
settings file (the whole `relay.routes` list, as `clawtui relay add` / `rm` write it) and is in
effect at once in this service's engine. Bearer token like every /api/v1 route. Answers: 400 bad
input (the message names the field: `from`, `to` or `note`; an agent not under
`[[relay.agents]]` too), 404 no such route, 409 already allowed or no runtime settings file,
501 the engine has no ingress.
"""

from __future__ import annotations

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, StrictStr

from clawtui.config.ingress import AGENT_NAME_RE
from clawtui.engine.api.ingress import IngressAPI, IngressError, ingress_of
from clawtui.service.bodies import no_body, parse_body
from clawtui.service.capabilities import capability
from clawtui.service.errors import fail

routes = web.RouteTableDef()
MAX_BODY = 16 * 1024


class RouteBody(BaseModel):
    """The body of POST /api/v1/relay/routes (names are checked by the engine)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    sender: StrictStr = Field(alias="from", min_length=1, max_length=64)
    to: StrictStr = Field(min_length=1, max_length=64)
    note: StrictStr = Field(default="", max_length=200)


def _ingress(request: web.Request) -> IngressAPI:
    return capability(request, ingress_of, "relay routes need a local engine (this one has none)")


@routes.get("/api/v1/relay/routes")
async def list_routes(request: web.Request) -> web.Response:
    listing = await _ingress(request).relay_routes()
    return web.json_response(listing.to_json())


@routes.post("/api/v1/relay/routes")
async def add_route(request: web.Request) -> web.Response:
    body = await parse_body(request, RouteBody, limit=MAX_BODY)
    ingress = _ingress(request)
    try:
        route = await ingress.add_route(body.sender, body.to, body.note)
    except IngressError as exc:
        fail(exc.status, str(exc))
    return web.json_response(route.as_toml(), status=201)


@routes.delete("/api/v1/relay/routes/{sender}/{to}")
async def remove_route(request: web.Request) -> web.Response:
    await no_body(request)
    ingress = _ingress(request)
    sender, to = request.match_info["sender"], request.match_info["to"]
    for field, name in (("from", sender), ("to", to)):
        if not AGENT_NAME_RE.fullmatch(name):
            fail(400, f"{field!r} in the path: invalid agent name {name[:40]!r}")
    try:
        await ingress.remove_route(sender, to)
    except IngressError as exc:
        fail(exc.status, str(exc))
    return web.json_response({"removed": {"from": sender, "to": to}})
