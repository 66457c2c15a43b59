"""REST routes of tmux in containers with sshd (over `engine.tmux`: one reused SSH connection
per container, see engine/sessions/tmux_manager.py).

    GET  /api/v1/devboxes/{name}/tmux        {"sessions": [...], "windows": [...]}
    POST /api/v1/devboxes/{name}/tmux/run    {"command": ["claude"], "session": "main",
                                              "window": "claude", "cwd": "~/repos/x"}
    POST /api/v1/devboxes/{name}/tmux/send   {"text": "make test", "session": "main",
                                              "keys": false}   (keys: tmux key names, no Enter)
    POST /api/v1/tmux/broadcast              {"containers": ["sam", "dev-kim"],
                                              "text": "git pull", "session": "main"}
        -> {"ok": true|false, "session": "main",
            "results": [{"container": "sam", "ok": true, "error": null}, ...]}

`{name}` is a dev box name or any container's name (the container must publish its sshd port
in the label `clawtui.devbox.port`). Names are checked (`^[A-Za-z0-9_-]{1,64}$`) before
anything is sent: a bad one is a 400 naming the field. A refused host key or refused auth is a
502 with the message (never retried); an unreachable box is a 503; a tmux error is a 409 with
tmux's explanation; an unknown container a 404, a stopped one a 409. A broadcast answers 200
with one result per container (a failure in one does not stop the others). Each run/send/
broadcast publishes `EventKind.TMUX` (`action`, `target`, `session`).
"""

from __future__ import annotations

import re
from typing import NoReturn

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from clawtui.engine.api import tmux
from clawtui.engine.api.protocols import TmuxAPI, tmux_of
from clawtui.engine.api.ssh import SSHFailure
from clawtui.engine.api.tmux import MAX_BROADCAST, TargetError
from clawtui.service.bodies import parse_body
from clawtui.service.errors import fail
from clawtui.service.keys import ENGINE, SETTINGS

routes = web.RouteTableDef()
_MAX_BODY = 64 * 1024
_CONTAINER_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}(/[0-9a-f]{12,64})?$")


class RunBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    command: list[str] = Field(min_length=1, max_length=256)
    session: str | None = None
    window: str | None = None
    cwd: str | None = Field(None, max_length=4096)


class SendBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=16384)
    session: str | None = None
    keys: bool = False


class BroadcastBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    containers: list[str] = Field(min_length=1, max_length=MAX_BROADCAST)
    text: str = Field(min_length=1, max_length=16384)
    session: str | None = None


def setup(app: web.Application) -> None:
    """Add the routes (the SSH connections belong to `engine.tmux`, closed with the engine)."""
    app.add_routes(routes)


def _tmux(request: web.Request) -> TmuxAPI:
    manager = tmux_of(request.app[ENGINE])
    if manager is None:
        fail(501, "this engine has no tmux capability")
    return manager


def _session(request: web.Request, value: str | None) -> str:
    session = request.app[SETTINGS].attach.session if value is None else value
    try:
        return tmux.validate_name(session)
    except tmux.InvalidName as exc:
        fail(400, f"session: {exc}")


def _fail_for(exc: Exception) -> NoReturn:
    """The HTTP error for a failure of `engine.tmux`."""
    if isinstance(exc, TargetError):
        fail(exc.status, str(exc))
    if isinstance(exc, SSHFailure):
        fail(503 if exc.retryable else 502, str(exc))
    if isinstance(exc, tmux.InvalidName):
        fail(400, str(exc))
    if isinstance(exc, tmux.TmuxError) and "SSH connection failed" in str(exc):
        fail(503, str(exc))
    fail(409, str(exc))


_FAILURES = (TargetError, SSHFailure, tmux.TmuxError)


@routes.get("/api/v1/devboxes/{name}/tmux")
async def list_tmux(request: web.Request) -> web.Response:
    try:
        listing = await _tmux(request).sessions(request.match_info["name"])
    except _FAILURES as exc:
        _fail_for(exc)
    return web.json_response(listing.as_json())


@routes.post("/api/v1/devboxes/{name}/tmux/run")
async def run_tmux(request: web.Request) -> web.Response:
    body: RunBody = await parse_body(request, RunBody, limit=_MAX_BODY)
    session = _session(request, body.session)
    if body.window is not None:
        try:
            tmux.validate_name(body.window, "window")
        except tmux.InvalidName as exc:
            fail(400, f"window: {exc}")
    try:
        tmux.run_argv(session, body.command, window=body.window, cwd=body.cwd)
    except tmux.TmuxError as exc:
        fail(400, str(exc))
    manager = _tmux(request)
    try:
        await manager.run(request.match_info["name"], body.command, session=session,
                          window=body.window, cwd=body.cwd)  # fmt: skip
    except _FAILURES as exc:
        _fail_for(exc)
    return web.json_response({"ok": True, "session": session})


@routes.post("/api/v1/devboxes/{name}/tmux/send")
async def send_tmux(request: web.Request) -> web.Response:
    body: SendBody = await parse_body(request, SendBody, limit=_MAX_BODY)
    session = _session(request, body.session)
    keys = body.text.split() if body.keys else [body.text]
    try:
        tmux.send_argv(session, keys, line=not body.keys)
    except tmux.TmuxError as exc:
        fail(400, str(exc))
    manager = _tmux(request)
    try:
        await manager.send(request.match_info["name"], body.text, session=session, keys=body.keys)
    except _FAILURES as exc:
        _fail_for(exc)
    return web.json_response({"ok": True, "session": session})


@routes.post("/api/v1/tmux/broadcast")
async def broadcast_tmux(request: web.Request) -> web.Response:
    body: BroadcastBody = await parse_body(request, BroadcastBody, limit=_MAX_BODY)
    for index, name in enumerate(body.containers):
        if not _CONTAINER_RE.fullmatch(name):
            fail(400, f"containers[{index}]: invalid container name {name[:80]!r} (a dev box "
                      "name, a container name or HOST/ID)")  # fmt: skip
    session = _session(request, body.session)
    try:
        tmux.send_argv(session, [body.text], line=True)
    except tmux.TmuxError as exc:
        fail(400, f"text: {exc}")
    manager = _tmux(request)
    try:
        outcomes = await manager.broadcast(body.containers, body.text, session=session)
    except _FAILURES as exc:
        _fail_for(exc)
    return web.json_response({
        "ok": all(o.ok for o in outcomes),
        "session": session,
        "results": [o.as_json() for o in outcomes],
    })  # fmt: skip
