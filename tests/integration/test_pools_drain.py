"""A pool's containers and drain (issue 16, seed 004), through the real service: the remote
client (`clawtui --connect`), the REST routes and the CLI verbs, against a real engine, dockerd
and rclone (a local sink)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import docker
import pytest
from textual.widgets import DataTable, Static

from clawtui.cli import main
from clawtui.client.engine import RemoteError
from clawtui.config import Settings
from clawtui.config.pools import PoolConfig
from clawtui.engine.api.models import EventKind
from clawtui.engine.pools.spec import LABEL_POOL
from clawtui.tui.app import ClawApp
from clawtui.tui.widgets.pools_panel import PoolsPanel
from tests.integration.pool_helpers import (
    local_sync,
    pool_settings,
    running,
    sh,
    unique,
    wait_warm,
    workload,
)
from tests.integration.test_pools_service import TOKEN, next_event, served

pytestmark = pytest.mark.timeout(240)
SECRET = "drain-secret-never-shown"


def _pool_containers(api: docker.APIClient, pool: str) -> list[str]:
    listed = api.containers(all=True, filters={"label": f"{LABEL_POOL}={pool}"})
    return sorted(str(c["Names"][0]).lstrip("/") for c in listed)


async def test_containers_and_drain_over_the_service(
    tmp_path: Path,
    docker_api: docker.APIClient,
    test_labels: dict[str, str],
    pool_image: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    name = unique("dr")
    wl = workload(name, test_labels, sync=local_sync(tmp_path / "sink"))
    settings = pool_settings(
        tmp_path / "state", [wl], [PoolConfig(name=name, workload=name, min_warm=2, max=3)]
    )
    async with running(settings, docker_api) as engine, served(engine) as (runner, remote):
        await wait_warm(engine, name, 2)
        pools = remote.pools
        warm = await pools.containers(name)
        assert sorted(c.name for c in warm) == _pool_containers(docker_api, name)
        assert {(c.state, c.tenant, c.health) for c in warm} == {("warm", None, "healthy")}
        assert all(c.age >= 0 and c.last_sync is None for c in warm)

        claim = await pools.claim("ana", name, {"plan": "pro"}, {"token": SECRET})
        sh(docker_api, claim.container, "mkdir -p /state/data && echo hi > /state/data/f")
        assert (await pools.sync("ana", "upload")).ok
        assert (await pools.sync("ana", "upload")).ok
        # the tenant's config and secret names (never the value), and its sync history
        info = await pools.tenant("ana")
        assert (info.config, info.secret_names) == ({"plan": "pro"}, ["token"])
        assert SECRET not in info.model_dump_json()
        history = await pools.sync_history("ana")
        assert [(h.direction, h.status) for h in history][:2] == [("upload", "ok")] * 2
        assert history[0].last_run >= history[1].last_run
        assert len(await pools.sync_history("ana", 1)) == 1
        with pytest.raises(RemoteError, match="limit must be"):
            await pools.sync_history("ana", 0)

        # the Pools panel over the remote engine: the pool's containers and the tenant's detail
        app = ClawApp(remote, Settings(), manage_engine=False)
        async with app.run_test(size=(140, 48)) as pilot:
            await asyncio.wait_for(app.main.panels_ready.wait(), 60)  # composed after frame 1
            await pilot.press("5")
            await pilot.pause()
            panel = app.screen.query_one(PoolsPanel)
            table = panel.query_one("#pools-containers", DataTable)
            for _ in range(200):
                if table.row_count == len(_pool_containers(docker_api, name)):
                    break
                await pilot.pause(0.05)
            cells = {
                str(table.get_row_at(i)[0]): str(table.get_row_at(i)[3])
                for i in range(table.row_count)
            }  # columns: container, host, state, tenant
            assert cells[claim.container] == "ana"
            panel.query_one("#pools-tenants", DataTable).focus()
            detail = panel.query_one("#pools-tenant", Static)
            for _ in range(200):
                if "sync history" in str(detail.render()):
                    break
                await pilot.pause(0.05)
            shown = str(detail.render())
            assert '"plan": "pro"' in shown and "token=********" in shown
            assert SECRET not in shown and "state upload ok" in shown
        listed = {c.name: c for c in await pools.containers(name)}
        mine = listed[claim.container]
        assert (mine.state, mine.tenant, mine.health) == ("claimed", "ana", "healthy")
        assert mine.last_sync is not None and mine.last_sync >= claim.claimed_at

        # the CLI over --connect prints the same rows
        cli = ["--connect", runner.url, "--token", TOKEN, "pool", "containers", name, "--json"]
        assert await asyncio.to_thread(main, cli) == 0
        rows = json.loads(capsys.readouterr().out)
        assert {r["name"]: r["tenant"] for r in rows}[claim.container] == "ana"
        with pytest.raises(RemoteError, match="no pool named"):
            await pools.containers("nope")

        # a drain that cannot wait: not done, names the open claim; claims are refused now
        sub = remote.subscribe([EventKind.POOL])
        first = await pools.drain(name, timeout=0)
        assert (first.done, first.open_claims) == (False, ["ana"])
        assert first.removed >= 1  # the warm one (a refill still warming is left for later)
        await next_event(sub, EventKind.POOL, "draining")
        with pytest.raises(RemoteError, match="is drained"):
            await pools.claim("bob", name)
        [status] = await pools.status()
        assert status.draining and status.warm == 0

        # the drain waits for the claim to end, then removes what is left
        draining = asyncio.create_task(pools.drain(name, timeout=120))
        released = await pools.release("ana")
        assert released.state == "released"
        result = await draining
        assert result.done and result.open_claims == [] and result.remaining == 0
        assert _pool_containers(docker_api, name) == []
        assert await pools.containers(name) == []
        await engine.pools._fill(name)  # the fill leaves a drained pool empty
        assert await engine.pools.containers(name) == []

        # the CLI's drain of an empty pool is done at once (exit 0)
        cli = ["--connect", runner.url, "--token", TOKEN, "pool", "drain", name]
        assert await asyncio.to_thread(main, cli) == 0
        assert "drained: 0 container(s) removed" in capsys.readouterr().out

        # scale puts it back in service
        await pools.scale(name, 1)
        await wait_warm(engine, name, 1)
        [status] = await pools.status()
        assert not status.draining
        cli = ["--connect", runner.url, "--token", TOKEN, "pool", "workers", "--json"]
        assert await asyncio.to_thread(main, cli) == 0
        workers = json.loads(capsys.readouterr().out)
        assert [w["pool"] for w in workers if w["state"] == "warm"] == [name]
