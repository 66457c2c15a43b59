"""`engine.tmux` against the real sshd of two real dev containers, directly, through the REST
routes, and through `RemoteEngine` (`clawtui --connect`) in front of a real service.

What the containers really did is read back with `docker exec` (files written by the commands,
`tmux list-sessions`), not from clawtui's own answers.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
import docker
import pytest

from clawtui.client.engine import RemoteEngine, RemoteError
from clawtui.engine.api.models import EventKind
from clawtui.engine.api.tmux import InvalidName, TargetError
from clawtui.engine.core import Engine
from clawtui.engine.sessions.ssh import HostKeyUnknown
from clawtui.service.runner import ServiceRunner
from tests.integration.test_attach import Boxes, boxes, docker_exec  # noqa: F401  (fixture)
from tests.integration.test_devboxes import devbox_image  # noqa: F401  (fixture)

pytestmark = pytest.mark.integration

TOKEN = "t0ken-for-tmux-engine-tests-0123456789"


@dataclass
class Served:
    engine: Engine
    url: str
    http: aiohttp.ClientSession
    remote: RemoteEngine


@pytest.fixture
async def engine(boxes: Boxes) -> AsyncIterator[Engine]:  # noqa: F811
    eng = Engine(boxes.settings)
    await eng.start()
    try:
        assert await eng.wait_online(15)
        for name in boxes.names:  # the monitor has seen both dev boxes
            deadline = time.monotonic() + 10
            while name not in {b.name for b in eng.devboxes.list()}:
                assert time.monotonic() < deadline, f"engine never saw dev box {name}"
                await asyncio.sleep(0.05)
        yield eng
    finally:
        await eng.stop()


@pytest.fixture
async def served(engine: Engine) -> AsyncIterator[Served]:
    runner = ServiceRunner(engine, engine.settings, token=TOKEN, listen=("127.0.0.1", 0))
    await runner.start()
    remote = RemoteEngine(runner.url, TOKEN)
    await remote.start()
    http = aiohttp.ClientSession(headers={"Authorization": f"Bearer {TOKEN}"})
    try:
        await asyncio.wait_for(remote.connected.wait(), 10)
        yield Served(engine, runner.url, http, remote)
    finally:
        await http.close()
        await remote.stop()
        await runner.stop()


async def wait_file(
    api: docker.APIClient, cid: str, path: str, want: str, timeout: float = 15
) -> None:
    deadline = time.monotonic() + timeout
    out = ""
    while time.monotonic() < deadline:
        code, out = await asyncio.to_thread(docker_exec, api, cid, f"cat {path}")
        if code == 0 and out == want:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{path} in {cid[:12]} is {out!r}, not {want!r}")


async def test_run_and_sessions_list_windows_over_one_connection(
    engine: Engine,
    boxes: Boxes,  # noqa: F811
    docker_api: docker.APIClient,
) -> None:
    name = boxes.names[0]
    sub = engine.subscribe([EventKind.TMUX])
    session = await engine.tmux.run(
        name,
        ["sh", "-c", "pwd > /tmp/eng.out; echo $((6*7)) '$(x); ok' >> /tmp/eng.out; sleep 120"],
        session="eng",
        window="w1",
        cwd="/tmp",
    )
    assert session == "eng"
    await wait_file(docker_api, boxes.cids[name], "/tmp/eng.out", "/tmp\n42 $(x); ok\n")
    event = await asyncio.wait_for(sub.get(), 5)
    assert event.kind is EventKind.TMUX and event.host == "local"
    assert event.data["action"] == "run" and event.data["target"] == name
    assert event.data["session"] == "eng" and event.data["window"] == "w1"
    sub.close()

    listing = await engine.tmux.sessions(name)
    eng = next(s for s in listing.sessions if s.name == "eng")
    assert eng.windows == 2 and eng.attached == 0 and eng.activity > time.time() - 600
    assert {w.name for w in listing.windows if w.session == "eng"} >= {"w1"}
    # The container name and the key address the same container, over the same connection.
    key = f"local/{boxes.cids[name]}"
    by_key = await engine.tmux.sessions(key)
    by_container = await engine.tmux.sessions(f"dev-{name}")
    assert {s.name for s in by_key.sessions} == {s.name for s in by_container.sessions}
    assert len(engine.tmux.pool._conns) == 1
    # What tmux itself says in the container.
    code, out = await asyncio.to_thread(
        docker_exec, docker_api, boxes.cids[name], "tmux list-windows -t eng -F '#{window_name}'"
    )
    assert code == 0 and "w1" in out.split()


async def test_listing_reconnects_after_the_connection_is_cut(
    engine: Engine,
    boxes: Boxes,  # noqa: F811
    docker_api: docker.APIClient,
) -> None:
    name = boxes.names[1]
    await engine.tmux.run(name, ["sleep", "120"], session="cut")
    first = next(iter(engine.tmux.pool._conns.values()))
    # Kill the sshd processes serving our connection (the listener stays): the link dies under
    # the pool without the client being told at once.
    exec_id = docker_api.exec_create(boxes.cids[name], ["pkill", "-f", "sshd: dev"], user="root")
    docker_api.exec_start(exec_id)
    listing = await engine.tmux.sessions(name)
    assert any(s.name == "cut" for s in listing.sessions)
    again = next(iter(engine.tmux.pool._conns.values()))
    assert again is not first and not again.is_closed()


async def test_bad_names_and_unknown_containers_are_refused_before_ssh(
    engine: Engine,
    boxes: Boxes,  # noqa: F811
    docker_api: docker.APIClient,
) -> None:
    name = boxes.names[1]
    with pytest.raises(InvalidName):
        await engine.tmux.run(name, ["touch", "/tmp/ran"], session="a;id")
    with pytest.raises(InvalidName):
        await engine.tmux.send(name, "id", session="$(id)")
    with pytest.raises(InvalidName):
        await engine.tmux.broadcast(boxes.names, "id", session="a b")
    with pytest.raises(TargetError) as info:
        await engine.tmux.sessions("nobody-here")
    assert info.value.status == 404 and "no dev box or container named" in str(info.value)
    assert engine.tmux.pool._conns == {}
    assert (await asyncio.to_thread(docker_exec, docker_api, boxes.cids[name], "test -e /tmp/ran"))[
        0
    ] != 0


async def test_refused_host_key_is_not_retried(boxes: Boxes, tmp_path) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    from clawtui.config import AttachConfig

    settings = boxes.settings.model_copy(
        update={
            "attach": AttachConfig(
                identity_file=boxes.key_file, use_agent=False, known_hosts=tmp_path / "kh"
            )
        }
    )
    eng = Engine(settings)
    await eng.start()
    try:
        assert await eng.wait_online(15)
        deadline = time.monotonic() + 10
        while boxes.names[0] not in {b.name for b in eng.devboxes.list()}:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
        attempts = 0
        real = eng.tmux.pool.get

        async def counting(target):  # type: ignore[no-untyped-def]
            nonlocal attempts
            attempts += 1
            return await real(target)

        eng.tmux.pool.get = counting  # type: ignore[method-assign]
        with pytest.raises(HostKeyUnknown) as info:
            await eng.tmux.sessions(boxes.names[0])
        assert "clawtui ssh trust" in str(info.value)
        assert attempts == 1  # a listing is retried on a dropped link, never on a refused key
    finally:
        await eng.stop()


async def test_broadcast_reaches_every_marked_container(
    engine: Engine,
    boxes: Boxes,  # noqa: F811
    docker_api: docker.APIClient,
) -> None:
    for name in boxes.names:
        await engine.tmux.run(name, ["sleep", "120"], session="ebc")
    sub = engine.subscribe([EventKind.TMUX])
    outcomes = await engine.tmux.broadcast(
        [*boxes.names, "nobody-here"], 'echo "ebc-$HOSTNAME" > /tmp/ebc.out', session="ebc"
    )
    assert [(o.container, o.ok) for o in outcomes] == [
        (boxes.names[0], True),
        (boxes.names[1], True),
        ("nobody-here", False),
    ]
    assert "no dev box or container named 'nobody-here'" in str(outcomes[2].error)
    for name in boxes.names:
        host = docker_api.inspect_container(boxes.cids[name])["Config"]["Hostname"]
        await wait_file(docker_api, boxes.cids[name], "/tmp/ebc.out", f"ebc-{host}\n")
    event = await asyncio.wait_for(sub.get(), 5)
    assert event.data["action"] == "broadcast" and event.data["ok"] == 2
    assert event.data["targets"] == boxes.names
    sub.close()


async def test_rest_broadcast_and_its_bad_input(
    served: Served,
    boxes: Boxes,  # noqa: F811
    docker_api: docker.APIClient,
) -> None:
    url = f"{served.url}/api/v1/tmux/broadcast"
    for name in boxes.names:
        await served.engine.tmux.run(name, ["sleep", "120"], session="rbc")
    bad_bodies = [
        ({"containers": [boxes.names[0], "a;id"], "text": "id"}, "containers[1]"),
        ({"containers": [boxes.names[0]], "text": "id", "session": "$(id)"}, "session"),
        ({"containers": [], "text": "id"}, "containers"),
        ({"containers": [boxes.names[0]]}, "text"),
        ({"containers": [boxes.names[0]], "text": "id", "nope": 1}, "nope"),
        ({"containers": "sam", "text": "id"}, "containers"),
    ]
    for body, field in bad_bodies:
        async with served.http.post(url, json=body) as r:
            message = (await r.json())["error"]["message"]
            assert r.status == 400, (body, message)
            assert field in message, (body, message)
    for name in boxes.names:
        code, _ = await asyncio.to_thread(
            docker_exec, docker_api, boxes.cids[name], "test -e /tmp/rbc.out"
        )
        assert code != 0  # nothing was typed anywhere
    body = {"containers": [*boxes.names, "gone"], "text": "echo rbc > /tmp/rbc.out",
            "session": "rbc"}  # fmt: skip
    async with served.http.post(url, json=body) as r:
        assert r.status == 200, await r.text()
        data = await r.json()
    assert data["ok"] is False and data["session"] == "rbc"
    assert [(x["container"], x["ok"]) for x in data["results"]] == [
        (boxes.names[0], True),
        (boxes.names[1], True),
        ("gone", False),
    ]
    for name in boxes.names:
        await wait_file(docker_api, boxes.cids[name], "/tmp/rbc.out", "rbc\n")


async def test_remote_tmux_over_the_service(
    served: Served,
    boxes: Boxes,  # noqa: F811
    docker_api: docker.APIClient,
) -> None:
    remote = served.remote
    name = boxes.names[1]
    sub = remote.subscribe([EventKind.TMUX])
    session = await remote.tmux.run(
        name, ["sh", "-c", "echo remote-run > /tmp/rr.out; sleep 120"], session="rem", window="rw"
    )
    assert session == "rem"
    await wait_file(docker_api, boxes.cids[name], "/tmp/rr.out", "remote-run\n")
    event = await asyncio.wait_for(sub.get(), 10)  # the engine's event, through the stream
    assert event.data["action"] == "run" and event.data["target"] == name
    sub.close()
    listing = await remote.tmux.sessions(name)
    assert any(s.name == "rem" and s.windows == 2 for s in listing.sessions)
    assert any(w.session == "rem" and w.name == "rw" for w in listing.windows)
    await remote.tmux.send(name, "echo remote-send > /tmp/rs.out", session="rem")
    await wait_file(docker_api, boxes.cids[name], "/tmp/rs.out", "remote-send\n")
    outcomes = await remote.tmux.broadcast([name, "gone"], "echo rb > /tmp/rb.out", session="rem")
    assert [(o.container, o.ok) for o in outcomes] == [(name, True), ("gone", False)]
    assert "no dev box or container named 'gone'" in str(outcomes[1].error)
    await wait_file(docker_api, boxes.cids[name], "/tmp/rb.out", "rb\n")
    with pytest.raises(RemoteError, match="session: invalid tmux session name"):
        await remote.tmux.run(name, ["id"], session="$(id)")
    with pytest.raises(RemoteError, match="no dev box or container named"):
        await remote.tmux.sessions("nobody-here")
