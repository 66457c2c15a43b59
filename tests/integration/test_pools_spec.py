"""A workload whose spec changes: warm containers of the old spec are replaced on the next
start (reconcile), a claimed one of the old spec stays with its tenant until released."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import docker
import pytest

from clawtui.config.pools import PoolConfig
from clawtui.engine.core import Engine
from clawtui.engine.pools.spec import LABEL_POOL, LABEL_SPEC, spec_hash
from tests.integration.engine_helpers import wait_until
from tests.integration.pool_helpers import pool_settings, running, sh, unique, wait_warm, workload

pytestmark = pytest.mark.timeout(240)


def pool_containers(api: docker.APIClient, pool: str) -> dict[str, dict[str, Any]]:
    listed = api.containers(all=True, filters={"label": f"{LABEL_POOL}={pool}"})
    return {c["Names"][0].lstrip("/"): c for c in listed}


async def test_spec_change_replaces_warm_and_keeps_claimed(
    tmp_path: Path, docker_api: docker.APIClient, test_labels: dict[str, str], pool_image: str
) -> None:
    name = unique("sp")
    pool = PoolConfig(name=name, workload=name, min_warm=2, max=5)
    old_wl = workload(name, test_labels)
    new_wl = workload(name, test_labels)
    new_wl = new_wl.model_copy(update={"env": {**new_wl.env, "STATIC": "2"}})
    old_spec, new_spec = spec_hash(old_wl, pool), spec_hash(new_wl, pool)
    assert old_spec != new_spec
    state = tmp_path / "state"

    # 1. The old spec: two warm, one of them claimed; the engine stops (containers stay).
    engine = Engine(pool_settings(state, [old_wl], [pool]))
    await engine.start()
    try:
        assert await engine.wait_online(20)
        await wait_warm(engine, name, 2)
        old_claim = await engine.pools.claim("alice", name)
        sh(docker_api, old_claim.container, "mkdir -p /state/work && echo mine > /state/work/f")
        await wait_warm(engine, name, 2)
    finally:
        await engine.stop()
    before = pool_containers(docker_api, name)
    assert {c["Labels"][LABEL_SPEC] for c in before.values()} == {old_spec}
    old_warm = set(before) - {old_claim.container}
    assert len(old_warm) >= 2

    # 2. The workload's env changed in settings; the engine starts again and reconciles.
    async with running(pool_settings(state, [new_wl], [pool]), docker_api) as engine:

        def replaced() -> bool:
            now = pool_containers(docker_api, name)
            fresh = [
                c
                for n, c in now.items()
                if c["Labels"][LABEL_SPEC] == new_spec and c["State"] == "running"
            ]
            return not (old_warm & set(now)) and len(fresh) >= 2

        await wait_until(replaced, 60, "old-spec warm containers replaced by new-spec ones")
        await wait_warm(engine, name, 2)
        now = pool_containers(docker_api, name)
        # The tenant's container of the old spec is untouched: same container, still running,
        # still its files, still its claim.
        assert now[old_claim.container]["Labels"][LABEL_SPEC] == old_spec
        assert now[old_claim.container]["State"] == "running"
        assert sh(docker_api, old_claim.container, "cat /state/work/f") == "mine\n"
        info = await engine.pools.tenant("alice")
        assert (info.state, info.container) == ("active", old_claim.container)
        olds = [n for n, c in now.items() if c["Labels"][LABEL_SPEC] == old_spec]
        assert olds == [old_claim.container]
        assert await engine.pools.invariants(filling=True) == []
        assert await engine.pools.reconcile() == []  # I7: nothing left to do

        # A new claim gets the new spec.
        bob = await engine.pools.claim("bob", name)
        assert bob.source == "warm"
        env = docker_api.inspect_container(bob.container)["Config"]["Env"]
        assert pool_containers(docker_api, name)[bob.container]["Labels"][LABEL_SPEC] == new_spec
        assert "STATIC=2" in env

        # Releasing the old-spec container destroys it; it is not put back as warm.
        await engine.pools.release("alice")
        with pytest.raises(docker.errors.NotFound):
            docker_api.inspect_container(old_claim.container)
        await wait_warm(engine, name, 2)
        specs = {c["Labels"][LABEL_SPEC] for c in pool_containers(docker_api, name).values()}
        assert specs == {new_spec}
        await engine.pools.release("bob")
        assert await engine.pools.invariants(filling=True) == []
