"""A real engine (ingress, a thread, no Docker needed) behind a real service on loopback, and
every body-taking route of its app enumerated from the router, for the body and fuzz tests."""

from __future__ import annotations

import asyncio
import http.client
import re
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from aiohttp import web

from clawtui.config.threads import ThreadEntry
from clawtui.engine.core import Engine
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


class ThreadedService:
    """`served_engine` on its own loop in a thread, for synchronous (hypothesis, http.client)
    tests: `start()`, `request(...)`, `stop()`."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.port = 0
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.engine: Engine | None = None
        self.app: web.Application | None = None
        self._stop: asyncio.Event | None = None

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self._main())

    async def _main(self) -> None:
        self._stop = asyncio.Event()
        async with served_engine(self.tmp) as (engine, runner):
            self.engine, self.app, self.port = engine, runner.app, runner.port
            self.ready.set()
            await self._stop.wait()

    def start(self) -> None:
        self.thread.start()
        assert self.ready.wait(30), "the service did not start"

    def stop(self) -> None:
        assert self._stop is not None
        self.loop.call_soon_threadsafe(self._stop.set)
        self.thread.join(30)

    def request(
        self, method: str, path: str, body: bytes, headers: dict[str, str]
    ) -> tuple[int, dict[str, str], bytes]:
        """(status, headers, body) of one request over loopback, bytes as given."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            conn.putrequest(method, path, skip_accept_encoding=True)
            conn.putheader("Content-Type", "application/json")
            conn.putheader("Content-Length", str(len(body)))
            for name, value in headers.items():
                conn.putheader(name, value)
            conn.endheaders(body)
            resp = conn.getresponse()
            return resp.status, dict(resp.getheaders()), resp.read()
        finally:
            conn.close()
