"""`GET /api/v1/events`: engine events as server-sent events.

Each event is `id: <seq>`, `event: <kind>`, `data: <json>`. The subscription behind a stream
coalesces stats like every other consumer, so a slow client sees the latest stats, not a
backlog. `?kinds=host,container` filters; `?snapshot=1` starts the stream with one `snapshot`
event holding every host and container, which is what a remote TUI needs to mirror the engine
without a race between a GET and the stream. A comment line every few seconds keeps proxies
from closing an idle stream. A stream opened with a stored token ends when that token is revoked:
at once when it is revoked through this service (`DELETE /api/v1/tokens/{name}`), and within
`REVOKE_CHECK` seconds when another process revokes it (the token is looked up again).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from typing import Any

from aiohttp import web

from clawtui.engine.api.models import EventKind
from clawtui.engine.api.tokens import Principal
from clawtui.service.container_bodies import container_json
from clawtui.service.errors import fail
from clawtui.service.keys import ENGINE, SETTINGS, SSE_FRAMES, SSE_OWNERS, SSE_STREAMS
from clawtui.service.scopes import PRINCIPAL, principal_of

REVOKE_CHECK = 1.0
"""Seconds between look-ups of a stored token on an open stream."""

routes = web.RouteTableDef()


def _kinds(request: web.Request) -> set[EventKind] | None:
    raw = request.query.get("kinds")
    if not raw:
        return None
    out: set[EventKind] = set()
    for part in raw.split(","):
        try:
            out.add(EventKind(part.strip()))
        except ValueError:
            valid = ", ".join(k.value for k in EventKind)
            fail(400, f"unknown event kind {part.strip()[:40]!r} in 'kinds' (valid: {valid})")
    return out


def _snapshot(request: web.Request) -> bytes:
    engine = request.app[ENGINE]
    now = time.time()
    payload: dict[str, Any] = {
        "hosts": [h.model_dump(mode="json") for h in engine.hosts()],
        "containers": [container_json(c, now) for c in engine.containers()],
    }
    data = json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
    return f"event: snapshot\ndata: {data}\n\n".encode()


@routes.get("/api/v1/events")
async def events(request: web.Request) -> web.StreamResponse:
    kinds = _kinds(request)
    engine = request.app[ENGINE]
    frames = request.app[SSE_FRAMES]
    heartbeat = request.app[SETTINGS].service.sse_heartbeat
    sub = engine.subscribe(kinds)
    streams = request.app[SSE_STREAMS]
    streams.add(sub)
    principal: Principal | None = request.get(PRINCIPAL)
    stored = principal is not None and principal.stored
    if principal is not None and stored:
        request.app[SSE_OWNERS][sub] = principal.name
    wait = min(heartbeat, REVOKE_CHECK) if stored else heartbeat
    idle = 0.0
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream; charset=utf-8",
            "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no",
        }
    )
    try:
        await response.prepare(request)
        await response.write(b"retry: 2000\n\n")
        if request.query.get("snapshot") in ("1", "true", "yes"):
            await response.write(_snapshot(request))
        checked = time.monotonic()
        while True:
            if stored and time.monotonic() - checked >= REVOKE_CHECK:
                if await principal_of(request) is None:
                    break  # revoked by another process
                checked = time.monotonic()
            try:
                event = await asyncio.wait_for(sub.get(), timeout=wait)
            except TimeoutError:
                idle += wait
                if idle >= heartbeat:
                    idle = 0.0
                    await response.write(b": keepalive\n\n")
                continue
            except StopAsyncIteration:  # the service is shutting down
                break
            await response.write(frames.frame(event))
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    finally:
        streams.discard(sub)
        request.app[SSE_OWNERS].pop(sub, None)
        sub.close()
    with contextlib.suppress(ConnectionResetError, RuntimeError):
        await response.write_eof()
    return response
