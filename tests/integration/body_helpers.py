"""A real engine (ingress, a thread, no Docker needed) behind a real service on loopback, and
every body-taking route of its app enumerated from the router, for the body and fuzz tests."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from aiohttp import web

from clawtui.config.threads import ThreadEntry
from clawtui.engine.core import Engine
from clawtui.service.errors import OWN_AUTH_PATHS
from clawtui.service.runner import ServiceRunner
from tests.integration.ingress_helpers import (
    AGENT_SECRETS,
    RYAN_THREAD,
    WEBHOOK_SECRET,
    ingress_settings,
)

TOKEN = "t0ken-for-tests-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def secret_headers(path: str) -> dict[str, str]:
    """The headers that let a request in: the bearer token, or an ingress route's secret."""
    if path == "/webhook/azure-devops":
        return {"x-webhook-secret": WEBHOOK_SECRET}
    if path == "/relay":
        return {"X-Relay-Secret": AGENT_SECRETS["ryan"]}
    return dict(AUTH)


def body_routes(app: web.Application) -> list[tuple[str, str]]:
    """(method, path) of every route that may take a body; path parameters filled with "1"."""
    found: set[tuple[str, str]] = set()
    for route in app.router.routes():
        if route.method not in BODY_METHODS:
            continue
        info = route.resource.get_info() if route.resource is not None else {}
        template = str(info.get("path") or info.get("formatter") or "")
        found.add((route.method, re.sub(r"\{[^}]+\}", "1", template)))
    return sorted(found)


def engine_settings(tmp: Path):  # type: ignore[no-untyped-def]
    settings = ingress_settings(tmp, rate_limit=100_000)
    (tmp / "repo").mkdir(exist_ok=True)
    settings.threads.threads = [ThreadEntry(id=RYAN_THREAD, name="ryan", cwd=tmp / "repo")]
    settings.threads.heartbeat = False
    return settings


@asynccontextmanager
async def served_engine(tmp: Path) -> AsyncIterator[tuple[Engine, ServiceRunner]]:
    engine = Engine(engine_settings(tmp))
    await engine.start()
    runner = ServiceRunner(engine, engine.settings, token=TOKEN, listen=("127.0.0.1", 0))
    await runner.start()
    try:
        yield engine, runner
    finally:
        await runner.stop()
        await engine.stop()


__all__ = ["OWN_AUTH_PATHS"]
