"""Pools on a remote Docker host: config and secrets go in with the Docker archive API.

The "remote" host is the same dockerd reached over TCP on loopback through a plain socket
proxy (`docker_tcp_proxy`): an http:// URL makes `HostConfig.is_local` false, so the engine
treats the host as one whose disk it cannot reach, exactly as for a socket proxy or a
`tcp://` daemon on another machine. Everything below goes through that path: anonymous
volumes instead of bind mounts, `PUT /containers/{id}/archive` for the claim's files, and
`GET`/`PUT .../archive` around rclone for the state sync.
"""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import docker
import pytest

from clawtui.config import EngineConfig, HostConfig, Settings
from clawtui.config.pools import PoolConfig, SecuritySpec
from clawtui.engine.api.models import EventKind
from tests.integration.pool_helpers import (
    docker_tcp_proxy,
    local_sync,
    running,
    sh,
    unique,
    wait_warm,
    workload,
)

pytestmark = pytest.mark.timeout(240)
SECRET = "remote-s3cr3t-never-shown"


def remote_settings(state_dir: Path, url: str, wl: object, pool: PoolConfig) -> Settings:
    return Settings(
        engine=EngineConfig(state_dir=state_dir, stats_interval=5.0, reconnect_max_backoff=1.0),
        hosts=[
            HostConfig(name="local", cgroup_root=None),
            HostConfig(name="far", url=url, cgroup_root=None),
        ],
        workloads=[wl],
        pools=[pool],
    )


def archive_file(api: docker.APIClient, container: str, path: str) -> tuple[tarfile.TarInfo, bytes]:
    """The tar header and content of one file, read back with the archive API."""
    stream, _ = api.get_archive(container, path)
    with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tar:
        member = tar.getmembers()[0]
        handle = tar.extractfile(member)
        assert handle is not None
        return member, handle.read()


@pytest.mark.parametrize(
    ("user", "owner"),
    [("1234:2345", (1234, 2345)), ("nobody", (65534, 65534))],
    ids=["numeric", "name-from-container-passwd"],
)
async def test_remote_claim_provisions_with_the_archive_api(
    tmp_path: Path,
    docker_api: docker.APIClient,
    test_labels: dict[str, str],
    pool_image: str,
    user: str,
    owner: tuple[int, int],
) -> None:
    name = unique("rm")
    wl = workload(name, test_labels, security=SecuritySpec(user=user))
    pool = PoolConfig(name=name, workload=name, host="far", min_warm=1, max=2)
    with docker_tcp_proxy() as url:
        settings = remote_settings(tmp_path / "state", url, wl, pool)
        assert not settings.hosts[1].is_local
        async with running(settings, docker_api) as engine:
            sub = engine.subscribe()
            await wait_warm(engine, name, 1)
            claim = await engine.pools.claim(
                "alice", name, {"model": "m1"}, {"token": SECRET, "db.pw": "pw2"}
            )
            assert claim.source == "warm"
            assert claim.host == "far"
            # Nothing on the engine's disk: the files only exist inside the container.
            assert not (engine.pools.root / claim.container / "secrets").exists()
            inspect = docker_api.inspect_container(claim.container)
            assert all(m["Type"] == "volume" for m in inspect["Mounts"])
            expected = {
                "/run/secrets/token": SECRET.encode(),
                "/run/secrets/db.pw": b"pw2",
            }
            for path, content in expected.items():
                info, data = archive_file(docker_api, claim.container, path)
                assert data == content
                assert info.mode & 0o777 == 0o600
                assert (info.uid, info.gid) == owner
            info, data = archive_file(docker_api, claim.container, "/run/clawtui/tenant.json")
            assert info.mode & 0o777 == 0o600
            assert json.loads(data) == {"tenant": "alice", "config": {"model": "m1"}}
            # The workload's own user reads them (docker exec runs as the container's user).
            assert sh(docker_api, claim.container, "id -u; cat /run/secrets/token") == (
                f"{owner[0]}\n{SECRET}"
            )
            env_line = sh(docker_api, claim.container, "cat /run/clawtui/tenant.env")
            assert 'TENANT_HOME="/state/alice"' in env_line
            assert sh(
                docker_api, claim.container, "stat -c '%a %u:%g' /run/clawtui/tenant.env"
            ) == (f"600 {owner[0]}:{owner[1]}\n")
            assert await engine.pools.invariants(filling=True) == []

            released = await engine.pools.release("alice")
            assert released.state == "released"
            with pytest.raises(docker.errors.NotFound):
                docker_api.inspect_container(claim.container)
            # Its anonymous volumes went with it.
            for mount in inspect["Mounts"]:
                with pytest.raises(docker.errors.NotFound):
                    docker_api.inspect_volume(mount["Name"])
            await wait_warm(engine, name, 1)
            assert await engine.pools.invariants(filling=True) == []

            events = []
            while (ev := sub.get_nowait()) is not None:
                events.append(ev)
            assert any(
                e.kind is EventKind.POOL and e.data.get("action") == "claimed" for e in events
            )
            assert SECRET not in "".join(e.model_dump_json() for e in events)
            assert all(SECRET not in a.message for a in await engine.activity(1000))


async def test_remote_state_sync_round_trip(
    tmp_path: Path, docker_api: docker.APIClient, test_labels: dict[str, str], pool_image: str
) -> None:
    sink = tmp_path / "sink"
    name = unique("rs")
    wl = workload(name, test_labels, sync=local_sync(sink))
    pool = PoolConfig(name=name, workload=name, host="far", min_warm=1, max=2)
    with docker_tcp_proxy() as url:
        settings = remote_settings(tmp_path / "state", url, wl, pool)
        async with running(settings, docker_api) as engine:
            await wait_warm(engine, name, 1)
            first = await engine.pools.claim("bob", name)
            sh(docker_api, first.container, "mkdir -p /state/data/sub && echo hello > "
               "/state/data/a.txt && echo deep > /state/data/sub/b.txt")  # fmt: skip
            released = await engine.pools.release("bob")
            assert released.state == "released"
            assert (sink / "tenants" / "bob" / "data" / "a.txt").read_text() == "hello\n"
            assert (sink / "tenants" / "bob" / "data" / "sub" / "b.txt").read_text() == "deep\n"
            with pytest.raises(docker.errors.NotFound):
                docker_api.inspect_container(first.container)

            await wait_warm(engine, name, 1)
            second = await engine.pools.claim("bob", name)
            assert second.container != first.container
            assert sh(
                docker_api, second.container, "cat /state/data/a.txt /state/data/sub/b.txt"
            ) == ("hello\ndeep\n")
            info = await engine.pools.tenant("bob")
            assert {s.mapping: s.status for s in info.sync} == {"state": "ok"}
            # No staging copies are left on the engine's disk.
            assert not any((engine.pools.root / ".staging").glob("*"))
            await engine.pools.release("bob")
