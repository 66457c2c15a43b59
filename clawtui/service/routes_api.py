"""REST routes over the engine's snapshot: hosts, containers, activity, health."""

from __future__ import annotations

import time

from aiohttp import web

from clawtui.engine.api.models import ContainerInfo
from clawtui.service.container_bodies import container_json
from clawtui.service.errors import fail
from clawtui.service.keys import CONTAINER_BODIES, ENGINE

routes = web.RouteTableDef()

_CONTAINER_STATES = frozenset(
    {"created", "running", "paused", "restarting", "exited", "dead", "removing"}
)


def _int_query(request: web.Request, name: str, default: int, lo: int, hi: int) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        fail(400, f"query parameter {name!r} must be a whole number, got {raw[:40]!r}")
    if not lo <= value <= hi:
        fail(400, f"query parameter {name!r} must be between {lo} and {hi}, got {value}")
    return value


def _known_host(request: web.Request, name: str) -> str:
    engine = request.app[ENGINE]
    names = [h.name for h in engine.hosts()]
    if name not in names:
        fail(404, f"unknown host {name[:80]!r} (known: {', '.join(names) or 'none'})")
    return name


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    engine = request.app[ENGINE]
    hosts = {h.name: h.state.value for h in engine.hosts()}
    ok = all(state == "online" for state in hosts.values())
    return web.json_response({"status": "ok" if ok else "degraded", "hosts": hosts})


@routes.get("/api/v1/hosts")
async def list_hosts(request: web.Request) -> web.Response:
    engine = request.app[ENGINE]
    return web.json_response({"hosts": [h.model_dump(mode="json") for h in engine.hosts()]})


@routes.get("/api/v1/hosts/{host}")
async def get_host(request: web.Request) -> web.Response:
    name = _known_host(request, request.match_info["host"])
    info = next(h for h in request.app[ENGINE].hosts() if h.name == name)
    return web.json_response(info.model_dump(mode="json"))


@routes.get("/api/v1/containers")
async def list_containers(request: web.Request) -> web.Response:
    engine = request.app[ENGINE]
    host = request.query.get("host")
    if host is not None:
        _known_host(request, host)
    role = request.query.get("role") or None
    state = request.query.get("state")
    if state is not None and state not in _CONTAINER_STATES:
        fail(400, f"query parameter 'state' must be one of {', '.join(sorted(_CONTAINER_STATES))}")
    listed = engine.containers(host=host, role=role)
    shown = listed if state is None else [c for c in listed if c.state == state]
    body = request.app[CONTAINER_BODIES].body(shown, time.time())
    return web.Response(body=body, content_type="application/json", charset="utf-8")


def resolve_container(request: web.Request) -> ContainerInfo:
    """The container named by the route's {host} and {id} (an id, a unique id prefix or a
    name, like the docker CLI); a 404 or 400 naming the problem otherwise."""
    host = _known_host(request, request.match_info["host"])
    cid = request.match_info["id"]
    engine = request.app[ENGINE]
    found = engine.container(f"{host}/{cid}")
    if found is None:  # allow a unique id prefix or a name, like the docker CLI
        matches = [c for c in engine.containers(host=host) if c.id.startswith(cid) or c.name == cid]
        if len(matches) == 1:
            found = matches[0]
        elif len(matches) > 1:
            fail(
                400,
                f"{cid[:80]!r} matches {len(matches)} containers on {host}: give more of the id",
            )
    if found is None:
        fail(404, f"no container {cid[:80]!r} on host {host}")
    return found


@routes.get("/api/v1/containers/{host}/{id}")
async def get_container(request: web.Request) -> web.Response:
    return web.json_response(container_json(resolve_container(request), time.time()))


@routes.get("/api/v1/activity")
async def activity(request: web.Request) -> web.Response:
    limit = _int_query(request, "limit", 200, 1, 5000)
    entries = await request.app[ENGINE].activity(limit)
    return web.json_response({"activity": [e.model_dump(mode="json") for e in entries]})
