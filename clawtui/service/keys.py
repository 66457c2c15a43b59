"""Typed application keys shared by the route modules."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

from clawtui.engine.api.protocols import EngineAPI, Subscription
from clawtui.service.container_bodies import ContainerBodies
from clawtui.service.sse_frames import SseFrames

if TYPE_CHECKING:
    from clawtui.config import Settings

ENGINE: web.AppKey[EngineAPI] = web.AppKey("engine", EngineAPI)
SETTINGS: web.AppKey[Settings] = web.AppKey("settings")
TOKEN: web.AppKey[str] = web.AppKey("token", str)
METRICS: web.AppKey[Any] = web.AppKey("metrics")
SSE_STREAMS: web.AppKey[set[Subscription]] = web.AppKey("sse_streams")
SSE_OWNERS: web.AppKey[dict[Subscription, str]] = web.AppKey("sse_owners")
"""Open event streams of stored tokens -> the token's name (closed when it is revoked)."""
CONTAINER_BODIES: web.AppKey[ContainerBodies] = web.AppKey("container_bodies", ContainerBodies)
"""Encoded containers of `GET /api/v1/containers`, reused while a container is unchanged."""
SSE_FRAMES: web.AppKey[SseFrames] = web.AppKey("sse_frames", SseFrames)
"""Each event's SSE frame, encoded once for every stream."""
