"""The Fleet table over several hosts: `H` cycles a host filter, `/` filters by text (issue 18)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from clawtui.engine.api.models import MIB, ContainerStats
from clawtui.tui.app import ClawApp
from clawtui.tui.widgets.container_table import ContainerTable
from tests.tui.conftest import SIZE
from tests.tui.fakes import FakeEngine, container, host
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
