"""A hostile tenant against state sync (issue 20, item 1): real containers, real rclone.

The tenant's container can write its state folder, which the engine syncs on the host. It
plants symbolic links there, pointing at folders and files of the engine's machine (the link
target is only a string: the container does not need to see the host path to plant it). State
sync must never follow them, in either direction, on a local or a remote host: the sync fails
with a reason that names the link, the failed-sync path runs (container kept, retry, escalation)
and nothing already in the sink is lost.
"""

from __future__ import annotations

from pathlib import Path

import docker
import pytest

from clawtui.config import EngineConfig, HostConfig, Settings
from clawtui.config.pools import PoolConfig
from clawtui.engine.api.escalations import Source
from clawtui.engine.api.pools import PoolSyncFailed
from tests.integration.pool_helpers import (
    docker_tcp_proxy,
    local_sync,
    pool_settings,
    running,
    sh,
    unique,
    wait_warm,
    workload,
)

pytestmark = pytest.mark.timeout(240)
CANARY = "host canary: must never reach a sink\n"
HOST_FILE = "host file: must never be written by a sync\n"


def host_things(tmp_path: Path) -> tuple[Path, Path]:
    """A folder with a canary file and a lone file, both of the engine's machine."""
    folder = tmp_path / "host-secrets"
    folder.mkdir()
    (folder / "canary.txt").write_text(CANARY)
    lone = tmp_path / "host-file"
    lone.write_text(HOST_FILE)
    return folder, lone


def sink_files(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): p.read_text() for p in sorted(root.rglob("*")) if p.is_file()}


async def test_upload_refuses_a_state_folder_replaced_by_a_link(
    tmp_path: Path, docker_api: docker.APIClient, test_labels: dict[str, str], pool_image: str
) -> None:
    """(a) /state/data becomes a link to a host folder: the release upload fails, names the
    link, keeps the container, escalates, and the sink keeps what it had."""
    host_dir, _ = host_things(tmp_path)
    sink = tmp_path / "sink"
    name = unique("hs")
    settings = pool_settings(
        tmp_path / "state",
        [workload(name, test_labels, sync=local_sync(sink, on_claim=False))],
        [PoolConfig(name=name, workload=name, min_warm=1, max=2, escalate_after=1)],
    )
    async with running(settings, docker_api) as engine:
        await wait_warm(engine, name, 1)
        claim = await engine.pools.claim("mallory", name)
        sh(docker_api, claim.container, "mkdir -p /state/data && echo saved > /state/data/a.txt")
        assert (await engine.pools.sync("mallory", "upload")).ok
        tenant_sink = sink / "tenants" / "mallory"
        before = sink_files(tenant_sink)
        assert before == {"data/a.txt": "saved\n"}

        sh(docker_api, claim.container, f"rm -rf /state/data && ln -s {host_dir} /state/data")
        with pytest.raises(PoolSyncFailed, match="container is kept") as failed:
            await engine.pools.release("mallory")
        assert "data" in str(failed.value) and "symbolic link" in str(failed.value)

        assert "canary.txt" not in str(sink_files(sink))
        assert sink_files(tenant_sink) == before
        assert (host_dir / "canary.txt").read_text() == CANARY
        info = await engine.pools.tenant("mallory")
        assert info.state == "release_failed"
        assert info.error is not None and "symbolic link" in info.error
        assert [(s.direction, s.status) for s in info.sync] == [("upload", "failed")]
        assert docker_api.inspect_container(claim.container)["State"]["Running"]
        escalations = [
            e for e in await engine.escalations.find()
            if e.source is Source.SYNC and e.dedupe_key == "pool-release:mallory"
        ]  # fmt: skip
        assert escalations, "a refused upload escalates like any failed release upload"

        # The periodic/manual path refuses it the same way.
        result = await engine.pools.sync("mallory", "upload")
        assert not result.ok
        assert sink_files(tenant_sink) == before
        forced = await engine.pools.release("mallory", force=True)
        assert forced.state == "released"
        assert (host_dir / "canary.txt").read_text() == CANARY
        assert sorted(p.name for p in host_dir.iterdir()) == ["canary.txt"]


