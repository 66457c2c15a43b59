"""The engine against the real Docker engine: model, stats, events, reconnect + reconcile."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from clawtui.engine.api.models import EventKind, HostState
from clawtui.engine.core import Engine
from tests.integration.engine_helpers import make_settings, wait_for_event, wait_until

pytestmark = pytest.mark.integration

MIB = 1024 * 1024


def cgroup_v1(cid: str, name: str) -> int:
    return int(Path(f"/sys/fs/cgroup/memory/docker/{cid}/{name}").read_text())


def cgroup_v1_stat(cid: str, field: str) -> int:
    for line in Path(f"/sys/fs/cgroup/memory/docker/{cid}/memory.stat").read_text().splitlines():
        key, _, value = line.partition(" ")
        if key == field:
            return int(value)
    raise KeyError(field)


async def test_list_and_stats_match_cgroup(tmp_path: Path, make_container, docker_api) -> None:  # type: ignore[no-untyped-def]
    busy = make_container("busy", command=["sh", "-c", "while :; do :; done"], mem_limit="64m")
    idle = [make_container(f"idle{i}", mem_limit=f"{96 + 32 * i}m") for i in range(3)]
    stopped = make_container("stopped", start=False)
    engine = Engine(make_settings(tmp_path))
    await engine.start()
    try:
        assert await engine.wait_online(10)
        host = engine.hosts()[0]
        assert host.direct_stats and host.cgroup_version == "1"
        ids = {c["Id"] for c in [busy, *idle, stopped]}
        await wait_until(lambda: ids <= {c.id for c in engine.containers()}, 5, "containers listed")

        def busy_has_cpu() -> bool:
            c = engine.container(f"local/{busy['Id']}")
            return c is not None and c.stats is not None and c.stats.cpu_percent is not None

        await wait_until(busy_has_cpu, 5, "two stats samples")
        for info in [busy, *idle]:
            c = engine.container(f"local/{info['Id']}")
            assert c is not None and c.running and c.stats is not None
            assert c.name == info["Name"].lstrip("/")
            assert c.memory_limit == info["HostConfig"]["Memory"]
            assert c.stats.mem_limit == cgroup_v1(info["Id"], "memory.limit_in_bytes")
            expected = cgroup_v1(info["Id"], "memory.usage_in_bytes") - cgroup_v1_stat(
                info["Id"], "total_cache"
            )
            assert abs(c.stats.mem_used - expected) <= 2 * MIB, (c.stats.mem_used, expected)
            assert c.stats.pids is not None and c.stats.pids >= 1
            assert c.uptime() is not None and c.uptime() >= 0
        busy_c = engine.container(f"local/{busy['Id']}")
        assert busy_c is not None and busy_c.stats is not None
        assert busy_c.stats.cpu_percent is not None and busy_c.stats.cpu_percent > 30
        stopped_c = engine.container(f"local/{stopped['Id']}")
        assert stopped_c is not None and stopped_c.state == "created" and stopped_c.stats is None
        limits = sum(c.memory_limit for c in engine.containers())
        assert engine.hosts()[0].memory.allocated == limits
        assert engine.hosts()[0].memory.total == docker_api.info()["MemTotal"]
    finally:
        await engine.stop()


async def test_api_stats_fallback_matches(tmp_path: Path, make_container) -> None:  # type: ignore[no-untyped-def]
    busy = make_container("busy", command=["sh", "-c", "while :; do :; done"], mem_limit="64m")
    engine = Engine(make_settings(tmp_path, direct=False))
    await engine.start()
    try:
        assert await engine.wait_online(10)
        assert not engine.hosts()[0].direct_stats
        key = f"local/{busy['Id']}"
        await wait_until(
            lambda: (
                (c := engine.container(key)) is not None
                and c.stats is not None
                and c.stats.cpu_percent is not None
            ),
            20,  # generous: under load dockerd answers one-shot stats slowly
            "one-shot stats with a CPU delta",
        )
        c = engine.container(key)
        assert c is not None and c.stats is not None
        assert c.stats.mem_limit == 64 * MIB
        assert c.stats.cpu_percent is not None and c.stats.cpu_percent > 30
    finally:
        await engine.stop()


async def test_a_local_host_without_the_container_cgroups_falls_back_to_the_api(  # type: ignore[no-untyped-def]
    tmp_path: Path, make_container
) -> None:
    """A unix:// host whose cgroup files are not where the engine looks (here: an empty cgroup
    v1 root; in life, a socket forwarded from another machine) still gets every container's
    stats, through one-shot API stats."""
    root = tmp_path / "cgroup"
    (root / "memory").mkdir(parents=True)
    (root / "cpuacct").mkdir()
    settings = make_settings(tmp_path / "state")
    settings.hosts[0].cgroup_root = str(root)
    busy = make_container("no-cgroup", mem_limit="64m")
    engine = Engine(settings)
    await engine.start()
    try:
        assert await engine.wait_online(10)
        assert engine.hosts()[0].direct_stats  # the host reads cgroup files where it can
        key = f"local/{busy['Id']}"
        await wait_until(
            lambda: (c := engine.container(key)) is not None and c.stats is not None,
            20,  # generous: under load dockerd answers one-shot stats slowly
            "stats through the API",
        )
        c = engine.container(key)
        assert c is not None and c.stats is not None and c.stats.mem_limit == 64 * MIB
    finally:
        await engine.stop()


async def test_events_reach_the_model_in_order(tmp_path: Path, make_container, docker_api) -> None:  # type: ignore[no-untyped-def]
    engine = Engine(make_settings(tmp_path))
    await engine.start()
    sub = engine.subscribe([EventKind.CONTAINER, EventKind.CONTAINER_REMOVED])
    try:
        assert await engine.wait_online(10)
        info = make_container("ev")
        cid = info["Id"]
        await wait_for_event(
            sub,
            lambda e: (
                e.kind is EventKind.CONTAINER
                and e.data["container"].id == cid
                and e.data["container"].running
            ),
            15,
        )
        await asyncio.to_thread(docker_api.stop, cid, timeout=0)
        await wait_for_event(
            sub,
            lambda e: (
                e.kind is EventKind.CONTAINER
                and e.data["container"].id == cid
                and not e.data["container"].running
            ),
            15,
        )
        await asyncio.to_thread(docker_api.remove_container, cid, force=True)
        await wait_for_event(
            sub, lambda e: e.kind is EventKind.CONTAINER_REMOVED and e.data["id"] == cid, 15
        )
        assert engine.container(f"local/{cid}") is None
        entries = await engine.activity(50)
        assert any(
            info["Name"].lstrip("/") in e.message and "removed" in e.message for e in entries
        )
    finally:
        sub.close()
        await engine.stop()


async def test_unreachable_host_is_reported_not_raised(tmp_path: Path) -> None:
    from clawtui.config import EngineConfig, HostConfig, Settings
    from clawtui.engine.core import Engine as E

    settings = Settings(
        engine=EngineConfig(state_dir=tmp_path, reconnect_max_backoff=1.0),
        hosts=[HostConfig(name="nowhere", url=f"unix://{tmp_path}/missing.sock")],
    )
    engine = E(settings)
    await engine.start()
    try:
        await wait_until(lambda: engine.hosts()[0].state is HostState.OFFLINE, 10, "offline")
        assert "scripts/ensure-docker" in (engine.hosts()[0].error or "")
    finally:
        await engine.stop()


@pytest.mark.disruptive
async def test_dockerd_restart_offline_then_reconciled(
    tmp_path: Path, make_container, docker_api, restart_dockerd
) -> None:  # type: ignore[no-untyped-def]
    survivor = make_container("survivor", command=["sleep", "3600"])
    engine = Engine(make_settings(tmp_path))
    await engine.start()
    sub = engine.subscribe([EventKind.HOST])
    try:
        assert await engine.wait_online(10)
        before = engine.hosts()[0].memory
        assert engine.container(f"local/{survivor['Id']}").running  # type: ignore[union-attr]
        reconciles = engine.monitors["local"].reconciles
        restart = asyncio.create_task(asyncio.to_thread(restart_dockerd))
        await wait_for_event(sub, lambda e: e.data["info"].state is HostState.OFFLINE, 60)
        await restart
        await wait_for_event(sub, lambda e: e.data["info"].state is HostState.ONLINE, 60)
        assert engine.monitors["local"].reconciles > reconciles
        # After the gap the model matches Docker exactly (ids and states).
        docker_view = {
            c["Id"]: docker_api.inspect_container(c["Id"])["State"]["Status"]
            for c in docker_api.containers(all=True)
        }
        engine_view = {c.id: c.state for c in engine.containers()}
        assert engine_view == docker_view
        assert engine.hosts()[0].memory.total == before.total
        entries = await engine.activity(50)
        assert any("host offline" in e.message for e in entries)
    finally:
        sub.close()
        await engine.stop()
