"""The aiohttp app factory: `create_app(engine, settings)`.

The app only reads engine state, subscribes to engine events and calls engine methods; it holds
no state of its own beyond open event streams and metrics. Bodies are capped by
`[service] max_body_bytes`; every route but /healthz needs the bearer token, except the
webhook and the relay, which check their own secrets and read their bodies with their own
caps (see `ingress_common.py`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from clawtui.engine.api.protocols import EngineAPI, Subscription
from clawtui.service import (
    events,
    metrics,
    routes_api,
    routes_boilerhouse,
    routes_containers,
    routes_escalations,
    routes_memory,
    routes_pools,
    routes_relay,
    routes_relay_whitelist,
    routes_threads,
    routes_tmux,
    routes_tokens,
    routes_webhook,
)
from clawtui.service.container_bodies import ContainerBodies
from clawtui.service.errors import error_middleware
from clawtui.service.keys import (
    CONTAINER_BODIES,
    ENGINE,
    METRICS,
    SETTINGS,
    SSE_FRAMES,
    SSE_OWNERS,
    SSE_STREAMS,
    TOKEN,
)
from clawtui.service.scopes import auth_middleware
from clawtui.service.sse_frames import SseFrames

if TYPE_CHECKING:
    from clawtui.config import Settings


async def _close_streams(app: web.Application) -> None:
    """On shutdown end every open event stream, so the runner does not wait for clients."""
    streams = app[SSE_STREAMS]
    for sub in list(streams):
        sub.close()


def create_app(engine: EngineAPI, settings: Settings, *, token: str) -> web.Application:
    if not token:
        raise ValueError("the API token must not be empty")
    app = web.Application(
        middlewares=[metrics.metrics_middleware, error_middleware, auth_middleware],
        client_max_size=settings.service.max_body_bytes,
    )
    app[ENGINE] = engine
    app[SETTINGS] = settings
    app[TOKEN] = token
    app[SSE_STREAMS] = set[Subscription]()
    app[SSE_OWNERS] = {}
    app[METRICS] = metrics.ServiceMetrics(engine, app)
    app[CONTAINER_BODIES] = ContainerBodies()
    app[SSE_FRAMES] = SseFrames()
    app.add_routes(routes_api.routes)
    app.add_routes(routes_memory.routes)
    app.add_routes(routes_containers.routes)
    app.add_routes(routes_threads.routes)
    app.add_routes(routes_escalations.routes)
    app.add_routes(routes_pools.routes)
    app.add_routes(routes_boilerhouse.routes)
    routes_tmux.setup(app)
    app.add_routes(events.routes)
    app.add_routes(routes_webhook.routes)
    app.add_routes(routes_relay.routes)
    app.add_routes(routes_relay_whitelist.routes)
    app.add_routes(metrics.routes)
    app.add_routes(routes_tokens.routes)
    app.on_shutdown.append(_close_streams)
    return app
