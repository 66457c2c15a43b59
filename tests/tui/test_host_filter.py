"""Every container view over several hosts (issue 18): `H` cycles a host filter, `/` filters by
text, and the line under the header says which filter is on: the Fleet table, the Dev
containers cards and the Pools tables (one implementation, widgets/host_filter.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from textual.widgets import DataTable, Label

from clawtui.engine.api.models import MIB, ContainerStats
from clawtui.engine.api.pools import ClaimInfo, PoolContainer
from clawtui.tui.app import ClawApp
from clawtui.tui.widgets.container_table import ContainerTable
from clawtui.tui.widgets.devbox_panel import DevboxesPanel
from clawtui.tui.widgets.host_filter import RowFilter
from tests.tui.conftest import SIZE
from tests.tui.fake_pools import FakePools
from tests.tui.fakes import FakeEngine, container, fixed_clock, host
from tests.tui.helpers import cell, row_keys, screen_text, wait_for

pytestmark = pytest.mark.tui

AppFactory = Callable[..., ClawApp]


def _hosts_of(table: ContainerTable) -> set[str]:
    return {table.infos[k].host for k in row_keys(table)}


@pytest.fixture
def three_hosts(engine: FakeEngine) -> FakeEngine:
    engine.put_host(host("build-1", url="tcp://build-1:2376"), publish=False)
    engine.put_host(host("gpu-box", url="ssh://admin@gpu-box"), publish=False)
    for cid, name, where in (
        ("d1", "web-build", "build-1"),
        ("d2", "worker-build", "build-1"),
        ("e1", "web-gpu", "gpu-box"),
    ):
        engine.put_container(container(cid, name, host=where), publish=False)
    return engine


async def test_shift_h_cycles_hosts_and_back_to_all(
    make_app: AppFactory, three_hosts: FakeEngine
) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        table = app.screen.query_one("#fleet-table", ContainerTable)
        await wait_for(pilot, lambda: table.row_count > 0)
        everything = set(row_keys(table))
        assert _hosts_of(table) == {"local", "build-1", "gpu-box"}
        table.focus()
        seen = []
        for _ in range(3):
            await pilot.press("H")
            await pilot.pause()
            seen.append(table.host_filter)
            assert _hosts_of(table) == {table.host_filter}
            assert "H: next host" in screen_text(app)
        assert seen == ["build-1", "gpu-box", "local"]
        await pilot.press("H")
        await pilot.pause()
        assert table.host_filter is None and set(row_keys(table)) == everything

        # A change on a filtered-out host is kept, and shown once that host is shown.
        await pilot.press("H")  # build-1
        await pilot.pause()
        late = container("f9", "late-gpu", host="gpu-box")
        three_hosts.put_container(late)
        await pilot.pause(0.2)
        assert late.key not in table.infos
        await pilot.press("H")  # gpu-box
        await wait_for(pilot, lambda: late.key in table.infos)


async def test_slash_filters_by_text_and_stats_still_update(
    make_app: AppFactory, three_hosts: FakeEngine
) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        table = app.screen.query_one("#fleet-table", ContainerTable)
        await wait_for(pilot, lambda: table.row_count > 0)
        table.focus()
        await pilot.press("slash")
        await pilot.press(*"web")
        await pilot.press("enter")
        await wait_for(pilot, lambda: table.text_filter == "web")
        names = sorted(table.infos[k].name for k in row_keys(table))
        assert names == ["web-build", "web-gpu"]
        assert app.focused is table
        assert "matching 'web'" in screen_text(app)
        # Stats of a shown row update its cells; a hidden row's sample is kept for later.
        web = next(k for k in row_keys(table) if table.infos[k].name == "web-gpu")
        cid = web.split("/", 1)[1]
        table.apply_stats("gpu-box", {cid: ContainerStats(cpu_percent=42.0, mem_used=9 * MIB)})
        assert cell(table, web, "cpu") == "42.0"
        # "gpu" matches the host column too; clearing the text shows every row again.
        await pilot.press("slash")
        for _ in range(3):
            await pilot.press("backspace")
        await pilot.press(*"gpu")
        await wait_for(pilot, lambda: table.text_filter == "gpu")
        assert _hosts_of(table) == {"gpu-box"}
        for _ in range(3):
            await pilot.press("backspace")
        await pilot.press("enter")
        await wait_for(pilot, lambda: table.text_filter == "")
        assert _hosts_of(table) == {"local", "build-1", "gpu-box"}
        assert cell(table, web, "cpu") == "42.0"


# -- the same filter in the Dev containers and Pools views ------------------------------------
def test_row_filter_passes_cycles_and_describes() -> None:
    f = RowFilter()
    assert f.passes("a", "web") and not f.active and f.describe(3) == ""
    assert [f.next_host(["b", "a", "b"])] == ["a"]
    f.host = "a"
    assert f.next_host(["b", "a"]) == "b"
    f.host = "b"
    assert f.next_host(["b", "a"]) is None  # back to every host
    f.host, f.text = "a", "WEB"
    assert f.passes("a", "my-web-1") and not f.passes("b", "my-web-1")
    assert not f.passes("a", "db") and f.active
    assert f.describe(1) == "showing 1: host a (H: next host) · matching 'WEB' (/: change)"
    f.host = None
    assert f.passes("web-host", "db")  # the host is one of the texts


def _shown_cards(panel: DevboxesPanel) -> set[str]:
    return {c.info.name for c in panel.card_list.cards if c.display}


def _filter_line(app: ClawApp, prefix: str) -> str:
    label = app.screen.query_one(f"#{prefix}-filter-state", Label)
    return str(label.render()) if label.display else ""


async def test_dev_containers_host_badge_slash_and_shift_h(
    make_app: AppFactory, three_hosts: FakeEngine
) -> None:
    three_hosts.put_container(
        container("d7", "dev-build", host="build-1", labels={"clawtui.role": "devbox"}),
        publish=False,
    )
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("4")
        await wait_for(pilot, lambda: bool(app.screen.query(DevboxesPanel)))
        panel = app.screen.query_one(DevboxesPanel)
        await wait_for(pilot, lambda: len(panel.card_list.cards) == 3)
        everything = {"agent-alpha", "dev-sam", "dev-build"}
        assert _shown_cards(panel) == everything
        # The host column: each card names its host, as the cards are on two hosts.
        badges = {c.info.name: str(c.host_label.render()) for c in panel.card_list.cards}
        assert badges == {"agent-alpha": "local", "dev-sam": "local", "dev-build": "build-1"}
        assert all(c.host_label.display for c in panel.card_list.cards)
        assert _filter_line(app, "devbox") == ""
        panel.focus_first()
        seen = []
        for _ in range(2):
            await pilot.press("H")
            await pilot.pause()
            seen.append(panel.row_filter.host)
            assert {c.info.host for c in panel.card_list.cards if c.display} == {seen[-1]}
            assert f"host {seen[-1]} (H: next host)" in _filter_line(app, "devbox")
        assert seen == ["build-1", "local"]
        assert _shown_cards(panel) == {"agent-alpha", "dev-sam"}
        assert _filter_line(app, "devbox").startswith("showing 2:")
        await pilot.press("H")  # every host again
        await pilot.pause()
        assert panel.row_filter.host is None and _shown_cards(panel) == everything
        assert _filter_line(app, "devbox") == ""
        # `/`: part of a name (any case); Enter gives the keyboard back to a card.
        await pilot.press("slash")
        await pilot.press(*"SAM")
        await wait_for(pilot, lambda: _shown_cards(panel) == {"dev-sam"})
        assert "matching 'SAM'" in _filter_line(app, "devbox")
        await pilot.press("enter")
        await pilot.pause()
        assert app.focused is panel.cards[next(k for k in panel.cards if "c3" in k)].slider
        # A card that arrives while filtered out stays hidden until the filter lets it in.
        late = container("d8", "dev-late", labels={"clawtui.role": "devbox"})
        three_hosts.put_container(late)
        await wait_for(pilot, lambda: late.key in panel.cards)
        assert not panel.cards[late.key].display


class TwoHostPools(FakePools):
    """FakePools with globex's claim on build-1 and every other row on local."""

    async def claim(
        self, tenant: str, pool_name: str, config: Any = None, secrets: Any = None
    ) -> ClaimInfo:
        info = await super().claim(tenant, pool_name, config, secrets)
        if tenant == "globex":
            info = self.claims[tenant] = info.model_copy(update={"host": "build-1"})
        return info

    async def containers(self, pool_name: str) -> list[PoolContainer]:
        where = {c.container: c.host for c in self.claims.values()}
        rows = await super().containers(pool_name)
        return [r.model_copy(update={"host": where.get(r.name, r.host)}) for r in rows]


