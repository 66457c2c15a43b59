"""The Fleet table repaints only changed, visible cells (widgets/cell_table.py, issue 18): what
the terminal shows still follows every stats tick, and a row that changed while scrolled out of
view shows its new value when it is scrolled in."""

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
ROWS = 80  # more than the table shows at SIZE


def _tick(engine: FakeEngine, cpu: dict[str, float]) -> None:
    engine.stats(
        "local",
        {cid: ContainerStats(cpu_percent=v, mem_used=64 * MIB, mem_limit=512 * MIB)
         for cid, v in cpu.items()},
    )  # fmt: skip


async def test_stats_ticks_show_on_screen_and_scrolled_out_rows_when_scrolled_in(
    make_app: AppFactory,
) -> None:
    engine = FakeEngine()
    engine.put_host(host("local"), publish=False)
    ids = [f"r{i:03d}" for i in range(ROWS)]
    for cid in ids:
        engine.put_container(container(cid, f"agent-{cid}"), publish=False)
    app = ClawApp(engine, make_app().settings)
    async with app.run_test(size=SIZE) as pilot:
        table = app.screen.query_one("#fleet-table", ContainerTable)
        await wait_for(pilot, lambda: table.row_count == ROWS)
        first, last = row_keys(table)[0], row_keys(table)[-1]
        first_id, last_id = first.split("/")[1], last.split("/")[1]
        assert "agent-r079" not in screen_text(app)  # the last row is below the fold

        _tick(engine, {first_id: 77.7, last_id: 55.5})
        await wait_for(pilot, lambda: cell(table, last, "cpu") == "55.5")
        await wait_for(pilot, lambda: "77.7" in screen_text(app))

        _tick(engine, {first_id: 12.3, last_id: 44.4})  # the same cells change again
        await wait_for(pilot, lambda: cell(table, last, "cpu") == "44.4")
        await wait_for(pilot, lambda: "12.3" in screen_text(app))
        assert "77.7" not in screen_text(app)  # no stale rendering of the first row

        table.move_cursor(row=ROWS - 1)  # scroll the last row in: it shows its latest value
        await wait_for(pilot, lambda: "agent-r079" in screen_text(app))
        line = next(x for x in screen_text(app).splitlines() if "agent-r079" in x)
        assert "44.4" in line and "55.5" not in line
