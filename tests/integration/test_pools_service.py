"""Pools through the service: `RemoteEngine.pools` (what `clawtui --connect` uses), the Pools
panel over it, and the pool families of `/metrics`, against a real engine, pool and rclone."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import docker
import pytest
from prometheus_client.parser import text_string_to_metric_families
from textual.widgets import DataTable

from clawtui.client.engine import RemoteEngine, RemoteError
from clawtui.config import Settings
from clawtui.config.pools import PoolConfig
from clawtui.engine.api.models import EventKind
from clawtui.engine.core import Engine
from clawtui.service.runner import ServiceRunner
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

pytestmark = pytest.mark.timeout(240)
TOKEN = "t0ken-for-pool-remote-0123456789abcdef"
SECRET = "remote-client-secret-never-shown"

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@asynccontextmanager
async def served(engine: Engine) -> AsyncIterator[tuple[ServiceRunner, RemoteEngine]]:
    runner = ServiceRunner(engine, engine.settings, token=TOKEN, listen=("127.0.0.1", 0))
    await runner.start()
    remote = RemoteEngine(runner.url, TOKEN)
    await remote.start()
    try:
        await asyncio.wait_for(remote.connected.wait(), 10)
        yield runner, remote
    finally:
        await remote.stop()
        await runner.stop()


async def scrape(url: str) -> Samples:
    """/metrics parsed by prometheus_client's own text-format parser."""
    async with (
        aiohttp.ClientSession(headers={"Authorization": f"Bearer {TOKEN}"}) as s,
        s.get(f"{url}/metrics") as r,
    ):
        assert r.status == 200
        text = await r.text()
    out: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, tuple(sorted(labels.items()))))


async def next_event(sub: Any, kind: EventKind, action: str, timeout: float = 10) -> Any:
    async def wait() -> Any:
        while True:
            ev = await sub.get()
            if ev.kind is kind and ev.data.get("action", ev.data.get("phase")) == action:
                return ev

    return await asyncio.wait_for(wait(), timeout)


async def test_remote_engine_pools_panel_and_metrics(
    tmp_path: Path, docker_api: docker.APIClient, test_labels: dict[str, str], pool_image: str
) -> None:
    sink = tmp_path / "sink"
    name = unique("rp")
    wl = workload(name, test_labels, sync=local_sync(sink))
    settings = pool_settings(
        tmp_path / "state", [wl], [PoolConfig(name=name, workload=name, min_warm=1, max=3)]
    )
    async with running(settings, docker_api) as engine, served(engine) as (runner, remote):
        await wait_warm(engine, name, 1)
        pools = remote.pools
        [status] = await pools.status()
        assert (status.name, status.warm, status.max, status.host) == (name, 1, 3, "local")

        sub = remote.subscribe([EventKind.POOL, EventKind.SYNC])
        claim = await pools.claim("rita", name, {"plan": "pro"}, {"token": SECRET})
        assert (claim.tenant, claim.source, claim.state) == ("rita", "warm", "active")
        assert sh(docker_api, claim.container, "cat /run/secrets/token") == SECRET
        event = await next_event(sub, EventKind.POOL, "claimed")  # forwarded by the stream
        assert (event.data["tenant"], event.data["container"]) == ("rita", claim.container)
        assert SECRET not in event.model_dump_json()
        assert [t.tenant for t in await pools.tenants()] == ["rita"]
        assert (await pools.tenant("rita")).container == claim.container

        # The service's refusals arrive as RemoteError with its own words.
        with pytest.raises(RemoteError, match="no pool named"):
            await pools.claim("tom", "nope")
        with pytest.raises(RemoteError, match="already holds"):
            await pools.claim("rita", name)

        # The Pools panel lists the remote engine's pool and tenant (no pools in local config).
        app = ClawApp(remote, Settings(), manage_engine=False)
        async with app.run_test(size=(140, 40)) as pilot:
            await asyncio.wait_for(app.main.panels_ready.wait(), 60)  # composed after frame 1
            await pilot.press("5")
            await pilot.pause()
            panel = app.screen.query_one(PoolsPanel)
            table = panel.query_one("#pools-table", DataTable)
            tenants = panel.query_one("#pools-tenants", DataTable)
            for _ in range(100):
                if table.row_count == 1 and tenants.row_count == 1:
                    break
                await pilot.pause(0.05)
            assert table.row_count == 1 and tenants.row_count == 1
            assert str(table.get_row_at(0)[0]) == name
            assert str(tenants.get_row_at(0)[2]) == claim.container

        samples = await scrape(runner.url)
        assert value(samples, "clawtui_pool_claimed", pool=name, host="local") == 1
        assert value(samples, "clawtui_pool_max", pool=name, host="local") == 3
        assert value(samples, "clawtui_pool_warm", pool=name, host="local") is not None
        assert value(samples, "clawtui_pool_unhealthy", pool=name, host="local") == 0

        sh(docker_api, claim.container, "mkdir -p /state/data && echo 0123456789 > /state/data/f")
        result = await pools.sync("rita", "upload")
        assert result.ok and [r.status for r in result.runs] == ["ok"]
        await next_event(sub, EventKind.SYNC, "finished")
        released = await pools.release("rita")
        assert released.state == "released"
        with pytest.raises(docker.errors.NotFound):
            docker_api.inspect_container(claim.container)
        await next_event(sub, EventKind.POOL, "released")
        with pytest.raises(RemoteError, match="holds no container"):
            await pools.release("rita")

        samples = await scrape(runner.url)
        assert value(samples, "clawtui_pool_claimed", pool=name, host="local") == 0
        hist = "clawtui_pool_claim_seconds"
        assert value(samples, f"{hist}_count", pool=name, source="warm") == 1
        assert value(samples, f"{hist}_bucket", pool=name, source="warm", le="+Inf") == 1
        assert value(samples, f"{hist}_bucket", pool=name, source="warm", le="30.0") == 1
        assert (value(samples, f"{hist}_sum", pool=name, source="warm") or 0) > 0
        assert value(samples, f"{hist}_count", pool=name, source="cold") is None
        assert value(samples, "clawtui_pool_claims_total", pool=name, outcome="warm") == 1
        assert value(samples, "clawtui_pool_claims_total", pool=name, outcome="conflict") == 1
        assert value(samples, "clawtui_pool_claims_total", pool="", outcome="unknown_pool") == 1
        assert value(samples, "clawtui_pool_releases_total", pool=name, outcome="ok") == 1
        assert value(samples, "clawtui_pool_releases_total", pool=name, outcome="not_found") == 1
        runs = "clawtui_pool_sync_runs_total"
        # the manual sync and the release's upload
        assert value(samples, runs, pool=name, direction="upload", result="ok") == 2
        assert (
            value(samples, "clawtui_pool_sync_bytes_total", pool=name, direction="upload") or 0
        ) >= 11
        assert value(samples, "clawtui_pool_sync_seconds_count", pool=name, direction="upload") == 2
