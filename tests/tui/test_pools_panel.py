"""The Pools panel over the fake engine with a fake pool manager: tables, events, actions, and
the clear messages when pools are not configured or the engine is remote."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from textual.widgets import DataTable, Input

from clawtui.config import Settings
from clawtui.config.pools import PoolConfig, WorkloadConfig
from clawtui.engine.api.models import EventKind
from clawtui.tui.app import ClawApp
from clawtui.tui.widgets.pools_panel import PoolPrompt, PoolsPanel
from tests.tui.fake_pools import FakePools
from tests.tui.fakes import FakeEngine
from tests.tui.helpers import screen_text, wait_for

pytestmark = pytest.mark.tui

AppFactory = Callable[..., ClawApp]


def pool_settings() -> Settings:
    return Settings(
        workloads=[WorkloadConfig(name="agent", image="x")],
        pools=[PoolConfig(name="agents", workload="agent", max=5)],
    )


async def open_pools(pilot: Any, app: ClawApp) -> PoolsPanel:
    await pilot.press("5")
    await wait_for(pilot, lambda: bool(app.screen.query(PoolsPanel)))
    panel = app.screen.query_one(PoolsPanel)
    await wait_for(pilot, lambda: panel.query_one("#pools-table", DataTable).row_count == 1)
    return panel


async def test_pools_panel_shows_pools_claims_and_actions(
    engine: FakeEngine, make_app: AppFactory
) -> None:
    fake = FakePools()
    engine.pools = fake  # type: ignore[attr-defined]
    await fake.claim("[bold]mallory", "agents")  # markup in a tenant id is shown as text
    app = make_app(pool_settings())
    async with app.run_test(size=(120, 36)) as pilot:
        panel = await open_pools(pilot, app)
        await wait_for(pilot, lambda: panel.query_one("#pools-tenants", DataTable).row_count == 1)
        text = screen_text(app)
        assert "agents" in text and "2/2" in text and "9.8" in text
        assert "[bold]mallory" in text
        # claim through the form
        await pilot.press("c")
        await wait_for(pilot, lambda: isinstance(app.screen, PoolPrompt))
        app.screen.query_one("#prompt-tenant", Input).value = "alice"
        await pilot.click("#prompt-ok")
        await wait_for(pilot, lambda: ("claim", ("alice", "agents")) in fake.calls)
        await wait_for(pilot, lambda: "alice claimed" in panel.status_text)
        await wait_for(pilot, lambda: panel.query_one("#pools-tenants", DataTable).row_count == 2)
        # an engine error lands in the status line
        await pilot.press("c")
        await wait_for(pilot, lambda: isinstance(app.screen, PoolPrompt))
        app.screen.query_one("#prompt-tenant", Input).value = "alice"
        await pilot.click("#prompt-ok")
        await wait_for(pilot, lambda: "already holds" in panel.status_text)
        # sync and release the selected tenant
        panel.query_one("#pools-tenants", DataTable).focus()
        await pilot.press("y")
        await wait_for(pilot, lambda: any(c[0] == "sync" for c in fake.calls))
        await pilot.press("r")
        await wait_for(pilot, lambda: any(c[0] == "release" for c in fake.calls))
        # scale the selected pool
        panel.query_one("#pools-table", DataTable).focus()
        await pilot.press("s")
        await wait_for(pilot, lambda: isinstance(app.screen, PoolPrompt))
        app.screen.query_one("#prompt-min_warm", Input).value = "4"
        await pilot.click("#prompt-ok")
        await wait_for(pilot, lambda: ("scale", ("agents", 4)) in fake.calls)
        # events from the engine are routed to the panel
        engine.bus.publish(EventKind.SYNC, host="local", tenant="alice", pool="agents",
                           mapping="state", direction="upload", phase="started")  # fmt: skip
        await wait_for(pilot, lambda: "syncing alice" in panel.status_text)
        engine.bus.publish(EventKind.POOL, host="local", pool="agents", action="warm",
                           container="pool-agents-9")  # fmt: skip
        await wait_for(pilot, lambda: "pool-agents-9" in screen_text(app))


async def test_pools_panel_without_pools_or_remote(
    engine: FakeEngine, make_app: AppFactory
) -> None:
    app = make_app()  # an engine without a pool manager
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("5")
        await wait_for(pilot, lambda: "not available here" in screen_text(app))
    engine.pools = FakePools()  # type: ignore[attr-defined]
    app = make_app()  # a pool manager, but no [[pools]]
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("5")
        await wait_for(pilot, lambda: "No pools configured" in screen_text(app))
        await pilot.press("c")  # no crash, a clear word
        await pilot.pause()
    engine.is_remote = True  # type: ignore[misc]
    app = make_app()  # remote: the remote engine's pools, whatever the local config says
    async with app.run_test(size=(120, 36)) as pilot:
        panel = await open_pools(pilot, app)
        assert "agents" in screen_text(app)
        assert "No pools configured" not in screen_text(app)
        assert panel.available


async def test_pools_panel_overview_containers_and_tenant_detail(
    engine: FakeEngine, make_app: AppFactory
) -> None:
    fake = FakePools()
    engine.pools = fake  # type: ignore[attr-defined]
    config = {"plan": "pro", "api_token": "tok-VISIBLE-NOT", "db": {"password": "p4ss-NOT"}}
    await fake.claim("alice", "agents", config, {"GITHUB_TOKEN": "ghp-NOT-SHOWN"})
    app = make_app(pool_settings())
    async with app.run_test(size=(140, 48)) as pilot:
        panel = await open_pools(pilot, app)
        containers = panel.query_one("#pools-containers", DataTable)
        await wait_for(pilot, lambda: containers.row_count == 3)
        # the overview: totals across pools
        text = screen_text(app)
        assert "1 pool(s): 2/2 warm, 0 warming, 1 claimed, 3 containers of 5 max" in text
        # the selected pool's containers: state, tenant, health, age, last sync
        assert "Containers of agents" in text
        rows = [[str(cell) for cell in containers.get_row_at(i)] for i in range(3)]
        assert rows[2] == [
            "pool-agents-0", "local", "claimed", "alice", "unhealthy", "5m", "3s ago"
        ]  # fmt: skip
        assert rows[0][:5] == ["pool-agents-w0", "local", "warm", "-", "healthy"]
        # the selected tenant's config (masked) and sync history
        tenants = panel.query_one("#pools-tenants", DataTable)
        tenants.focus()
        await wait_for(pilot, lambda: "sync history" in screen_text(app))
        await wait_for(pilot, lambda: ("sync_history", ("alice",)) in fake.calls)
        text = screen_text(app)
        assert '"plan": "pro"' in text and '"api_token": "********"' in text
        assert '"password": "********"' in text and "GITHUB_TOKEN=********" in text
        assert "tok-VISIBLE-NOT" not in text and "p4ss-NOT" not in text
        assert "ghp-NOT-SHOWN" not in text
        assert "state upload failed" in text and "[red]sink unreachable" in text
        assert "state download ok  2048 B 3 file(s)" in text


async def test_pools_panel_shows_a_lost_claim_with_its_host_and_since_when(
    engine: FakeEngine, make_app: AppFactory
) -> None:
    """A claim whose host went offline (issue 18): the tenants table says `lost on HOST Ns
    ago`, the tenant detail says why; a pool over several hosts lists them all."""
    from tests.tui.fakes import NOW

    fake = FakePools()
    engine.pools = fake  # type: ignore[attr-defined]
    await fake.claim("bob", "agents")
    fake.claims["bob"] = fake.claims["bob"].model_copy(
        update={
            "state": "lost",
            "host": "beta",
            "released_at": NOW - 7,
            "error": "host beta went offline at 2026-12-03 14:00:00 UTC (connection refused)",
        }
    )
    app = make_app(pool_settings())
    async with app.run_test(size=(160, 48)) as pilot:
        panel = await open_pools(pilot, app)
        tenants = panel.query_one("#pools-tenants", DataTable)
        await wait_for(pilot, lambda: tenants.row_count == 1)
        state = str(tenants.get_row_at(0)[5])
        assert state.startswith("lost on beta ") and state.endswith(" ago"), state
        tenants.focus()
        await wait_for(pilot, lambda: "host beta went offline" in screen_text(app))
        assert "on beta  [lost on beta" in screen_text(app)
