"""Container actions over the service answer with the container as Docker has it after the
action, not the snapshot from before it (issue 19). Real dockerd, real engine, real service."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from clawtui.engine.core import Engine
from clawtui.service.runner import ServiceRunner
from tests.integration.engine_helpers import make_settings, wait_until

pytestmark = pytest.mark.integration
TOKEN = "t0ken-for-tests-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


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


async def test_start_stop_restart_answer_the_state_after_the_action(
    served: tuple[Engine, str],
    make_container,  # type: ignore[no-untyped-def]
) -> None:
    engine, url = served
    info = make_container("acts", labels={"clawtui.role": "devbox"}, start=False)
    key = f"local/{info['Id']}"
    await wait_until(lambda: engine.container(key) is not None, 10, "the engine to see it")
    base = f"{url}/api/v1/containers/local/{info['Id'][:12]}"
    async with aiohttp.ClientSession(headers=AUTH) as s:
        async with s.post(base + "/start") as r:
            body = await r.json()
            assert r.status == 200, body
            assert body["state"] == "running" and body["started_at"], body
            first_start = body["started_at"]
        async with s.post(base + "/restart?timeout=0") as r:
            body = await r.json()
            assert r.status == 200, body
            assert body["state"] == "running" and body["started_at"] > first_start, body
        async with s.post(base + "/stop?timeout=0") as r:
            body = await r.json()
            assert r.status == 200, body
            assert body["state"] == "exited", body
        # A start of a running container and a stop of a stopped one change nothing: 200 now.
        async with s.post(base + "/stop?timeout=0") as r:
            assert r.status == 200 and (await r.json())["state"] == "exited"
