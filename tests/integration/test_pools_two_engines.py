"""Two engines (two state dirs) with the same pool name on one real dockerd (issue 20, should-fix):
each reconciles and collects only its own containers, told apart by the engine id label.

Before: the second engine's reconcile saw the first one's warm container as a pool container
without a row and removed it once past `gc_grace`.
"""

from __future__ import annotations

from pathlib import Path

import docker
import pytest

from clawtui.config import Settings
from clawtui.config.pools import PoolConfig
from clawtui.engine.pools.spec import LABEL_ENGINE, LABEL_POOL
from tests.integration.pool_helpers import pool_settings, running, unique, wait_warm, workload

pytestmark = pytest.mark.timeout(180)


async def test_an_engine_collects_only_its_own_containers(
    tmp_path: Path, docker_api: docker.APIClient, test_labels: dict[str, str], pool_image: str
) -> None:
    name = unique("te")

    def settings(which: str) -> Settings:
        return pool_settings(
            tmp_path / which,
            [workload(name, test_labels)],
            [PoolConfig(name=name, workload=name, min_warm=1, max=2, gc_grace=0)],
        )

    async with running(settings("a"), docker_api) as a:
        await wait_warm(a, name, 1)
        async with running(settings("b"), docker_api) as b:
            await wait_warm(b, name, 1)
            for engine in (b, a, b):
                changes = await engine.pools.reconcile()
                assert not [c for c in changes if "collected" in c], changes
            alive = docker_api.containers(all=True, filters={"label": f"{LABEL_POOL}={name}"})
            assert len(alive) == 2
            assert await a.pools.invariants() == [] and await b.pools.invariants() == []
            assert a.pools.engine_id != b.pools.engine_id
            listed = docker_api.containers(all=True, filters={"label": f"{LABEL_POOL}={name}"})
            owners = sorted(c["Labels"].get(LABEL_ENGINE) for c in listed)
            assert owners == sorted([a.pools.engine_id, b.pools.engine_id]), owners
            # The id is kept in the state dir: a restarted engine is the same engine.
            assert (tmp_path / "b" / "pools" / "engine-id").read_text().strip() == b.pools.engine_id
