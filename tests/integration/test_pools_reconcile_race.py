"""Reconcile and a release in flight (issue 20, item 9): reconcile leaves a claim alone while a
release owns it, and a release that loses its claim to a concurrent writer says so (PoolConflict),
instead of both finishing the same release (the state machine's "a second reconcile changed:
finished release of t0", and a CasFailed caught by neither side).

The engines here run without the background loop (`pools.background = False`), so nothing moves
but what the test does. The crash is real: a child engine dies (os._exit) after the upload.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from pathlib import Path

import docker
import pytest

from clawtui.config import Settings
from clawtui.config.pools import PoolConfig
from clawtui.engine.api.pools import PoolConflict
from clawtui.engine.core import Engine
from clawtui.engine.pools import store as ps
from clawtui.engine.pools.crash import CRASH_ENV
from clawtui.engine.pools.spec import LABEL_POOL
from tests.integration.pool_helpers import local_sync, pool_settings, unique, workload

pytestmark = pytest.mark.timeout(180)
ROOT = Path(__file__).resolve().parents[2]


@asynccontextmanager
async def stepped(settings: Settings) -> AsyncIterator[Engine]:
    engine = Engine(settings)
    engine.pools.background = False
    await engine.start()
    try:
        assert await engine.wait_online(30)
        yield engine
    finally:
        await engine.stop()


def crash_release_after_upload(settings: Settings, tmp: Path, tenant: str) -> None:
    """A child engine releases `tenant` and dies right after the upload was recorded."""
    path = tmp / "settings.json"
    path.write_text(json.dumps(settings.model_dump(mode="json")))
    env = {**os.environ, CRASH_ENV: "release.after_upload", "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-m", "tests.integration.pool_crash_child", str(path), "release", tenant],
        env=env, capture_output=True, text=True, timeout=90, check=False,
    )  # fmt: skip
    assert proc.returncode == 137, proc.stderr[-2000:]


@pytest.fixture
def crashed(
    tmp_path: Path, docker_api: docker.APIClient, test_labels: dict[str, str], pool_image: str
) -> Settings:
    """A pool whose tenant t0 is `releasing` with its upload saved and its container alive."""
    name = unique("rr")
    settings = pool_settings(
        tmp_path / "state",
        [workload(name, test_labels, sync=local_sync(tmp_path / "sink"))],
        [PoolConfig(name=name, workload=name, min_warm=0, max=2)],
    )

    async def claim() -> None:
        async with stepped(settings) as engine:
            info = await engine.pools.claim("t0", name)
            state = engine.pools.root / info.container / "state" / "data"
            state.mkdir(parents=True, exist_ok=True)
            (state / "f.txt").write_text("saved\n")

    asyncio.run(claim())
    crash_release_after_upload(settings, tmp_path, "t0")
    yield settings
    for c in docker_api.containers(all=True, filters={"label": f"{LABEL_POOL}={name}"}):
        with suppress(docker.errors.APIError):
            docker_api.remove_container(c["Id"], force=True, v=True)


async def test_reconcile_leaves_a_claim_alone_while_its_release_runs(crashed: Settings) -> None:
    async with stepped(crashed) as engine:
        pools = engine.pools
        claim = await engine.store.arun(lambda c: ps.open_claim(c, "t0"))
        assert claim is not None
        assert (claim.state, claim.release_sync) == ("releasing", "ok")
        # Hold the release at its first wait (a running sync of the tenant finishes first), so
        # the reconcile below runs while the release is in flight, every time.
        pools._syncing.add("t0")
        release = asyncio.create_task(pools.release("t0"))
        await asyncio.sleep(0)
        assert "t0" in pools._releasing
        changes = await pools.reconcile()
        assert not [c for c in changes if "t0" in c], changes
        pools._syncing.discard("t0")
        info = await release
        assert info.state == "released"
        assert await pools.reconcile() == []
        assert await pools.invariants() == []
        last = await engine.store.arun(lambda c: ps.last_claim(c, "t0"))
        assert last is not None
        assert (last.state, last.release_sync) == ("released", "ok")


async def test_a_release_that_lost_its_claim_meanwhile_is_a_conflict(crashed: Settings) -> None:
    async with stepped(crashed) as engine:
        stale = await engine.store.arun(lambda c: ps.open_claim(c, "t0"))
        assert stale is not None
        changes = await engine.pools.reconcile()
        assert "finished release of t0" in changes
        # A second finisher holding the row it read before the reconcile finished the release.
        with pytest.raises(PoolConflict):
            await engine.pools._finish_release(stale)
        assert await engine.pools.reconcile() == []
