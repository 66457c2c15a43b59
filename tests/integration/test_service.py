"""The service's routes over a real engine, with and without the token; SSE; remote engine;
`clawtui serve` shutting down cleanly on SIGTERM."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from clawtui.client.engine import RemoteEngine
from clawtui.engine.api.models import EventKind
from clawtui.engine.core import Engine
from clawtui.service.runner import ServiceRunner
from tests.integration.engine_helpers import make_settings, wait_for_event, wait_until

pytestmark = pytest.mark.integration

TOKEN = "t0ken-for-tests-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[tuple[Engine, str]]:
    engine = Engine(make_settings(tmp_path))
    await engine.start()
    assert await engine.wait_online(10)
    runner = ServiceRunner(engine, engine.settings, token=TOKEN, listen=("127.0.0.1", 0))
    await runner.start()
    try:
        yield engine, runner.url
    finally:
        await runner.stop()
        await engine.stop()


async def test_routes_need_the_token(served: tuple[Engine, str]) -> None:
    _, url = served
    async with aiohttp.ClientSession() as s:
        async with s.get(url + "/healthz") as r:
            assert r.status == 200
            assert (await r.json())["hosts"] == {"local": "online"}
        for path in (
            "/api/v1/hosts",
            "/api/v1/containers",
            "/api/v1/events",
            "/metrics",
            "/api/v1/activity",
        ):
            for headers in (
                {},
                {"Authorization": "Bearer wrong"},
                {"Authorization": f"Basic {TOKEN}"},
                {"Authorization": "Bearer \u00e9\u00e9"},
            ):
                async with s.get(url + path, headers=headers) as r:
                    assert r.status == 401, (path, headers)
                    body = await r.json()
                    assert "bearer token" in body["error"]["message"]
        async with s.get(url + "/api/v1/hosts", headers=AUTH) as r:
            assert r.status == 200
            hosts = (await r.json())["hosts"]
            assert hosts[0]["name"] == "local" and hosts[0]["state"] == "online"
            assert hosts[0]["memory"]["reserve"] == 2 * 1024**3


async def test_containers_with_stats_and_errors(served: tuple[Engine, str], make_container) -> None:  # type: ignore[no-untyped-def]
    engine, url = served
    info = make_container("svc", mem_limit="80m", labels={"clawtui.role": "devbox"})
    key = f"local/{info['Id']}"
    await wait_until(
        lambda: (c := engine.container(key)) is not None and c.stats is not None, 5, "stats"
    )
    async with aiohttp.ClientSession(headers=AUTH) as s:
        async with s.get(url + "/api/v1/containers") as r:
            items = (await r.json())["containers"]
        mine = [c for c in items if c["id"] == info["Id"]]
        assert len(mine) == 1
        assert mine[0]["memory_limit"] == 80 * 1024 * 1024
        assert (
            mine[0]["stats"]["mem_used"] > 0 and mine[0]["stats"]["mem_limit"] == 80 * 1024 * 1024
        )
        assert mine[0]["role"] == "devbox" and mine[0]["uptime"] >= 0
        async with s.get(url + "/api/v1/containers?role=devbox&state=running&host=local") as r:
            assert info["Id"] in [c["id"] for c in (await r.json())["containers"]]
        async with s.get(url + f"/api/v1/containers/local/{info['Id'][:12]}") as r:
            assert r.status == 200 and (await r.json())["id"] == info["Id"]
        for path, status, words in [
            ("/api/v1/containers?host=nope", 404, "unknown host"),
            ("/api/v1/containers?state=sleepy", 400, "'state'"),
            ("/api/v1/containers/local/doesnotexist", 404, "no container"),
            ("/api/v1/activity?limit=abc", 400, "whole number"),
            ("/api/v1/activity?limit=0", 400, "between"),
            ("/api/v1/events?kinds=bogus", 400, "unknown event kind"),
            ("/api/v1/nothing", 404, "no route"),
        ]:
            async with s.get(url + path) as r:
                assert r.status == status, path
                assert words in (await r.json())["error"]["message"], path
        async with s.post(url + "/api/v1/hosts", data=b"x") as r:
            assert r.status == 405
        async with s.get(url + "/metrics") as r:
            text = await r.text()
            assert r.status == 200 and r.content_type == "text/plain"
            assert 'clawtui_host_up{host="local"} 1.0' in text
            assert "clawtui_container_memory_used_bytes{" in text
            assert (
                'clawtui_http_requests_total{method="GET",route="/api/v1/containers",status="200"}'
                in text
            )


async def test_container_list_shows_each_change_on_the_next_request(  # type: ignore[no-untyped-def]
    served: tuple[Engine, str], make_container, docker_api
) -> None:
    """The list's body is encoded once per container revision (container_bodies.py): a pause
    and a `docker update` the engine has seen are in the very next response."""
    engine, url = served
    info = make_container("revisions", mem_limit="64m")
    key = f"local/{info['Id']}"
    await wait_until(lambda: engine.container(key) is not None, 10, "the container listed")

    async def listed() -> dict[str, object]:
        async with s.get(url + "/api/v1/containers") as r:
            assert r.status == 200 and r.content_type == "application/json"
            return next(c for c in (await r.json())["containers"] if c["key"] == key)

    async with aiohttp.ClientSession(headers=AUTH) as s:
        first = await listed()
        assert first["state"] == "running" and first["memory_limit"] == 64 * 1024 * 1024
        assert (await listed())["state"] == "running"  # served again (from the cache)
        docker_api.pause(info["Id"])
        await wait_until(lambda: engine.container(key).state == "paused", 10, "paused seen")  # type: ignore[union-attr]
        assert (await listed())["state"] == "paused"
        docker_api.unpause(info["Id"])
        docker_api.update_container(info["Id"], mem_limit="96m", memswap_limit=-1)
        await wait_until(
            lambda: engine.container(key).memory_limit == 96 * 1024 * 1024,
            10,
            "update seen",  # type: ignore[union-attr]
        )
        now = await listed()
        assert now["state"] == "running" and now["memory_limit"] == 96 * 1024 * 1024


async def test_event_stream(served: tuple[Engine, str], make_container) -> None:  # type: ignore[no-untyped-def]
    _, url = served
    stream_url = url + "/api/v1/events?snapshot=1&kinds=container,container.removed"
    async with aiohttp.ClientSession(headers=AUTH) as s, s.get(stream_url) as r:
        assert r.status == 200 and r.content_type == "text/event-stream"
        events: list[tuple[str, dict]] = []
        created: dict | None = None
        removing = False

        async def read() -> None:
            nonlocal created, removing
            kind = None
            async for raw in r.content:
                line = raw.decode().rstrip("\n")
                if line.startswith("event:"):
                    kind = line[6:].strip()
                elif line.startswith("data:") and kind:
                    events.append((kind, json.loads(line[5:])))
                    if kind == "snapshot":
                        created = await asyncio.to_thread(make_container, "sse")
                    if (
                        created
                        and kind == "container.removed"
                        and events[-1][1]["data"]["id"] == created["Id"]
                    ):
                        return
                    if (
                        created
                        and not removing
                        and kind == "container"
                        and events[-1][1]["data"]["container"]["id"] == created["Id"]
                    ):
                        removing = True
                        await asyncio.to_thread(_remove, created["Id"])

        await asyncio.wait_for(read(), 15)
    kinds = [k for k, _ in events]
    assert kinds[0] == "snapshot" and "hosts" in events[0][1]
    assert "container" in kinds and kinds[-1] == "container.removed"
    assert "stats" not in kinds  # filtered out


def _remove(cid: str) -> None:
    import docker

    docker.APIClient(version="auto").remove_container(cid, force=True)


async def test_remote_engine_mirrors(served: tuple[Engine, str], make_container) -> None:  # type: ignore[no-untyped-def]
    engine, url = served
    remote = RemoteEngine(url, TOKEN)
    sub = remote.subscribe()
    await remote.start()
    try:
        await asyncio.wait_for(remote.connected.wait(), 10)
        assert [h.name for h in remote.hosts()] == ["local"]
        info = await asyncio.to_thread(make_container, "remote")
        await wait_for_event(
            sub, lambda e: e.kind is EventKind.CONTAINER and e.data["container"].id == info["Id"], 5
        )
        key = f"local/{info['Id']}"
        await wait_until(
            lambda: (c := remote.container(key)) is not None and c.stats is not None,
            5,
            "remote stats",
        )
        assert remote.container(key).name == engine.container(key).name  # type: ignore[union-attr]
        assert any("appeared" in e.message for e in await remote.activity(20))
    finally:
        sub.close()
        await remote.stop()


async def test_remote_engine_wrong_token(served: tuple[Engine, str]) -> None:
    _, url = served
    remote = RemoteEngine(url, "wrong")
    await remote.start()
    try:
        await wait_until(lambda: remote.last_error is not None, 5, "an error")
        assert "401" in (remote.last_error or "")
    finally:
        await remote.stop()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_serve_sigterm_with_open_stream(tmp_path: Path) -> None:
    port = _free_port()
    config = tmp_path / "config.toml"
    config.write_text(
        f'[engine]\nstate_dir = "{tmp_path}/state"\n[service]\nlisten = "127.0.0.1:{port}"\n'
    )
    env = {**os.environ, "CLAWTUI_API_TOKEN": TOKEN}
    proc = subprocess.Popen(
        [sys.executable, "-m", "clawtui", "serve", "--config", str(config)],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert f"listening on http://127.0.0.1:{port}" in line, line
        import urllib.request

        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as r:
            assert r.status == 200
        req = urllib.request.Request(f"http://127.0.0.1:{port}/api/v1/events", headers=AUTH)
        stream = urllib.request.urlopen(req, timeout=10)  # left open across the shutdown
        assert stream.readline().startswith(b"retry:")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0
        rest = proc.stdout.read()
        assert "shutting down" in rest and "Traceback" not in rest
        # README: "open event streams are closed": the service ended the stream itself (the
        # last chunk of its chunked body arrived; a cut connection raises IncompleteRead).
        tail = stream.read()
        assert isinstance(tail, bytes) and stream.fp is None
        stream.close()
    finally:
        if proc.poll() is None:
            proc.kill()
