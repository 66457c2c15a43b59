"""Claims on a pool whose room is taken by containers still warming wait for them (issue 15).

Seen before the fix: 20 claims at once on 3 warm / max 8 served 6 and refused 14 while 2 were
still warming. Here the health check passes only once the test touches /tmp/ready in a
container, so which containers are warming when is up to the test, not to timing: 3 are made
warm, 2 are held warming, every other container (cold ones, refills) is made ready as soon as it
exists. 20 claims start; until the 2 held ones are let go nothing may be refused; then all 8 the
pool can hold are served and the other 12 refused as "full".
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import docker
import pytest

from clawtui.config.pools import HealthcheckSpec, PoolConfig
from clawtui.engine.api.pools import ClaimInfo, PoolConflict
from clawtui.engine.pools.spec import LABEL_POOL
from tests.integration.pool_helpers import pool_settings, running, sh, unique, wait_warm, workload

pytestmark = pytest.mark.timeout(300)


def pool_containers(api: docker.APIClient, pool: str) -> list[str]:
    return [
        c["Id"]
        for c in api.containers(filters={"label": f"{LABEL_POOL}={pool}", "status": "running"})
    ]


async def test_claims_wait_for_warming_containers_instead_of_full(
    tmp_path: Path, docker_api: docker.APIClient, test_labels: dict[str, str], pool_image: str
) -> None:
    name = unique("wq")
    wl = workload(name, test_labels)
    wl = wl.model_copy(  # healthy once /tmp/ready exists; "starting" (not failing) until then
        update={
            "healthcheck": HealthcheckSpec(
                command=["test", "-f", "/tmp/ready"], interval=0.2, timeout=2, start_period=900
            )
        }
    )
    pool = PoolConfig(name=name, workload=name, min_warm=5, max=8, claim_timeout=120)
    settings = pool_settings(tmp_path / "state", [wl], [pool])
    async with running(settings, docker_api) as engine:
        # three made ready as they come (the pool fills fill_concurrency at a time), then the
        # next two the refill starts are held warming
        touched: set[str] = set()
        while len(touched) < 3:
            for cid in pool_containers(docker_api, name):
                if cid not in touched and len(touched) < 3:
                    await asyncio.to_thread(sh, docker_api, cid, "touch /tmp/ready")
                    touched.add(cid)
            await asyncio.sleep(0.1)
        await wait_warm(engine, name, 3)
        for _ in range(1200):  # the refill starts two more: held warming
            held = set(pool_containers(docker_api, name)) - touched
            if len(held) >= 2:
                break
            await asyncio.sleep(0.1)
        status = {s.name: s for s in await engine.pools.status()}[name]
        assert (status.warm, status.warming) == (3, 2)

        stop = asyncio.Event()

        async def make_ready() -> None:  # every container but the held ones turns healthy
            done: set[str] = set(touched)
            while not stop.is_set():
                for cid in pool_containers(docker_api, name):
                    if cid not in held and cid not in done:
                        with contextlib.suppress(docker.errors.APIError):
                            await asyncio.to_thread(sh, docker_api, cid, "touch /tmp/ready")
                            done.add(cid)
                await asyncio.sleep(0.1)

        toucher = asyncio.create_task(make_ready())
        try:
            tasks = [asyncio.create_task(engine.pools.claim(f"t{n}", name)) for n in range(20)]
            pending = set(tasks)
            finished = 0
            while finished < 6:  # 3 warm + 3 cold: all the free room there is
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                finished += len(done)
                for task in done:
                    assert task.exception() is None, f"refused while 2 were warming: {task}"
            assert finished == 6 and len(pending) == 14  # the rest wait for the warming two
            for cid in held:
                await asyncio.to_thread(sh, docker_api, cid, "touch /tmp/ready")
            results = await asyncio.gather(*tasks, return_exceptions=True)
        finally:
            stop.set()
            await toucher
        served = [r for r in results if isinstance(r, ClaimInfo)]
        refused = [r for r in results if isinstance(r, PoolConflict)]
        assert len(served) == 8, results
        assert len(refused) == 12 and all("is full" in str(r) for r in refused)
        assert len({c.container for c in served}) == 8
        assert {c.container for c in served} >= {c.container for c in served if c.source == "warm"}
        held_names = {docker_api.inspect_container(cid)["Name"].lstrip("/") for cid in held}
        assert held_names <= {c.container for c in served}  # the waiters got the held two