async def test_links_inside_the_state_are_never_followed(
    tmp_path: Path, docker_api: docker.APIClient, test_labels: dict[str, str], pool_image: str
) -> None:
    """(b) a file link: a download must not write the host file. (c) a nested folder link:
    neither an upload nor a download may go through it."""
    host_dir, host_file = host_things(tmp_path)
    sink = tmp_path / "sink"
    name = unique("hn")
    settings = pool_settings(
        tmp_path / "state",
        [workload(name, test_labels, sync=local_sync(sink, on_claim=False))],
        [PoolConfig(name=name, workload=name, min_warm=1, max=2)],
    )
    saved = sink / "tenants" / "eve" / "data"
    (saved / "sub").mkdir(parents=True)
    (saved / "f.txt").write_text("from the sink\n")
    (saved / "sub" / "canary.txt").write_text("from the sink, not for the host\n")
    before = sink_files(sink)
    async with running(settings, docker_api) as engine:
        await wait_warm(engine, name, 1)
        claim = await engine.pools.claim("eve", name)
        state = engine.pools.root / claim.container / "state"

        # (b) a file link at a name the sink holds.
        sh(
            docker_api,
            claim.container,
            f"mkdir -p /state/data && ln -s {host_file} /state/data/f.txt",
        )
        result = await engine.pools.sync("eve", "download")
        assert host_file.read_text() == HOST_FILE
        assert (host_dir / "canary.txt").read_text() == CANARY
        assert not result.ok
        error = result.runs[0].error or ""
        assert "data/f.txt" in error and "symbolic link" in error
        assert (state / "data" / "f.txt").is_symlink(), "a refused download changes nothing"

        # (c) a nested folder link, downloaded into and uploaded from.
        sh(docker_api, claim.container, f"rm /state/data/f.txt && echo mine > /state/data/a.txt "
           f"&& ln -s {host_dir} /state/data/sub")  # fmt: skip
        result = await engine.pools.sync("eve", "download")
        assert not result.ok
        assert "data/sub" in (result.runs[0].error or "")
        assert (host_dir / "canary.txt").read_text() == CANARY
        assert sorted(p.name for p in host_dir.iterdir()) == ["canary.txt"]
        assert host_file.read_text() == HOST_FILE

        result = await engine.pools.sync("eve", "upload")
        assert not result.ok
        error = result.runs[0].error or ""
        assert "data/sub" in error and "symbolic link" in error
        assert sink_files(sink) == before
        info = await engine.pools.tenant("eve")
        assert [(s.direction, s.status) for s in info.sync] == [("upload", "failed")]

        # Once the links are gone, both directions work again.
        sh(docker_api, claim.container, "rm /state/data/sub")
        assert (await engine.pools.sync("eve", "download")).ok
        assert (state / "data" / "f.txt").read_text() == "from the sink\n"
        assert not (state / "data" / "sub").is_symlink()
        assert (state / "data" / "sub" / "canary.txt").read_text().startswith("from the sink")
        assert not (state / "data" / "a.txt").exists(), "mode sync deletes what the sink lacks"
        sh(docker_api, claim.container, "echo mine > /state/data/a.txt")
        assert (await engine.pools.sync("eve", "upload")).ok
        assert sink_files(sink)["tenants/eve/data/a.txt"] == "mine\n"
        assert host_file.read_text() == HOST_FILE
        assert (host_dir / "canary.txt").read_text() == CANARY
        await engine.pools.release("eve", sync=False)


async def test_remote_upload_refuses_links_copied_out_of_the_container(
    tmp_path: Path, docker_api: docker.APIClient, test_labels: dict[str, str], pool_image: str
) -> None:
    """A remote host: the tar copied out of the container carries the links as link members;
    the staging extraction refuses them with the same reason, and the sink keeps what it had."""
    host_dir, host_file = host_things(tmp_path)
    sink = tmp_path / "sink"
    name = unique("hr")
    wl = workload(name, test_labels, sync=local_sync(sink, on_claim=False))
    pool = PoolConfig(name=name, workload=name, host="far", min_warm=1, max=2, escalate_after=1)
    with docker_tcp_proxy() as url:
        settings = Settings(
            engine=EngineConfig(
                state_dir=tmp_path / "state", stats_interval=5.0, reconnect_max_backoff=1.0
            ),
            hosts=[
                HostConfig(name="local", cgroup_root=None),
                HostConfig(name="far", url=url, cgroup_root=None),
            ],
            workloads=[wl],
            pools=[pool],
        )
        async with running(settings, docker_api) as engine:
            await wait_warm(engine, name, 1)
            claim = await engine.pools.claim("trudy", name)
            sh(
                docker_api,
                claim.container,
                "mkdir -p /state/data && echo saved > /state/data/a.txt",
            )
            assert (await engine.pools.sync("trudy", "upload")).ok
            before = sink_files(sink)

            for plant, where in (
                (f"ln -s {host_dir} /state/data/sub", "data/sub"),  # nested, absolute
                ("ln -s ../data /state/data/loop", "data/loop"),  # nested, relative
                (f"rm -rf /state/data && ln -s {host_dir} /state/data", "data"),  # the root
            ):
                sh(docker_api, claim.container, plant)
                result = await engine.pools.sync("trudy", "upload")
                assert not result.ok
                error = result.runs[0].error or ""
                assert where in error and "symbolic link" in error, error
                assert sink_files(sink) == before
                sh(docker_api, claim.container, f"rm -f /{where.replace('data', 'state/data', 1)}")
                sh(docker_api, claim.container, "mkdir -p /state/data")

            # A download replaces a planted link instead of writing through it (Docker's
            # archive extraction never follows a link), and only inside the container.
            sh(docker_api, claim.container, "echo theirs > /tmp/victim && "
               "ln -sf /tmp/victim /state/data/a.txt")  # fmt: skip
            assert (await engine.pools.sync("trudy", "download")).ok
            assert sh(docker_api, claim.container, "cat /tmp/victim /state/data/a.txt") == (
                "theirs\nsaved\n"
            )
            assert host_file.read_text() == HOST_FILE
            assert (host_dir / "canary.txt").read_text() == CANARY
            assert not any((engine.pools.root / ".staging").glob("*"))
            await engine.pools.release("trudy", sync=False)
