"""`clawtui --connect`: container actions, logs, memory and dev boxes through a real service in
front of a real engine, checked against Docker itself (inspect), not against the engine."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import docker
import pytest

from clawtui.client.engine import RemoteEngine, RemoteError
from clawtui.engine.api.memory import BatchState
from clawtui.engine.core import Engine
from tests.integration.engine_helpers import make_settings, wait_until
from tests.integration.served import remote_over_service
from tests.integration.test_devboxes import (  # noqa: F401 - fixtures
    box_names,
    devbox_image,
    devbox_settings,
    new_name,
    user_key,
)

pytestmark = pytest.mark.integration

MIB = 1024 * 1024
TOKEN = "t0ken-for-remote-tests-0123456789"
MakeContainer = Callable[..., dict[str, Any]]


def _serve(engine: Engine) -> AsyncIterator[RemoteEngine]:
    return remote_over_service(engine, TOKEN)


@pytest.fixture
async def remote(tmp_path: Path) -> AsyncIterator[RemoteEngine]:
    async for r in _serve(Engine(make_settings(tmp_path))):
        yield r


def running(api: docker.APIClient, cid: str) -> bool:
    return bool(api.inspect_container(cid)["State"]["Running"])


async def test_actions_and_logs_over_the_service(
    remote: RemoteEngine, make_container: MakeContainer, docker_api: docker.APIClient
) -> None:
    info = make_container(
        "remote-act",
        command=["sh", "-c", "echo one; echo two; sleep 3600"],
        labels={"clawtui.role": "devbox"},  # only managed containers are acted on
    )
    key = f"local/{info['Id']}"
    await wait_until(lambda: remote.container(key) is not None, 5, "container mirrored")

    lines: list[str] = []
    for _ in range(50):  # until both lines are in the log
        lines = [line async for line in remote.actions.logs(key, tail=None)]
        if len(lines) >= 2:
            break
        await asyncio.sleep(0.1)
    assert lines == ["one", "two"]
    assert [line async for line in remote.actions.logs(key, tail=1)] == ["two"]

    await remote.actions.stop(key, timeout=1)
    assert not await asyncio.to_thread(running, docker_api, info["Id"])
    await remote.actions.start(key)
    assert await asyncio.to_thread(running, docker_api, info["Id"])
    await remote.actions.restart(key, timeout=1)
    assert await asyncio.to_thread(running, docker_api, info["Id"])

    with pytest.raises(RemoteError, match="running"):  # Docker's reason, not "HTTP 409"
        await remote.actions.remove(key)
    with pytest.raises(RemoteError, match="no container"):
        await remote.actions.start("local/" + "0" * 64)
    await remote.actions.remove(key, force=True)
    with pytest.raises(docker.errors.NotFound):
        await asyncio.to_thread(docker_api.inspect_container, info["Id"])


async def test_memory_over_the_service(
    remote: RemoteEngine, make_container: MakeContainer, docker_api: docker.APIClient
) -> None:
    info = make_container("remote-mem", mem_limit="512m", labels={"clawtui.role": "devbox"})
    key = f"local/{info['Id']}"
    await wait_until(lambda: remote.container(key) is not None, 5, "container mirrored")
    plan = await remote.memory.plan({key: 768 * MIB}, who="tui")
    assert plan.ok, plan
    result = await remote.memory.apply({key: 768 * MIB}, who="tui")
    assert result.state is BatchState.APPLIED
    host_config = (await asyncio.to_thread(docker_api.inspect_container, info["Id"]))["HostConfig"]
    assert (host_config["Memory"], host_config["MemorySwap"]) == (768 * MIB, 768 * MIB)
    refused = await remote.memory.apply({key: 1 * MIB}, who="tui")  # under the floor
    assert refused.state is not BatchState.APPLIED and not refused.plan.ok
    history = await remote.memory.history(5)
    assert history[0].new_limit == 768 * MIB and history[0].who == "api"


async def test_bad_bodies_are_clear_400s(remote: RemoteEngine) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with aiohttp.ClientSession(headers=headers) as s:
        for body, expected in [
            (b"{", "not valid JSON"),
            (b'{"name": "x"}', "'pubkey' is required"),
            (b'{"name": "x", "pubkey": "k", "colour": 1}', "unknown field 'colour'"),
            (b'{"name": "Bad Name!", "pubkey": "k"}', "name"),
        ]:
            async with s.post(remote.url + "/api/v1/devboxes", data=body) as r:
                assert r.status == 400, body
                assert expected in (await r.json())["error"]["message"]
        async with s.post(remote.url + "/api/v1/containers/local/nope/stop?timeout=x") as r:
            assert r.status == 404  # the container is resolved first
        async with s.delete(remote.url + "/api/v1/devboxes/x?keep_home=maybe") as r:
            assert r.status == 400
            assert "keep_home" in (await r.json())["error"]["message"]


async def test_devbox_create_and_remove_over_the_service(
    tmp_path: Path,
    devbox_image: str,  # noqa: F811
    new_name: Callable[[str], str],  # noqa: F811
    docker_api: docker.APIClient,
) -> None:
    async for remote in _serve(Engine(devbox_settings(tmp_path / "state"))):
        name = new_name("remote")
        _, pubkey = user_key()
        progress: list[str] = []
        box = await remote.devboxes.create(name, pubkey, memory="320m", progress=progress.append)
        assert box.name == name and box.running and box.port is not None
        assert progress, "the create sent no progress lines"
        assert remote.devboxes.ssh_command(box) == f"ssh -p {box.port} dev@127.0.0.1"
        inspect = await asyncio.to_thread(docker_api.inspect_container, f"dev-{name}")
        assert inspect["HostConfig"]["Memory"] == 320 * MIB
        with pytest.raises(RemoteError, match="already"):
            await remote.devboxes.create(name, pubkey)
        listed = await remote.devboxes.list()
        assert name in [b.name for b in listed]
        said = await remote.devboxes.remove(name)
        assert f"dev-{name}" in said
        with pytest.raises(docker.errors.NotFound):
            await asyncio.to_thread(docker_api.inspect_container, f"dev-{name}")
