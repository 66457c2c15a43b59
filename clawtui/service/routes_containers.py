"""REST routes of container actions and dev boxes (what `clawtui --connect` needs to act).

    POST   /api/v1/containers/{host}/{id}/start
    POST   /api/v1/containers/{host}/{id}/stop      ?timeout=10
    POST   /api/v1/containers/{host}/{id}/restart   ?timeout=10
    DELETE /api/v1/containers/{host}/{id}           ?force=1&volumes=1
    GET    /api/v1/containers/{host}/{id}/logs      ?tail=100&follow=1   (NDJSON stream)
    GET    /api/v1/devboxes                         every dev box, with its ssh command
    POST   /api/v1/devboxes                         create one (NDJSON progress stream)
    DELETE /api/v1/devboxes/{name}                  ?keep_home=1&host=H

`{id}` is an id, a unique id prefix or a name. Start, stop and restart answer 200 with the
container as Docker reports it after the action (running after start and restart, with a new
`started_at`; exited after stop), waiting up to SETTLE_SECONDS for Docker's event; when the event
is late they answer 202 with the last state seen and a `pending` field saying so. A refusal
(unknown container, offline host, infrastructure or the engine's own container, Docker said
no) is a 409 whose message is the reason.

Streams are `application/x-ndjson`, one JSON object per line. Logs: `{"line": "..."}`.
Create: `{"progress": "..."}` lines while the image builds and the container starts, then one
`{"devbox": {...}, "ssh_command": "..."}` or `{"error": {"status": N, "message": "..."}}`.
A create body that is invalid is refused before the stream starts, with a plain 400.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictStr

from clawtui.engine.api.devbox_checks import ROLE, DevboxError, DevboxInputError, validate_name
from clawtui.engine.api.devboxes import DevboxesAPI, DevboxInfo, devboxes_in, devboxes_of
from clawtui.engine.api.fleet import ActionError, ContainerActionsAPI, actions_of
from clawtui.engine.api.models import ContainerInfo, EventKind
from clawtui.service.bodies import no_body, parse_body
from clawtui.service.capabilities import capability
from clawtui.service.container_bodies import container_json
from clawtui.service.errors import fail
from clawtui.service.keys import ENGINE
from clawtui.service.routes_api import _int_query, _known_host, resolve_container

routes = web.RouteTableDef()

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off", ""})
_MAX_PUBKEY = 16 * 1024


def _bool_query(request: web.Request, name: str) -> bool:
    raw = request.query.get(name, "0").strip().lower()
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    fail(400, f"query parameter {name!r} must be 1 or 0, got {raw[:20]!r}")


def _actions(request: web.Request) -> ContainerActionsAPI:
    return capability(request, actions_of, "container actions need a local engine")


def _devboxes(request: web.Request) -> DevboxesAPI:
    return capability(request, devboxes_of, "dev boxes need a local engine")


SETTLE_SECONDS = 15.0
"""How long an action's answer waits for Docker to report the container's new state."""
_STOPPED = frozenset({"exited", "dead", "created"})


def _settled(verb: str, before: ContainerInfo, now: ContainerInfo | None) -> bool:
    """Whether the engine's view of the container shows `verb` done."""
    if now is None:
        return False
    if verb == "stop":
        return now.state in _STOPPED
    if now.state != "running":
        return False
    if verb == "start" and before.running:
        return True  # already running: Docker had nothing to do
    return now.started_at is not None and now.started_at != before.started_at


async def _act(request: web.Request, verb: str) -> web.Response:
    await no_body(request)
    container = resolve_container(request)
    actions = _actions(request)
    engine = request.app[ENGINE]
    timeout = _int_query(request, "timeout", 10, 0, 600)
    # Subscribe before acting, so the event that reports the new state cannot be missed.
    with engine.subscribe([EventKind.CONTAINER, EventKind.CONTAINER_REMOVED]) as sub:
        try:
            if verb == "start":
                await actions.start(container.key)
            elif verb == "stop":
                await actions.stop(container.key, timeout=timeout)
            else:
                await actions.restart(container.key, timeout=timeout)
        except ActionError as exc:
            fail(409, str(exc))
        deadline = asyncio.get_running_loop().time() + SETTLE_SECONDS
        while not _settled(verb, container, now := engine.container(container.key)):
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                break
            try:
                await asyncio.wait_for(sub.get(), remaining)
            except (TimeoutError, StopAsyncIteration):
                break
    if _settled(verb, container, now):
        assert now is not None
        return web.json_response(container_json(now, time.time()))
    data = container_json(now or container, time.time())
    data["pending"] = (
        f"Docker did {verb} the container but has not reported its new state within "
        f"{SETTLE_SECONDS:g}s: this is the last state seen; watch /api/v1/events"
    )
    return web.json_response(data, status=202)


@routes.post("/api/v1/containers/{host}/{id}/start")
async def start(request: web.Request) -> web.Response:
    return await _act(request, "start")


@routes.post("/api/v1/containers/{host}/{id}/stop")
async def stop(request: web.Request) -> web.Response:
    return await _act(request, "stop")


