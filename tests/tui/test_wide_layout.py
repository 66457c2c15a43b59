"""Issue 19 at 150x40: Help lists each action once; a Threads cell that grows after the first
load (a repo without origin) widens its column instead of being cut."""

from __future__ import annotations

import pytest

from clawtui.config import Settings
from clawtui.engine.api.threads import RepoState
from clawtui.tui.app import ClawApp
from clawtui.tui.screens.help import key_rows
from clawtui.tui.widgets.threads_panel import ThreadsPanel
from tests.tui.fake_panels import with_panel_data
from tests.tui.fakes import FakeEngine, fixed_clock

pytestmark = pytest.mark.tui


async def test_help_lists_quit_once(engine: FakeEngine) -> None:
    app = ClawApp(engine, Settings(), clock=fixed_clock)
    async with app.run_test(size=(150, 40)):
        quits = [row for row in key_rows(app, app.screen) if "Quit" in row.description]
        assert len(quits) == 1
        assert quits[0].binding_id == "app.quit" and quits[0].keys[:1] == ["q"]


async def test_threads_column_widens_when_a_row_changes(engine: FakeEngine) -> None:
    with_panel_data(engine)
    threads = engine.threads  # type: ignore[attr-defined]
    first = threads.rows[1].model_copy(update={"repo": None})
    threads.rows = [first]
    app = ClawApp(engine, Settings(), clock=fixed_clock)
    async with app.run_test(size=(150, 40)) as pilot:
        await pilot.press("2")
        panel = app.screen.query_one(ThreadsPanel)
        column = panel.table.columns["±origin"]
        before = column.get_render_width(panel.table)
        changed = first.model_copy(update={"repo": RepoState(is_repo=True, branch="main")})
        panel.update_thread(changed)
        await pilot.pause()
        assert str(panel.table.get_cell(str(first.thread.id), "±origin")) == "no origin"
        assert column.get_render_width(panel.table) > before
        assert column.content_width >= len("no origin")