def _column(table: DataTable[Any], label: str) -> list[str]:
    index = [str(c.label) for c in table.columns.values()].index(label)
    return [str(table.get_row_at(r)[index]) for r in range(table.row_count)]


async def test_pools_host_column_slash_and_shift_h(engine: FakeEngine) -> None:
    from tests.tui.test_pools_panel import open_pools, pool_settings

    fake = TwoHostPools()
    engine.pools = fake  # type: ignore[attr-defined]
    await fake.claim("acme", "agents")
    await fake.claim("globex", "agents")
    app = ClawApp(engine, pool_settings(), clock=fixed_clock)
    async with app.run_test(size=SIZE) as pilot:
        panel = await open_pools(pilot, app)
        tenants = panel.query_one("#pools-tenants", DataTable)
        boxes = panel.query_one("#pools-containers", DataTable)
        await wait_for(pilot, lambda: tenants.row_count == 2 and boxes.row_count == 4)
        assert _column(tenants, "Host") == ["local", "build-1"]
        assert sorted(_column(boxes, "Host")) == ["build-1", "local", "local", "local"]
        panel.query_one("#pools-table", DataTable).focus()
        await pilot.press("H")
        await wait_for(pilot, lambda: tenants.row_count == 1 and boxes.row_count == 1)
        assert panel.row_filter.host == "build-1"
        assert _column(tenants, "Tenant") == ["globex"]
        assert _column(boxes, "Container") == ["pool-agents-1"]
        assert "host build-1 (H: next host)" in _filter_line(app, "pools")
        assert panel.query_one("#pools-table", DataTable).row_count == 1  # pools stay listed
        await pilot.press("H")
        await wait_for(pilot, lambda: _column(tenants, "Tenant") == ["acme"])
        assert panel.row_filter.host == "local" and boxes.row_count == 3
        await pilot.press("H")  # every host again
        await wait_for(pilot, lambda: tenants.row_count == 2 and boxes.row_count == 4)
        assert _filter_line(app, "pools") == ""
        # `/`: a tenant's name narrows both tables to its rows.
        await pilot.press("slash")
        await pilot.press(*"acm")
        await wait_for(pilot, lambda: tenants.row_count == 1 and boxes.row_count == 1)
        assert _column(boxes, "Tenant") == ["acme"]
        assert _filter_line(app, "pools") == "showing 2: matching 'acm' (/: change)"
        # The periodic reload keeps the filter.
        panel.reload()
        await pilot.pause(0.3)
        assert tenants.row_count == 1 and boxes.row_count == 1
