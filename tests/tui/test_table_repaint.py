"""The Fleet table repaints only changed, visible cells (widgets/cell_table.py, issue 18): what
the terminal shows still follows every stats tick, and a row that changed while scrolled out of
view shows its new value when it is scrolled in."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from rich.text import Text
from textual.app import App, ComposeResult
from textual.coordinate import Coordinate
from textual.geometry import Region
from textual.strip import Strip
from textual.widgets import DataTable

from clawtui.engine.api.models import MIB, ContainerStats
from clawtui.tui.app import ClawApp
from clawtui.tui.widgets.cell_table import CellTable
from clawtui.tui.widgets.container_columns import COLUMNS
from clawtui.tui.widgets.container_table import ContainerTable
from tests.tui.conftest import SIZE
from tests.tui.fakes import NOW, FakeEngine, container, host
from tests.tui.helpers import cell, row_keys, screen_text, wait_for

pytestmark = pytest.mark.tui

AppFactory = Callable[..., ClawApp]
ROWS = 80  # more than the table shows at SIZE
CPU = [column.key for column in COLUMNS].index("cpu")


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


async def test_rows_out_of_view_get_their_ticks_when_drawn_read_or_sorted(
    make_app: AppFactory,
) -> None:
    """A tick writes the cells of the rows in view only; a row out of view is marked behind
    and its CPU, memory and uptime cells are written when it is scrolled in, when a cell of it
    is read (get_cell, get_row, get_row_at, get_column, get_cell_at), and before a sort by one
    of those columns, so what is shown and read is always the latest tick."""
    now = [NOW]
    engine = FakeEngine()
    engine.put_host(host("local"), publish=False)
    ids = [f"r{i:03d}" for i in range(ROWS)]
    for cid in ids:
        engine.put_container(container(cid, f"agent-{cid}"), publish=False)
    app = ClawApp(engine, make_app().settings, clock=lambda: now[0])
    async with app.run_test(size=SIZE) as pilot:
        table = app.screen.query_one("#fleet-table", ContainerTable)
        await wait_for(pilot, lambda: table.row_count == ROWS)
        keys = row_keys(table)
        shown = set(table.visible_rows())
        assert 0 < len(shown) < ROWS
        out = [k for k in keys if k not in shown]
        cpu = {k.split("/")[1]: float(i) + 0.5 for i, k in enumerate(keys)}

        _tick(engine, cpu)
        await wait_for(pilot, lambda: "0.5" in screen_text(app))
        assert table.behind == set(out)
        last = out[-1]
        assert table.row_cells[last]["cpu"].plain != f"{ROWS - 0.5:.1f}"  # not written yet
        assert cell(table, last, "cpu") == f"{ROWS - 0.5:.1f}"  # a read brings it up to date
        assert last not in table.behind
        index = keys.index(out[0])
        assert table.get_row_at(index)[CPU].plain == f"{index + 0.5:.1f}"
        assert not table.behind  # get_row_at brought every row up to date

        now[0] += 3600.0  # an hour later: every uptime changes
        table.tick()
        _tick(engine, {cid: 1.0 for cid in cpu})
        await wait_for(pilot, lambda: _cpu_of(table, last) == 1.0)
        assert table.behind == set(out)
        table.move_cursor(row=ROWS - 1)  # scroll the last rows in
        await wait_for(pilot, lambda: "agent-r079" in screen_text(app))
        line = next(x for x in screen_text(app).splitlines() if "agent-r079" in x)
        assert "1.0" in line and "1h 5m" in line, line

        _tick(engine, {cid: float(i % 7) for i, cid in enumerate(cpu)})  # top rows: behind
        await wait_for(pilot, lambda: _cpu_of(table, keys[0]) == 0.0)
        assert keys[0] in table.behind
        table.sort_by("cpu", reverse=True)
        values = [float(cell(table, k, "cpu")) for k in row_keys(table)]
        assert values == sorted(values, reverse=True)
        assert values[0] == 6.0 and not table.behind


async def test_a_stats_tick_advances_uptimes_in_the_same_repaint(
    make_app: AppFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While stats come, the uptimes advance with them (a row whose CPU and uptime both change
    every second is repainted once a second, not twice); the once-a-second uptime tick is
    skipped within a second of a stats tick, and runs when stats stop."""
    monkeypatch.setattr(ClawApp, "TICK_SECONDS", 3600.0)  # no interval tick during the test
    now = [NOW]
    engine = FakeEngine()
    engine.put_host(host("local"), publish=False)
    info = container("young", "agent-young", started_ago=30.0)
    engine.put_container(info, publish=False)
    app = ClawApp(engine, make_app().settings, clock=lambda: now[0])
    async with app.run_test(size=SIZE) as pilot:
        table = app.screen.query_one("#fleet-table", ContainerTable)
        await wait_for(pilot, lambda: table.row_count == 1)
        assert cell(table, info.key, "uptime") == "30s"
        now[0] += 5.0
        await pilot.pause(0.3)
        assert cell(table, info.key, "uptime") == "30s"  # nothing has ticked yet

        _tick(engine, {info.id: 12.5})
        await wait_for(pilot, lambda: cell(table, info.key, "cpu") == "12.5")
        assert cell(table, info.key, "uptime") == "35s"  # with the stats

        ticks: list[int] = []
        monkeypatch.setattr(app.main, "tick", lambda: ticks.append(1))
        app._tick()  # the interval tick right after a stats tick
        assert ticks == []
        app._uptimes_at -= 3600.0  # no stats tick for a while
        app._tick()
        assert ticks == [1]


