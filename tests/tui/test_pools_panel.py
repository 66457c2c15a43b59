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
from clawtui.engine.api.pools import ClaimInfo, PoolConflict, PoolStatus, SyncResult, SyncState
from clawtui.tui.app import ClawApp
from clawtui.tui.widgets.pools_panel import PoolPrompt, PoolsPanel
from tests.tui.fakes import NOW, FakeEngine
from tests.tui.helpers import screen_text, wait_for

pytestmark = pytest.mark.tui

AppFactory = Callable[..., ClawApp]


class FakePools:
    """The PoolsAPI in memory: records calls, answers like the engine."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...]]] = []
        self.claims: dict[str, ClaimInfo] = {}
        self.target = 2

    async def status(self) -> list[PoolStatus]:
        return [
            PoolStatus(name="agents", workload="agent", host="local", target=self.target, max=5,
                       warm=2, claimed=len(self.claims), total=2 + len(self.claims),
                       warm_p50_ms=3.2, warm_p99_ms=9.8),
        ]  # fmt: skip

    async def tenants(self) -> list[ClaimInfo]:
        return list(self.claims.values())

    async def claim(
        self, tenant: str, pool_name: str, config: Any = None, secrets: Any = None
    ) -> ClaimInfo:
        self.calls.append(("claim", (tenant, pool_name)))
        if tenant in self.claims:
            raise PoolConflict(f"tenant {tenant} already holds a container")
        info = ClaimInfo(
            tenant=tenant, pool=pool_name, container=f"pool-agents-{len(self.claims)}",
            host="local", state="active", source="warm", claimed_at=NOW - 5,
            last_activity=NOW, latency_ms=4.0,
            sync=[SyncState(mapping="state", direction="download", status="ok",
                            last_run=NOW - 3, bytes=10, files=1, duration=0.1)],
        )  # fmt: skip
        self.claims[tenant] = info
        return info

    async def release(self, tenant: str, *, sync: bool = True, force: bool = False) -> ClaimInfo:
        self.calls.append(("release", (tenant,)))
        info = self.claims.pop(tenant)
        return info.model_copy(update={"state": "released"})

    async def sync(self, tenant: str, direction: str = "upload") -> SyncResult:
        self.calls.append(("sync", (tenant, direction)))
        return SyncResult(tenant=tenant, ok=True, runs=[])

    async def scale(self, pool_name: str, min_warm: int) -> PoolStatus:
        self.calls.append(("scale", (pool_name, min_warm)))
        self.target = min_warm
        return (await self.status())[0]


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
