"""REST routes of tmux in dev boxes (over checked SSH; one reused connection per box).

    GET  /api/v1/devboxes/{name}/tmux        {"sessions": [...], "windows": [...]}
    POST /api/v1/devboxes/{name}/tmux/run    {"command": ["claude"], "session": "main",
                                              "window": "claude", "cwd": "~/repos/x"}
    POST /api/v1/devboxes/{name}/tmux/send   {"text": "make test", "session": "main",
                                              "keys": false}   (keys: tmux key names, no Enter)

Names are checked (`^[A-Za-z0-9_-]{1,64}$`) before anything is sent: a bad one is a 400 naming
the field. A refused host key or refused auth is a 502 with the message (never retried); an
unreachable box is a 503; a tmux error is a 409 with tmux's explanation. Each run/send publishes
`EventKind.TMUX` (`action`, `target`, `session`).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from clawtui.engine import tmux
from clawtui.engine.attach import ssh_address, target_for
from clawtui.engine.models import EventKind
from clawtui.engine.ssh import ConnectionPool, SSHFailure, SSHTarget
from clawtui.service.bodies import parse_body
from clawtui.service.errors import fail
from clawtui.service.keys import ENGINE, SETTINGS

routes = web.RouteTableDef()
POOL: web.AppKey[ConnectionPool] = web.AppKey("tmux_pool", ConnectionPool)
_MAX_BODY = 64 * 1024


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


def setup(app: web.Application) -> None:
    """Add the routes and the connection pool (closed with the app)."""
    app[POOL] = ConnectionPool()

    async def close(app: web.Application) -> None:
        await app[POOL].close()

    app.on_cleanup.append(close)
    app.add_routes(routes)


def _publish(request: web.Request, host: str, **data: Any) -> None:
    bus = getattr(request.app[ENGINE], "bus", None)
    if bus is not None:
        bus.publish(EventKind.TMUX, host=host, **data)


def _target(request: web.Request) -> tuple[str, str, SSHTarget]:
    engine = request.app[ENGINE]
    settings = request.app[SETTINGS]
    devboxes = getattr(engine, "devboxes", None)
    if devboxes is None:
        fail(501, "this engine has no dev boxes")
    name = request.match_info["name"]
    try:
        box = devboxes.get(name)
    except Exception as exc:  # DevboxError: unknown or ambiguous name
        fail(404, str(exc))
    if box.port is None or not box.running:
        fail(409, f"dev box {name} is not running or publishes no SSH port")
    host = settings.host(box.host)
    if host is None:
        fail(404, f"unknown Docker host {box.host!r}")
    return name, box.host, target_for(settings, ssh_address(settings, host), box.port)


def _session(request: web.Request, value: str | None) -> str:
    session = request.app[SETTINGS].attach.session if value is None else value
    try:
        return tmux.validate_name(session)
    except tmux.InvalidName as exc:
        fail(400, f"session: {exc}")


async def _conn_call(request: web.Request, target: SSHTarget, fn: Any) -> Any:
    pool = request.app[POOL]
    try:
        conn = await pool.get(target)
        return await fn(conn)
    except SSHFailure as exc:
        fail(503 if exc.retryable else 502, str(exc))
    except tmux.TmuxError as exc:
        if "SSH connection failed" in str(exc):
            pool.drop(target)
            fail(503, str(exc))
        fail(409, str(exc))


@routes.get("/api/v1/devboxes/{name}/tmux")
async def list_tmux(request: web.Request) -> web.Response:
    _, _, target = _target(request)

    async def both(conn: Any) -> dict[str, Any]:
        sessions = await tmux.list_sessions(conn)
        windows = await tmux.list_windows(conn)
        return {"sessions": [vars(s) for s in sessions], "windows": [vars(w) for w in windows]}

    return web.json_response(await _conn_call(request, target, both))


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
    name, host, target = _target(request)
    await _conn_call(request, target, lambda c: tmux.run_in_window(
        c, session, body.command, window=body.window, cwd=body.cwd))  # fmt: skip
    _publish(request, host, action="run", target=name, session=session, window=body.window)
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
    name, host, target = _target(request)
    await _conn_call(request, target, lambda c: tmux.send(c, session, keys, line=not body.keys))
    _publish(request, host, action="send", target=name, session=session)
    return web.json_response({"ok": True, "session": session})
