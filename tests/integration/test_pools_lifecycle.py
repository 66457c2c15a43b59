"""The pool manager's background work: idle release, periodic sync, unhealthy replacement,
garbage collection of unknown pool containers, scale down."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import docker
import pytest

from clawtui.config.pools import PoolConfig
from clawtui.engine.pools.spec import LABEL_POOL, LABEL_ROLE
from tests.integration.pool_helpers import (
    WORKLOAD_IMAGE,
    local_sync,
    pool_settings,
    running,
    sh,
    unique,
    wait_warm,
    workload,
)

pytestmark = pytest.mark.timeout(240)


async def until(pred: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while True:
        value = pred() if callable(pred) else None
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.1)


async def test_periodic_sync_then_idle_release(
    tmp_path: Path, docker_api: docker.APIClient, test_labels: dict[str, str], pool_image: str
) -> None:
    sink = tmp_path / "sink"
    name = unique("ip")
    wl = workload(name, test_labels, sync=local_sync(sink, interval=0.5))
    settings = pool_settings(
        tmp_path / "state",
        [wl],
        [PoolConfig(name=name, workload=name, min_warm=1, max=2, idle_timeout=4)],
    )
    async with running(settings, docker_api) as engine:
        await wait_warm(engine, name, 1)
        claim = await engine.pools.claim("ivy", name)
        sh(docker_api, claim.container, "mkdir -p /state/data && echo tick > /state/data/p.txt")
        saved = sink / "tenants" / "ivy" / "data" / "p.txt"
        await until(saved.exists, 10, "the periodic upload")
        assert saved.read_text() == "tick\n"
        # no activity (periodic syncs refresh it, so stop writing and wait for idle release)

        async def released() -> bool:
            return (await engine.pools.tenant("ivy")).state == "released"

        await until(released, 30, "the idle release")
        with pytest.raises(docker.errors.NotFound):
            docker_api.inspect_container(claim.container)
        assert await engine.pools.invariants(filling=True) == []


async def test_unhealthy_warm_container_is_replaced_and_strays_collected(
    tmp_path: Path, docker_api: docker.APIClient, test_labels: dict[str, str], pool_image: str
) -> None:
    name = unique("uh")
    wl = workload(name, test_labels, health=["sh", "-c", "test ! -e /state/sick"])
    settings = pool_settings(
        tmp_path / "state",
        [wl],
        [PoolConfig(name=name, workload=name, min_warm=1, max=3, gc_grace=0)],
    )
    async with running(settings, docker_api) as engine:
        await wait_warm(engine, name, 1)
        status = await engine.pools.status()
        rows = await engine.pools.tenants()
        assert rows == [] and status[0].warm == 1
        first = next(
            c["Names"][0].lstrip("/")
            for c in docker_api.containers(filters={"label": f"{LABEL_POOL}={name}"})
        )
        (engine.pools.root / first / "state" / "sick").write_text("x")

        def replaced() -> bool:
            names = [
                c["Names"][0].lstrip("/")
                for c in docker_api.containers(all=True, filters={"label": f"{LABEL_POOL}={name}"})
            ]
            return first not in names

        await until(replaced, 30, "the unhealthy container to be removed")
        await wait_warm(engine, name, 1)
        # a pool container the store does not know is collected (grace 0)
        stray = docker_api.create_container(
            WORKLOAD_IMAGE,
            command=["sleep", "60"],
            name=f"pool-{name}-stray",
            labels={**test_labels, LABEL_ROLE: "pool", LABEL_POOL: name},
        )
        changes = await engine.pools.reconcile()
        assert any("collected unknown" in c for c in changes)
        with pytest.raises(docker.errors.NotFound):
            docker_api.inspect_container(stray["Id"])
        assert await engine.pools.reconcile() == []
        # scale down to 0 removes the warm container
        await engine.pools.scale(name, 0)
        await until(
            lambda: not docker_api.containers(all=True, filters={"label": f"{LABEL_POOL}={name}"}),
            20,
            "scale to 0",
        )
        assert await engine.pools.invariants() == []