def _cpu_of(table: ContainerTable, key: str) -> float | None:
    stats = table.current(table.infos[key]).stats
    return stats.cpu_percent if stats is not None else None


# -- every line CellTable draws is the line DataTable draws ---------------------------------
class _Pair(App[None]):
    """A CellTable and a DataTable with the same rows, side by side."""

    CSS = "DataTable { width: 1fr; height: 12; }"

    def compose(self) -> ComposeResult:
        yield CellTable(id="cells", cursor_type="row", zebra_stripes=True)
        yield DataTable[Text](id="plain", cursor_type="row", zebra_stripes=True)

    def on_mount(self) -> None:
        for table in self.tables:
            table.add_column(Text("Name"), key="name")
            table.add_column(Text("State", justify="left"), key="state", width=10)
            table.add_column(Text("CPU %", justify="right"), key="cpu", width=7)
            for i in range(30):
                table.add_row(*_row(i), key=f"r{i}")

    @property
    def tables(self) -> tuple[CellTable, DataTable[Text]]:
        return self.query_one("#cells", CellTable), self.query_one("#plain", DataTable)


def _row(i: int) -> tuple[Text, Text, Text]:
    state = ("running", "exited", "paused")[i % 3]
    style = ("green", "bold red", "")[i % 3]
    name = Text(f"agent-[{i}]-名前" if i % 7 == 0 else f"agent-{i}", no_wrap=True)
    return name, Text(state, style=style), Text(f"{i * 1.5:.1f}", justify="right")


def _lines(table: DataTable[Text]) -> list[Strip]:
    return table.render_lines(Region(0, 0, table.size.width, table.size.height))


def _same(app: _Pair) -> None:
    cells, plain = app.tables
    assert cells.size == plain.size
    mine, theirs = _lines(cells), _lines(plain)
    assert len(mine) == len(theirs) == plain.size.height
    for y, (a, b) in enumerate(zip(mine, theirs, strict=True)):
        assert list(a) == list(b), f"line {y}"
    for y in range(plain.size.height):  # the lines before styles are applied
        a, b = cells.render_line(y), plain.render_line(y)
        assert list(a) == list(b), f"line {y}"
        assert a.cell_length == b.cell_length == Strip(list(a)).cell_length, f"line {y}"


