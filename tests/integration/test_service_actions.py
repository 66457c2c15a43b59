"""Container actions over the service answer with the container as Docker has it after the
action, not the snapshot from before it (issue 19). Real dockerd, real engine, real service."""

from __future__ import annotations

import re
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


async def test_infrastructure_and_own_containers_are_refused(
    served: tuple[Engine, str],
    make_container,  # type: ignore[no-untyped-def]
    docker_api,  # type: ignore[no-untyped-def]
) -> None:
    """As the memory API refuses them: a container without a clawtui.role (broker, bot,
    dashboard...) and the container the engine runs in are not started, stopped, restarted
    or removed, locally or over the service (issue 20). Their logs can still be read."""
    from clawtui.engine.api.fleet import ActionError

    engine, url = served
    infra = make_container("broker")
    mine = make_container("engine-self", labels={"clawtui.role": "devbox"})
    for info in (infra, mine):
        await wait_until(
            lambda i=info: engine.container(f"local/{i['Id']}") is not None, 10, "seen"
        )
    engine.actions.own_ids = frozenset({mine["Id"]})  # as if the engine ran in it
    for info, words in ((infra, "clawtui.role"), (mine, "clawtui itself runs in")):
        key = f"local/{info['Id']}"
        for act in (
            engine.actions.stop(key, timeout=0),
            engine.actions.restart(key, timeout=0),
            engine.actions.remove(key, force=True),
        ):
            with pytest.raises(ActionError, match=re.escape(words)):
                await act
        async with aiohttp.ClientSession(headers=AUTH) as s:
            base = f"{url}/api/v1/containers/local/{info['Id'][:12]}"
            async with s.post(base + "/stop?timeout=0") as r:
                assert r.status == 409 and words in (await r.json())["error"]["message"]
            async with s.delete(base + "?force=1") as r:
                assert r.status == 409
        assert docker_api.inspect_container(info["Id"])["State"]["Running"]
        # Reading its logs is not refused (a refusal would raise here).
        _ = [line async for line in engine.actions.logs(key, tail=1)]
