"""The fleet's first snapshot (read over the Docker socket without the SDK, before the engine
exists) against the real dockerd: it holds what the engine's first reconcile holds, and a
socket that does not answer gives up within its bound."""

from __future__ import annotations

import asyncio
import socket
import threading
from pathlib import Path

import pytest

from clawtui.config import HostConfig
from clawtui.engine.api.models import ContainerInfo
from clawtui.engine.core import Engine
from clawtui.engine.fleet import first_snapshot
from clawtui.engine.fleet.docker_socket import DockerSocket, DockerSocketError
from clawtui.engine.fleet.first_snapshot import FirstSnapshot
from tests.integration.conftest import TEST_LABEL
from tests.integration.engine_helpers import make_settings

pytestmark = pytest.mark.integration

# Fields of a host that do not depend on the other containers on this shared machine.
HOST_FACTS = ("name", "url", "state", "error", "docker_version", "api_version", "os", "ncpu",
              "cgroup_version", "direct_stats", "offline_since")  # fmt: skip


def ours(containers: list[ContainerInfo], session: str) -> dict[str, ContainerInfo]:
    """This test session's containers (other helpers' containers come and go meanwhile)."""
    return {
        c.id: c.model_copy(update={"stats": None})
        for c in containers
        if c.labels.get(TEST_LABEL) == session
    }


@pytest.fixture
def fleet(make_container, docker_api) -> set[str]:  # type: ignore[no-untyped-def]
    """Containers in several states: running with and without limits, exited, created."""
    exited = make_container("exited", command=["sh", "-c", "exit 3"])
    docker_api.wait(exited["Id"], timeout=30)
    made = [
        make_container("run-limited", mem_limit="96m"),
        make_container("run-free"),
        exited,
        make_container("created", start=False),
    ]
    return {c["Id"] for c in made}


async def test_first_snapshot_is_what_the_engine_reads(
    tmp_path: Path, fleet: set[str], test_labels: dict[str, str]
) -> None:
    session = test_labels[TEST_LABEL]
    settings = make_settings(tmp_path)
    first = FirstSnapshot.start(settings.hosts)
    hosts, containers = await asyncio.wrap_future(first.future)
    engine = Engine(settings)
    await engine.start(components=False)
    try:
        assert await engine.wait_online(20)
        mine = ours(containers, session)
        assert set(mine) == fleet
        assert mine == ours(engine.containers(), session)
        exited = next(c for c in mine.values() if c.name.endswith("-exited"))
        assert exited.status == "exited (3)"
        limited = next(c for c in mine.values() if c.name.endswith("-run-limited"))
        assert limited.memory_limit == 96 * 1024 * 1024 and limited.running
        (host,) = hosts
        engine_host = engine.hosts()[0]
        assert host.model_dump(include=set(HOST_FACTS)) == engine_host.model_dump(
            include=set(HOST_FACTS)
        )
        assert host.memory.total == engine_host.memory.total > 0
        assert host.memory.reserve == engine_host.memory.reserve
        assert host.containers == len(containers) >= len(fleet)
        assert host.running == sum(1 for c in containers if c.running)
    finally:
        await engine.stop()


def test_a_socket_that_never_answers_is_given_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "silent.sock"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen(8)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:  # accepts, reads nothing, answers nothing
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    monkeypatch.setattr(first_snapshot, "WAIT_SECONDS", 1.0)
    try:
        first = FirstSnapshot.start([HostConfig(name="silent", url=f"unix://{path}")])
        with pytest.raises(LookupError, match="no local Docker host answered"):
            first.future.result(timeout=30)
        assert accepted  # it did connect: the bound, not a refusal, ended it
    finally:
        stop.set()
        thread.join()
        for conn in accepted:
            conn.close()
        server.close()


def test_remote_hosts_are_left_to_the_engine() -> None:
    first = FirstSnapshot.start([HostConfig(name="far", url="tcp://127.0.0.1:9")])
    with pytest.raises(LookupError):
        first.future.result(timeout=5)


async def test_docker_socket_reads_chunked_and_sized_replies_and_errors() -> None:
    sock = DockerSocket("/var/run/docker.sock")
    try:
        version = await sock.get_json("/version")
        assert isinstance(version, dict) and version.get("ApiVersion")
        listed = await sock.get_json(f"/v{version['ApiVersion']}/containers/json", all=1)
        assert isinstance(listed, list)
        with pytest.raises(DockerSocketError, match="HTTP 404"):
            await sock.get_json("/containers/clawtui-no-such-container-xyz/json")
        # The connection is still in step after an error reply.
        assert (await sock.get_json("/version"))["ApiVersion"] == version["ApiVersion"]
    finally:
        sock.close()
