"""Container actions from the Fleet table and the Dev containers panel, and the logs screen."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from textual.binding import Binding
from textual.command import CommandList
from textual.widgets import Input

from clawtui.tui.app import ClawApp
from clawtui.tui.keymap import BINDING_OWNERS
from clawtui.tui.screens.confirm import ConfirmScreen
from clawtui.tui.screens.logs import LogsScreen
from clawtui.tui.screens.new_devbox import NewDevboxScreen
from clawtui.tui.widgets.container_table import ContainerTable
from clawtui.tui.widgets.devbox_panel import DevboxesPanel
from clawtui.tui.widgets.log_view import LogView
from tests.tui.conftest import SIZE
from tests.tui.fakes import FakeEngine
from tests.tui.helpers import cell, screen_text, wait_for

pytestmark = pytest.mark.tui

AppFactory = Callable[..., ClawApp]
ALPHA = "local/" + "a1".ljust(64, "0")
BETA = "local/" + "b2".ljust(64, "0")
BROKER = "local/" + "d4".ljust(64, "0")
DEV = "local/" + "c3".ljust(64, "0")


def fleet(app: ClawApp) -> ContainerTable:
    return app.screen.query_one("#fleet-table", ContainerTable)


def palette_options(app: ClawApp) -> int:
    return app.screen.query_one(CommandList).option_count


def record_notes(app: ClawApp) -> list[tuple[str, dict[str, Any]]]:
    notes: list[tuple[str, dict[str, Any]]] = []
    notify = app.notify

    def record(message: str, **kw: Any) -> None:
        notes.append((message, kw))
        notify(message, **kw)

    app.notify = record  # type: ignore[method-assign]
    return notes


async def test_marks_and_bulk_stop_call_the_engine_for_each_marked_row(
    make_app: AppFactory, engine: FakeEngine
) -> None:
    app = make_app()
    notes = record_notes(app)
    async with app.run_test(size=SIZE) as pilot:
        table = fleet(app)
        assert table.selected_key == ALPHA
        await pilot.press("space")  # marks agent-alpha, moves to agent-beta
        assert table.selected_key == BETA
        await pilot.press("down", "space")  # skips beta, marks broker
        assert table.marked == {ALPHA, BROKER}
        assert cell(table, ALPHA, "mark") == "●"
        assert cell(table, BETA, "mark") == " "
        await pilot.press("S")
        await wait_for(pilot, lambda: len(engine.actions.calls) == 2)
        assert sorted(engine.actions.calls) == sorted([("stop", ALPHA), ("stop", BROKER)])
        await wait_for(pilot, lambda: any("Stopped 2 containers" in m for m, _ in notes))
        # Unmark one: the next action applies to the one left.
        table.move_cursor(row=table.get_row_index(ALPHA))
        await pilot.press("space")
        assert table.marked == {BROKER}
        await pilot.press("s")
        await wait_for(pilot, lambda: ("start", BROKER) in engine.actions.calls)
        # No marks: the row under the cursor.
        table.toggle_mark(BROKER)
        table.move_cursor(row=table.get_row_index(BETA))
        await pilot.press("R")
        await wait_for(pilot, lambda: ("restart", BETA) in engine.actions.calls)


async def test_an_engine_error_becomes_a_toast_with_its_message(
    make_app: AppFactory, engine: FakeEngine
) -> None:
    engine.actions.fail[("start", ALPHA)] = "could not start agent-alpha: [port] is taken"
    app = make_app()
    notes = record_notes(app)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("s")
        await wait_for(pilot, lambda: any(kw.get("severity") == "error" for _, kw in notes))
        message, kw = next((m, kw) for m, kw in notes if kw.get("severity") == "error")
        assert message == "could not start agent-alpha: [port] is taken"
        assert kw["markup"] is False
        assert kw["title"] == "Could not start agent-alpha"


async def test_remove_asks_first(make_app: AppFactory, engine: FakeEngine) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        table = fleet(app)
        table.move_cursor(row=table.get_row_index(BETA))
        await pilot.press("D")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        assert "agent-beta" in screen_text(app)
        await pilot.press("escape")  # cancelled: nothing removed
        await pilot.pause()
        assert not isinstance(app.screen, ConfirmScreen)
        assert engine.actions.calls == []
        await pilot.press("D")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await wait_for(pilot, lambda: engine.actions.calls == [("remove", BETA)])


async def test_removing_a_dev_box_goes_through_devboxes_and_keeps_its_home(
    make_app: AppFactory, engine: FakeEngine
) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("4")
        await wait_for(pilot, lambda: bool(app.screen.query(DevboxesPanel)))
        panel = app.screen.query_one(DevboxesPanel)
        await pilot.press("down")  # from agent-alpha's card to dev-sam's
        assert panel.current_card is panel.cards[DEV]
        await pilot.press("D")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        assert app.screen.query("#confirm-option")  # "also delete the home volumes"
        await pilot.click("#confirm-yes")
        await wait_for(pilot, lambda: engine.devboxes.removed == [("sam", True, "local")])
        assert engine.actions.calls == []


async def test_dev_panel_marks_and_bulk_restart(make_app: AppFactory, engine: FakeEngine) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("4")
        await wait_for(pilot, lambda: bool(app.screen.query(DevboxesPanel)))
        panel = app.screen.query_one(DevboxesPanel)
        await pilot.press("space", "down", "space")
        assert [c.key for c in panel.card_list.cards if c.marked] == [ALPHA, DEV]
        assert "●" in str(panel.cards[ALPHA].mark_label.render())
        await pilot.press("R")
        await wait_for(pilot, lambda: len(engine.actions.calls) == 2)
        assert sorted(engine.actions.calls) == sorted([("restart", ALPHA), ("restart", DEV)])


async def test_logs_screen_follows_searches_and_shows_markup_literally(
    make_app: AppFactory, engine: FakeEngine
) -> None:
    lines = [f"line {n}" for n in range(200)]
    lines[150] = "[bold red]not markup[/] ERROR disk full"
    lines[40] = "an error: connection reset"
    engine.actions.log_lines[ALPHA] = lines
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("l")
        await wait_for(pilot, lambda: isinstance(app.screen, LogsScreen))
        screen = app.screen
        assert isinstance(screen, LogsScreen)
        view = screen.query_one(LogView)
        await wait_for(pilot, lambda: len(view.lines) == 200)
        await wait_for(pilot, lambda: engine.actions.follows == 1)
        # Following: the newest line is in view.
        await wait_for(pilot, lambda: "line 199" in screen_text(app))
        engine.actions.push_log(ALPHA, "a new line arrives")
        await wait_for(pilot, lambda: "a new line arrives" in screen_text(app))

        # Search: highlights every match, Enter jumps to the first, n / N go on.
        await pilot.press("slash")
        assert screen.query_one("#logs-search", Input).has_focus
        await pilot.press(*"error")
        await pilot.press("enter")
        assert view.matches == [40, 150]
        assert view.current == 40
        assert not screen.follow
        assert "an error: connection reset" in screen_text(app)
        await pilot.press("n")
        assert view.current == 150
        shown = screen_text(app)
        assert "[bold red]not markup[/] ERROR disk full" in shown  # literally
        assert "1/2" not in shown and "2/2 for 'error'" in shown
        await pilot.press("n")
        assert view.current == 40  # wraps
        await pilot.press("N")
        assert view.current == 150
        # The highlight is drawn on the matching text.
        strip = view.render_line(150 - int(view.scroll_offset.y))
        styled = [seg for seg in strip if seg.text.lower().startswith("error")]
        assert styled and styled[0].style is not None and styled[0].style.bgcolor is not None

        await pilot.press("f")
        assert screen.follow
        await wait_for(pilot, lambda: "a new line arrives" in screen_text(app))
        await pilot.press("escape")
        assert not isinstance(app.screen, LogsScreen)


async def test_logs_error_is_shown(make_app: AppFactory, engine: FakeEngine) -> None:
    engine.actions.fail[("logs", ALPHA)] = "host local is offline"
    app = make_app()
    notes = record_notes(app)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("l")
        await wait_for(pilot, lambda: any("host local is offline" in m for m, _ in notes))
        await wait_for(pilot, lambda: "could not read the log" in screen_text(app))


async def test_palette_runs_container_actions_and_the_new_devbox_form(
    make_app: AppFactory, engine: FakeEngine
) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"container: stop")
        await wait_for(pilot, lambda: palette_options(app) > 0)
        await pilot.pause(0.3)
        await pilot.press("enter")
        await wait_for(pilot, lambda: engine.actions.calls == [("stop", ALPHA)])
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"new dev container")
        await wait_for(pilot, lambda: palette_options(app) > 0)
        await pilot.pause(0.3)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, NewDevboxScreen))


def test_every_binding_has_an_id_that_keymap_can_name() -> None:
    ids = ClawApp.binding_ids()
    for wanted in ("container.logs", "container.start", "container.stop", "container.restart",
                   "container.remove", "container.mark", "devbox.create", "memory.apply",
                   "memory.reset", "slider.increase", "slider.page_up", "logs.search",
                   "logs.next", "logs.follow", "confirm.yes"):  # fmt: skip
        assert wanted in ids
    for owner in BINDING_OWNERS:
        for binding in owner.__dict__.get("BINDINGS", []):
            assert isinstance(binding, Binding) and binding.id, (owner, binding)


async def test_remapped_container_keys(make_app: AppFactory, engine: FakeEngine) -> None:
    app = make_app(keymap={"container.stop": "x", "memory.apply": "ctrl+a"})
    notes = record_notes(app)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("x")
        await wait_for(pilot, lambda: engine.actions.calls == [("stop", ALPHA)])
        assert not any("unknown binding ids" in m for m, _ in notes)