@routes.post("/api/v1/containers/{host}/{id}/restart")
async def restart(request: web.Request) -> web.Response:
    return await _act(request, "restart")


@routes.delete("/api/v1/containers/{host}/{id}")
async def remove(request: web.Request) -> web.Response:
    await no_body(request)
    container = resolve_container(request)
    force, volumes = _bool_query(request, "force"), _bool_query(request, "volumes")
    try:
        await _actions(request).remove(container.key, force=force, volumes=volumes)
    except ActionError as exc:
        fail(409, str(exc))
    return web.json_response({"removed": container.key, "name": container.name})


async def _ndjson_stream(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
    response.enable_chunked_encoding()
    await response.prepare(request)
    return response


async def _send(response: web.StreamResponse, item: dict[str, Any]) -> None:
    await response.write(json.dumps(item, ensure_ascii=False).encode("utf-8") + b"\n")


@routes.get("/api/v1/containers/{host}/{id}/logs")
async def logs(request: web.Request) -> web.StreamResponse:
    container = resolve_container(request)
    actions = _actions(request)
    tail = _int_query(request, "tail", 100, 0, 100_000)
    follow = _bool_query(request, "follow")
    response = await _ndjson_stream(request)
    lines = actions.logs(container.key, tail=tail, follow=follow)
    try:
        async for line in lines:
            await _send(response, {"line": line})
    except ActionError as exc:
        await _send(response, {"error": {"status": 409, "message": str(exc)}})
    finally:
        with contextlib.suppress(Exception):
            await lines.aclose()  # type: ignore[attr-defined]
    with contextlib.suppress(ConnectionResetError):
        await response.write_eof()
    return response


def _devbox_json(devboxes: DevboxesAPI, box: DevboxInfo) -> dict[str, Any]:
    return {"devbox": box.model_dump(mode="json"), "ssh_command": devboxes.ssh_command(box)}


@routes.get("/api/v1/devboxes")
async def list_devboxes(request: web.Request) -> web.Response:
    devboxes = _devboxes(request)
    host = request.query.get("host")
    if host is not None:
        _known_host(request, host)
    listed = devboxes_in(request.app[ENGINE].containers(host=host, role=ROLE))
    boxes = [_devbox_json(devboxes, b) for b in listed]
    return web.json_response({"devboxes": boxes})


class CreateBody(BaseModel):
    """The JSON body of `POST /api/v1/devboxes`."""

    model_config = ConfigDict(extra="forbid")

    name: StrictStr = Field(min_length=1, max_length=64)
    pubkey: StrictStr = Field(min_length=1, max_length=_MAX_PUBKEY)
    memory: StrictStr | int | None = None
    cpus: float | None = Field(default=None, gt=0, le=512)
    port: int | None = Field(default=None, ge=1, le=65535)
    host: StrictStr | None = None
    sudo: StrictBool = False


@routes.post("/api/v1/devboxes")
async def create_devbox(request: web.Request) -> web.StreamResponse:
    body = await parse_body(request, CreateBody)
    devboxes = _devboxes(request)
    try:
        validate_name(body.name)
    except DevboxInputError as exc:
        fail(400, str(exc))
    if body.host is not None:
        _known_host(request, body.host)
    response = await _ndjson_stream(request)
    lines: asyncio.Queue[str] = asyncio.Queue()
    task = asyncio.create_task(
        devboxes.create(
            body.name,
            body.pubkey,
            memory=body.memory,
            cpus=body.cpus,
            port=body.port,
            host=body.host,
            sudo=body.sudo,
            progress=lines.put_nowait,
        ),
        name=f"api:devbox-create:{body.name}",
    )
    try:
        while not task.done() or not lines.empty():
            getter = asyncio.ensure_future(lines.get())
            await asyncio.wait({getter, task}, return_when=asyncio.FIRST_COMPLETED)
            if getter.done():
                await _send(response, {"progress": getter.result()})
            else:
                getter.cancel()
        box = task.result()
        await _send(response, _devbox_json(devboxes, box))
    except DevboxError as exc:
        status = 400 if isinstance(exc, DevboxInputError) else 409
        await _send(response, {"error": {"status": status, "message": str(exc)}})
    except (ConnectionResetError, asyncio.CancelledError):
        # The client went away: the create goes on (it cleans up after itself on failure).
        raise
    with contextlib.suppress(ConnectionResetError):
        await response.write_eof()
    return response


@routes.delete("/api/v1/devboxes/{name}")
async def remove_devbox(request: web.Request) -> web.Response:
    await no_body(request)
    devboxes = _devboxes(request)
    host = request.query.get("host")
    if host is not None:
        _known_host(request, host)
    try:
        done = await devboxes.remove(
            request.match_info["name"], keep_home=_bool_query(request, "keep_home"), host=host
        )
    except DevboxInputError as exc:
        fail(400, str(exc))
    except DevboxError as exc:
        fail(409, str(exc))
    return web.json_response({"removed": done})
