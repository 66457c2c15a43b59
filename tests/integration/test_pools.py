"""Warm pools against the real dockerd and real rclone: claim, provision, release, state sync."""

from __future__ import annotations

import asyncio
import json
import stat
from pathlib import Path

import docker
import pytest

from clawtui.config.pools import PoolConfig, SinkSpec, SyncMapping, SyncPolicy, SyncSpec
from clawtui.engine.api.escalations import Source
from clawtui.engine.api.models import EventKind
from clawtui.engine.api.pools import PoolConflict, PoolInputError, PoolSyncFailed
from tests.integration.pool_helpers import (
    free_port,
    local_sync,
    make_bucket,
    moto_server,
    pool_settings,
    running,
    sh,
    unique,
    wait_warm,
    workload,
)

pytestmark = pytest.mark.timeout(240)
SECRET = "s3cr3t-value-never-shown"


async def test_claim_release_claim_keeps_tenant_files(
    tmp_path: Path, docker_api: docker.APIClient, test_labels: dict[str, str], pool_image: str
) -> None:
    sink = tmp_path / "sink"
    name = unique("rt")
    wl = workload(
        name,
        test_labels,
        sync=local_sync(sink),
        config_schema={"type": "object", "properties": {"model": {"type": "string"}}},
    )
    settings = pool_settings(
        tmp_path / "state", [wl], [PoolConfig(name=name, workload=name, min_warm=1, max=3)]
    )
    async with running(settings, docker_api) as engine:
        sub = engine.subscribe()
        await wait_warm(engine, name, 1)
        first = await engine.pools.claim("alice", name, {"model": "m1"}, {"token": SECRET})
        assert first.source == "warm"
        assert first.state == "active"
        base = engine.pools.root / first.container
        for path in (base / "config" / "tenant.json", base / "secrets" / "token"):
            assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert json.loads((base / "config" / "tenant.json").read_text())["config"] == {
            "model": "m1"
        }
        assert 'TENANT_HOME="/state/alice"' in (base / "config" / "tenant.env").read_text()
        # The container sees what was provisioned, without any Docker call at claim time.
        assert sh(docker_api, first.container, "cat /run/secrets/token") == SECRET
        sh(docker_api, first.container, "mkdir -p /state/data/sub && echo hello > "
           "/state/data/a.txt && echo deep > /state/data/sub/b.txt")  # fmt: skip

        released = await engine.pools.release("alice")
        assert released.state == "released"
        assert (sink / "tenants" / "alice" / "data" / "a.txt").read_text() == "hello\n"
        with pytest.raises(docker.errors.NotFound):
            docker_api.inspect_container(first.container)
        assert not base.exists()

        await wait_warm(engine, name, 1)
        second = await engine.pools.claim("alice", name, {"model": "m2"}, {"token": SECRET})
        assert second.container != first.container
        assert sh(docker_api, second.container, "cat /state/data/a.txt /state/data/sub/b.txt") == (
            "hello\ndeep\n"
        )
        info = await engine.pools.tenant("alice")
        assert {s.mapping: s.status for s in info.sync} == {"state": "ok"}
        assert await engine.pools.invariants(filling=True) == []

        # Bad input is refused with the field named, and nothing is claimed.
        with pytest.raises(PoolInputError, match="schema"):
            await engine.pools.claim("bob", name, {"model": 5}, {})
        with pytest.raises(PoolInputError, match="tenant id"):
            await engine.pools.claim("../bob", name, {}, {})
        with pytest.raises(PoolConflict, match="already holds"):
            await engine.pools.claim("alice", name, {}, {})

        await engine.pools.release("alice")
        events = []
        while (ev := sub.get_nowait()) is not None:
            events.append(ev)
        assert any(e.kind is EventKind.POOL and e.data.get("action") == "claimed" for e in events)
        assert any(e.kind is EventKind.SYNC for e in events)
        dumped = "".join(e.model_dump_json() for e in events)
        assert SECRET not in dumped
        assert all(SECRET not in a.message for a in await engine.activity(1000))


async def test_glob_and_direction_rules(
    tmp_path: Path, docker_api: docker.APIClient, test_labels: dict[str, str], pool_image: str
) -> None:
    sink = tmp_path / "sink"
    name = unique("gd")
    mappings = [
        SyncMapping(name="logs", path="/state/logs", pattern="*.log", sink_path="logs",
                    direction="upload", mode="copy"),
        SyncMapping(name="conf", path="/state/conf", sink_path="conf", direction="download"),
    ]  # fmt: skip
    wl = workload(name, test_labels, sync=local_sync(sink, mappings))
    settings = pool_settings(
        tmp_path / "state", [wl], [PoolConfig(name=name, workload=name, min_warm=1, max=2)]
    )
    tenant_root = sink / "tenants" / "t1"
    (tenant_root / "conf").mkdir(parents=True)
    (tenant_root / "conf" / "settings.ini").write_text("x=1\n")
    (tenant_root / "logs").mkdir()
    (tenant_root / "logs" / "old.log").write_text("old\n")
    async with running(settings, docker_api) as engine:
        await wait_warm(engine, name, 1)
        claim = await engine.pools.claim("t1", name)
        # download-only mapping restored; the upload-only one was not downloaded
        assert sh(docker_api, claim.container, "cat /state/conf/settings.ini") == "x=1\n"
        assert "old.log" not in sh(docker_api, claim.container, "ls /state/logs 2>&1")
        sh(
            docker_api,
            claim.container,
            "mkdir -p /state/logs && echo new > /state/logs/new.log && echo no > "
            "/state/logs/skip.txt && echo changed > /state/conf/settings.ini",
        )
        result = await engine.pools.sync("t1", "upload")
        assert result.ok
        assert [r.mapping for r in result.runs] == ["logs"]
        logs = sorted(p.name for p in (tenant_root / "logs").iterdir())
        assert logs == ["new.log", "old.log"]  # glob kept skip.txt out; copy kept old.log
        assert (tenant_root / "conf" / "settings.ini").read_text() == "x=1\n"  # download only
        await engine.pools.release("t1")
        assert await engine.pools.invariants(filling=True) == []


