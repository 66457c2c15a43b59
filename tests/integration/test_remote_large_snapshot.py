"""A snapshot longer than aiohttp's line limit crosses a real `clawtui serve` to the remote client
(issue 20, item 7), and a stream error the client cannot read is shown and retried.

The snapshot is one `data:` line, and aiohttp 3.14.5's `async for line in response.content`
raises LineTooLong (an HttpProcessingError, not a ClientError, so the old stream loop died with
it) past the response reader's high-water mark: measured 512 KiB here (a 300 KB line passed, a
3 MB one raised). A thousand real containers cost about a minute of the shared dockerd (measured:
100 `docker create` in 2.9 s, their removal 2.4 s), so the snapshot is made long by fewer
created (never started) containers with a 12 KB label each, past 512 KiB.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import docker
import pytest
from aiohttp import web

from clawtui.client import engine as remote_engine
from clawtui.client.engine import RemoteEngine
from clawtui.engine.api.models import EventKind
from clawtui.engine.core import Engine
from tests.integration.engine_helpers import make_settings
from tests.integration.served import remote_over_service

pytestmark = pytest.mark.timeout(120)

TOKEN = "t0ken-for-large-snapshot-0123456789"
COUNT = 60
PADDING = "p" * 12_000
READER_LIMIT = 512 * 1024


@pytest.fixture
def created(docker_api: docker.APIClient, test_labels: dict[str, str]) -> Iterator[set[str]]:
    labels = {**test_labels, "clawtui.test.padding": PADDING}

    def make(_: int) -> str:
        host_config = docker_api.create_host_config(network_mode="none")
        made = docker_api.create_container(
            "clawtui-test/busybox:1", ["true"], labels=labels, host_config=host_config
        )
        return str(made["Id"])

    with ThreadPoolExecutor(4) as pool:
        ids = set(pool.map(make, range(COUNT)))
    try:
        yield ids
    finally:
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(lambda cid: docker_api.remove_container(cid, force=True), ids))


async def test_a_snapshot_over_the_line_limit_arrives(tmp_path: Path, created: set[str]) -> None:
    engine = Engine(make_settings(tmp_path, interval=60))
    async for remote in remote_over_service(engine, TOKEN):
        mine = {c.id for c in remote.containers() if c.labels.get("clawtui.test.padding")}
        assert created <= mine, f"{len(created - mine)} of {COUNT} containers missing"
        size = len(json.dumps([c.model_dump(mode="json") for c in remote.containers()]))
        assert size > READER_LIMIT, f"the snapshot ({size} bytes) must be past aiohttp's limit"
        assert remote.connected.is_set() and remote.last_error is None


async def test_an_unreadable_stream_is_shown_and_retried(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A stand-in service on loopback (the SSE framing of clawtui/service/events.py): the first
    stream sends a line over the client's cap, the second a good snapshot."""
    monkeypatch.setattr(remote_engine, "MAX_EVENT_LINE", 1000)
    streams = 0
    done = asyncio.Event()
    host = {"name": "h", "url": "unix:///var/run/docker.sock", "state": "online"}

    async def events(request: web.Request) -> web.StreamResponse:
        nonlocal streams
        streams += 1
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        data = json.dumps({"hosts": [host], "containers": []})
        await resp.write(f"event: snapshot\ndata: {data}\n\n".encode())
        if streams == 1:
            await resp.write(b"event: container\ndata: " + b"x" * 5000)
        await done.wait()
        return resp

    app = web.Application()
    app.router.add_get("/api/v1/events", events)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    remote = RemoteEngine(f"http://127.0.0.1:{port}", TOKEN, max_backoff=0.25)
    sub = remote.subscribe([EventKind.RESYNC, EventKind.HOST])
    await remote.start()
    try:
        seen: list[tuple[str, str | None]] = []
        while len([k for k, _ in seen if k == "resync"]) < 2:
            event = await asyncio.wait_for(sub.get(), 20)
            info = event.data.get("info")
            seen.append((event.kind.value, getattr(info, "error", None)))
        # connected, the stream broke (shown on the host as the reason), connected again
        assert [k for k, _ in seen] == ["resync", "host", "resync"], seen
        assert "event line longer than" in (seen[1][1] or ""), seen
        assert streams == 2 and remote.connected.is_set()
    finally:
        done.set()
        await remote.stop()
        await runner.cleanup()
