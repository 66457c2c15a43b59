"""README promises of the memory rebalancer (issue 20): the updates of one batch run concurrently,
and a change reaches a configured notify webhook. Real dockerd, real containers; the webhook
receiver is a stand-in on loopback taking what `[notify.webhook]` documents (a JSON POST of
{kind, text, ts, data} with the shared secret in its header)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import docker
import pytest
from aiohttp import web

from clawtui.config import NotifyConfig, WebhookConfig
from clawtui.engine.api.memory import BatchState
from clawtui.engine.core import Engine
from tests.integration.engine_helpers import make_settings, wait_until

pytestmark = pytest.mark.timeout(120)

MIB = 1024 * 1024
DEVBOX = {"clawtui.role": "devbox"}
SECRET = "s3cret-for-the-notify-webhook"
MakeContainer = Callable[..., dict[str, Any]]


def name(info: dict[str, Any]) -> str:
    return str(info["Name"]).lstrip("/")


async def started(engine: Engine, *infos: dict[str, Any]) -> None:
    keys = [f"local/{i['Id']}" for i in infos]
    await engine.start()
    assert await engine.wait_online(10)
    await wait_until(lambda: all(engine.container(k) for k in keys), 10, "containers listed")


async def test_the_updates_of_a_batch_run_concurrently(
    tmp_path: Path, make_container: MakeContainer, docker_api: docker.APIClient
) -> None:
    """Each update waits at a barrier for the other two before it reaches Docker: a batch that
    sent them one after the other would break the barrier (and the batch would fail)."""
    infos = [make_container(f"cc{i}", mem_limit="512m", labels=DEVBOX) for i in range(3)]
    engine = Engine(make_settings(tmp_path))
    await started(engine, *infos)
    try:
        client = engine.monitors["local"].client
        assert client is not None
        barrier = threading.Barrier(3, timeout=20)
        real = client.update_container
        met: list[int] = []

        def update(*args: Any, **kwargs: Any) -> Any:
            met.append(barrier.wait())
            return real(*args, **kwargs)

        client.update_container = update  # type: ignore[method-assign]
        try:
            result = await engine.memory.apply({name(i): 768 * MIB for i in infos}, who="test")
        finally:
            client.update_container = real  # type: ignore[method-assign]
        assert result.state is BatchState.APPLIED, result.summary()
        assert sorted(met) == [0, 1, 2]  # all three were in flight together
        for info in infos:
            assert docker_api.inspect_container(info["Id"])["HostConfig"]["Memory"] == 768 * MIB
    finally:
        await engine.stop()


async def test_a_memory_change_reaches_the_notify_webhook(
    tmp_path: Path, make_container: MakeContainer
) -> None:
    got: asyncio.Queue[tuple[dict[str, str], Any]] = asyncio.Queue()

    async def receive(request: web.Request) -> web.Response:
        await got.put((dict(request.headers), await request.json()))
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_post("/hook", receive)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    info = make_container("nw", mem_limit="512m", labels=DEVBOX)
    settings = make_settings(tmp_path).model_copy(
        update={
            "notify": NotifyConfig(
                webhook=WebhookConfig(url=f"http://127.0.0.1:{port}/hook", secret=SECRET)
            )
        }
    )
    engine = Engine(settings)
    try:
        await started(engine, info)
        result = await engine.memory.apply({name(info): 768 * MIB}, who="test")
        assert result.state is BatchState.APPLIED, result.summary()
        headers, body = await asyncio.wait_for(got.get(), 30)
        assert headers.get("X-Clawtui-Secret") == SECRET
        assert body["kind"].startswith("memory."), body
        assert name(info) in body["text"], body
        # Counted once the receiver's answer is back.
        await wait_until(lambda: engine.notifier.stats["webhook"].sent == 1, 10, "a sent count")
    finally:
        await engine.stop()
        await runner.cleanup()