async def test_empty_source_never_wipes_the_sink(
    tmp_path: Path, docker_api: docker.APIClient, test_labels: dict[str, str], pool_image: str
) -> None:
    sink = tmp_path / "sink"
    name = unique("es")
    wl = workload(name, test_labels, sync=local_sync(sink, on_claim=False))
    settings = pool_settings(
        tmp_path / "state", [wl], [PoolConfig(name=name, workload=name, min_warm=1, max=2)]
    )
    saved = sink / "tenants" / "t2" / "data"
    saved.mkdir(parents=True)
    (saved / "precious.txt").write_text("keep me\n")
    async with running(settings, docker_api) as engine:
        await wait_warm(engine, name, 1)
        await engine.pools.claim("t2", name)  # on_claim off: the container starts empty
        result = await engine.pools.sync("t2", "upload")
        assert [r.status for r in result.runs] == ["skipped"]
        info = await engine.pools.release("t2")
        assert info.state == "released"
        assert (saved / "precious.txt").read_text() == "keep me\n"
        assert [s.status for s in (await engine.pools.tenant("t2")).sync] == ["skipped"]


async def test_s3_round_trip_with_moto(
    tmp_path: Path,
    docker_api: docker.APIClient,
    test_labels: dict[str, str],
    pool_image: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("POOL_S3_KEY", "test")
    monkeypatch.setenv("POOL_S3_SECRET", "test")
    name = unique("s3")
    with moto_server() as endpoint:
        make_bucket(endpoint, "state")
        spec = SyncSpec(
            sink=SinkSpec(type="s3", endpoint=endpoint, bucket="state", prefix="w/${tenantId}",
                          access_key_env="POOL_S3_KEY", secret_key_env="POOL_S3_SECRET"),
            mappings=[SyncMapping(name="state", path="/state/data", sink_path="d")],
            policy=SyncPolicy(),
        )  # fmt: skip
        settings = pool_settings(
            tmp_path / "state",
            [workload(name, test_labels, sync=spec)],
            [PoolConfig(name=name, workload=name, min_warm=1, max=3)],
        )
        async with running(settings, docker_api) as engine:
            await wait_warm(engine, name, 1)
            c1 = await engine.pools.claim("carol", name)
            sh(docker_api, c1.container, "mkdir -p /state/data && echo s3 > /state/data/f.txt")
            await engine.pools.release("carol")
            await wait_warm(engine, name, 1)
            c2 = await engine.pools.claim("carol", name)
            assert sh(docker_api, c2.container, "cat /state/data/f.txt") == "s3\n"
            info = await engine.pools.tenant("carol")
            assert info.sync[0].status == "ok"
            await engine.pools.release("carol")


async def test_failed_release_upload_keeps_container_retries_and_escalates(
    tmp_path: Path,
    docker_api: docker.APIClient,
    test_labels: dict[str, str],
    pool_image: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "y")
    name = unique("rf")
    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens: every upload fails
    spec = SyncSpec(
        sink=SinkSpec(type="s3", endpoint=dead, bucket="b"),
        mappings=[SyncMapping(name="state", path="/state/data")],
        policy=SyncPolicy(on_claim=False),
        retries=1,
    )
    settings = pool_settings(
        tmp_path / "state",
        [workload(name, test_labels, sync=spec)],
        [PoolConfig(name=name, workload=name, min_warm=1, max=2, escalate_after=2)],
    )
    async with running(settings, docker_api) as engine:
        await wait_warm(engine, name, 1)
        claim = await engine.pools.claim("dave", name)
        sh(docker_api, claim.container, "mkdir -p /state/data && echo x > /state/data/x")
        with pytest.raises(PoolSyncFailed, match="container is kept"):
            await engine.pools.release("dave")
        info = await engine.pools.tenant("dave")
        assert info.state == "release_failed"
        assert docker_api.inspect_container(claim.container)["State"]["Running"]
        # The manager retries on its own (backoff 1 s after the first failure) and escalates.
        deadline = asyncio.get_running_loop().time() + 30
        while True:
            pending = [
                e for e in await engine.escalations.find()
                if e.source is Source.SYNC and e.dedupe_key == "pool-release:dave"
            ]  # fmt: skip
            if pending:
                break
            assert asyncio.get_running_loop().time() < deadline, "no escalation raised"
            await asyncio.sleep(0.2)
        assert "container" in pending[0].doing
        assert await engine.pools.invariants() == []
        forced = await engine.pools.release("dave", force=True)
        assert forced.state == "released"
        with pytest.raises(docker.errors.NotFound):
            docker_api.inspect_container(claim.container)


async def test_cold_claim_when_pool_is_empty(
    tmp_path: Path, docker_api: docker.APIClient, test_labels: dict[str, str], pool_image: str
) -> None:
    name = unique("cd")
    settings = pool_settings(
        tmp_path / "state",
        [workload(name, test_labels)],
        [PoolConfig(name=name, workload=name, min_warm=0, max=1, on_empty="cold")],
    )
    async with running(settings, docker_api) as engine:
        claim = await engine.pools.claim("erin", name)
        assert claim.source == "cold"
        assert claim.endpoints
        with pytest.raises(PoolConflict, match="full"):
            await engine.pools.claim("frank", name)
        await engine.pools.release("erin", sync=False)
        assert await engine.pools.invariants() == []
