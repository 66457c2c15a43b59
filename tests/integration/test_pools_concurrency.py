"""50 concurrent claims against 5 warm containers: exactly 5 warm wins, the rest as configured."""

from __future__ import annotations

import asyncio
from pathlib import Path

import docker
import pytest

from clawtui.config.pools import PoolConfig
from clawtui.engine.api.pools import ClaimInfo, PoolConflict
from tests.integration.pool_helpers import (
    pool_settings,
    running,
    unique,
    wait_warm,
    workload,
)

pytestmark = pytest.mark.timeout(300)


async def test_fifty_claims_five_warm_refuse(
    tmp_path: Path, docker_api: docker.APIClient, test_labels: dict[str, str], pool_image: str
) -> None:
    name = unique("cc")
    settings = pool_settings(
        tmp_path / "state",
        [workload(name, test_labels)],
        [PoolConfig(name=name, workload=name, min_warm=5, max=5, on_empty="refuse",
                    fill_concurrency=5)],
    )  # fmt: skip
    async with running(settings, docker_api) as engine:
        await wait_warm(engine, name, 5)
        results = await asyncio.gather(
            *(engine.pools.claim(f"tenant-{i}", name, {}, {}) for i in range(50)),
            return_exceptions=True,
        )
        wins = [r for r in results if isinstance(r, ClaimInfo)]
        refused = [r for r in results if isinstance(r, PoolConflict)]
        others = [r for r in results if not isinstance(r, ClaimInfo | PoolConflict)]
        assert others == []
        assert len(wins) == 5
        assert {w.source for w in wins} == {"warm"}
        assert len({w.container for w in wins}) == 5
        assert len(refused) == 45
        assert await engine.pools.invariants() == []
        await engine.pools.reconcile()
        assert await engine.pools.reconcile() == []  # I7
        assert await engine.pools.invariants() == []
        for w in wins:
            await engine.pools.release(w.tenant, sync=False)
        assert await engine.pools.invariants(filling=True) == []


async def test_fifty_claims_five_warm_then_cold(
    tmp_path: Path, docker_api: docker.APIClient, test_labels: dict[str, str], pool_image: str
) -> None:
    """With cold starts allowed and max 8: the 5 warm containers go to 5 claims; the room left
    (3) is shared by cold starts and the refill the warm claims triggered, and a claim that
    finds the pool full while a refill container is still warming waits for it (issue 15), so
    it wins warm. Nothing goes past max; the rest are refused as full."""
    name = unique("cw")
    settings = pool_settings(
        tmp_path / "state",
        [workload(name, test_labels)],
        [PoolConfig(name=name, workload=name, min_warm=5, max=8, on_empty="cold",
                    fill_concurrency=5)],
    )  # fmt: skip
    async with running(settings, docker_api) as engine:
        await wait_warm(engine, name, 5)
        results = await asyncio.gather(
            *(engine.pools.claim(f"tenant-{i}", name, {}, {}) for i in range(50)),
            return_exceptions=True,
        )
        wins = [r for r in results if isinstance(r, ClaimInfo)]
        refused = [r for r in results if isinstance(r, PoolConflict)]
        assert [r for r in results if not isinstance(r, ClaimInfo | PoolConflict)] == []
        sources = [w.source for w in wins]
        assert sources.count("warm") >= 5
        # The other 3 places: cold starts, or refill containers a waiting claim took warm.
        assert sources.count("cold") <= 3
        assert len(wins) <= 8
        assert len(wins) + len(refused) == 50
        assert all("full" in str(r) for r in refused)
        assert len({w.container for w in wins}) == len(wins)
        assert await engine.pools.invariants() == []
        await engine.pools.reconcile()
        assert await engine.pools.reconcile() == []