async def test_cell_table_draws_every_line_as_data_table_does() -> None:
    """Header, zebra rows, styled and right-aligned cells, wide characters, the cursor row
    (focused and not), the hover row, written cells, sorting and scrolling: each state drawn
    twice (the second time from what CellTable kept) equals DataTable's drawing, mouse
    metadata (row, column) included."""
    app = _Pair()
    async with app.run_test(size=(100, 30)) as pilot:
        cells, plain = app.tables
        app.set_focus(None)
        await pilot.pause()
        _same(app)
        _same(app)  # drawn again from the kept lines

        cells.move_cursor(row=3)
        plain.move_cursor(row=3)
        await pilot.pause()
        _same(app)
        cells.focus()
        await pilot.pause()
        app.set_focus(None)  # cells loses the focus: both unfocused ...
        await pilot.pause()
        _same(app)
        cells.focus()  # ... and only one focused: not the same any more
        await pilot.pause()
        assert _lines(cells) != _lines(plain)
        app.set_focus(None)
        await pilot.pause()
        _same(app)

        for table in app.tables:
            table._set_hover_cursor(True)
            table.hover_coordinate = Coordinate(5, 1)
        _same(app)

        for i in (0, 4, 5, 6, 29):  # visible and scrolled-out rows
            value = Text(f"{90 + i:.1f}", justify="right")
            cells.write_cell(f"r{i}", "cpu", value)
            plain.update_cell(f"r{i}", "cpu", value)
        assert cells.flush_cells() == 5
        _same(app)
        _same(app)

        for table in app.tables:
            table.sort("cpu", key=lambda v: float(v.plain), reverse=True)
        _same(app)
        for table in app.tables:
            table.scroll_to(y=15, animate=False)
        await pilot.pause()
        _same(app)
        cells.write_cell("r29", "cpu", Text("1.0", justify="right"))
        plain.update_cell("r29", "cpu", Text("1.0", justify="right"))
        cells.flush_cells()
        _same(app)


async def test_cell_table_draws_lines_wider_than_itself_as_data_table_does() -> None:
    """Columns wider than the table, scrolled sideways: cropped and padded as DataTable
    does it."""
    app = _Pair()
    async with app.run_test(size=(24, 30)) as pilot:
        cells, plain = app.tables
        app.set_focus(None)
        await pilot.pause()
        assert cells.virtual_size.width > cells.size.width
        _same(app)
        for x in (3, 9, cells.max_scroll_x):
            for table in app.tables:
                table.scroll_to(x=x, animate=False)
            await pilot.pause()
            assert cells.scroll_x == x
            _same(app)
        cells.write_cell("r1", "cpu", Text("77.7", justify="right"))
        plain.update_cell("r1", "cpu", Text("77.7", justify="right"))
        cells.flush_cells()
        _same(app)


async def test_a_table_not_on_screen_keeps_ticks_and_is_drawn_with_them_when_shown(
    make_app: AppFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Stats ticks that come while the Fleet panel is not in front are kept, not drawn; the
    first drawing of the table when it is in front again already shows the latest of them."""
    engine = FakeEngine()
    engine.put_host(host("local"), publish=False)
    for cid in ("a1", "b2", "c3"):
        engine.put_container(container(cid, f"agent-{cid}"), publish=False)
    app = ClawApp(engine, make_app().settings)
    async with app.run_test(size=SIZE) as pilot:
        table = app.screen.query_one("#fleet-table", ContainerTable)
        await wait_for(pilot, lambda: table.row_count == 3)
        key = next(k for k in row_keys(table) if k.startswith("local/b2"))
        b2 = key.split("/")[1]
        _tick(engine, {b2: 11.1})
        await wait_for(pilot, lambda: "11.1" in screen_text(app))

        app.show_panel("threads")
        await wait_for(pilot, lambda: not table.is_on_screen)
        _tick(engine, {b2: 22.2})
        _tick(engine, {b2: 42.4})
        await wait_for(pilot, lambda: bool(table._deferred))
        assert table.row_cells[key]["cpu"].plain == "11.1"  # kept, not applied

        drawn: list[str] = []
        draw = CellTable.render_lines

        def recording(self: CellTable, crop: Region) -> list[Strip]:
            if self is table:
                drawn.append(self.row_cells[key]["cpu"].plain)
            return draw(self, crop)

        monkeypatch.setattr(CellTable, "render_lines", recording)
        app.show_panel("fleet")
        await wait_for(pilot, lambda: bool(drawn))
        assert drawn[0] == "42.4"  # the first drawing after it is shown
        assert "42.4" in screen_text(app) and "11.1" not in screen_text(app)
        assert cell(table, key, "cpu") == "42.4"
        assert not table._deferred
