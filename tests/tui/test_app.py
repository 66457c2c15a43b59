"""Pilot tests of ClawApp over the fake engine: panels, live table updates, keys, themes."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from textual.command import CommandList
from textual.widgets import TabbedContent

from clawtui.config import Settings, TuiConfig, load_settings
from clawtui.engine.api.models import MIB, ContainerStats, EventKind, HostState
from clawtui.tui.app import ClawApp
from clawtui.tui.screens.help import HelpScreen
from clawtui.tui.screens.new_devbox import NewDevboxScreen
from clawtui.tui.widgets.activity_log import ActivityLog
from clawtui.tui.widgets.container_detail import ContainerDetail
from clawtui.tui.widgets.container_table import ContainerTable
from clawtui.tui.widgets.devbox_panel import DevboxesPanel
from clawtui.tui.widgets.empty_state import EmptyState
from clawtui.tui.widgets.host_header import HostHeader
from clawtui.tui.widgets.panels import PANELS
from tests.tui.conftest import SIZE
from tests.tui.fakes import NOW, FakeEngine, container, host
from tests.tui.helpers import cell, row_keys, screen_text, wait_for

pytestmark = pytest.mark.tui

AppFactory = Callable[..., ClawApp]
ALPHA = "local/" + "a1".ljust(64, "0")
BETA = "local/" + "b2".ljust(64, "0")
DEV = "local/" + "c3".ljust(64, "0")


def fleet(app: ClawApp) -> ContainerTable:
    return app.screen.query_one("#fleet-table", ContainerTable)


def record_notifications(app: ClawApp) -> list[tuple[str, dict[str, Any]]]:
    """Keep every `app.notify(...)` call (message, keyword arguments); toasts still show."""
    notes: list[tuple[str, dict[str, Any]]] = []
    notify = app.notify

    def record(message: str, **kw: Any) -> None:
        notes.append((message, kw))
        notify(message, **kw)

    app.notify = record  # type: ignore[method-assign]
    return notes


def palette_options(app: ClawApp) -> int:
    """How many entries the open command palette lists."""
    return app.screen.query_one(CommandList).option_count


async def test_app_starts_with_every_panel_and_the_fleet(
    make_app: AppFactory, engine: FakeEngine
) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        tabbed = app.screen.query_one(TabbedContent)
        assert tabbed.active == "fleet"
        titles = [str(tabbed.get_tab(p.id).label) for p in PANELS]
        assert titles == [
            "Fleet",
            "Threads",
            "Heartbeats",
            "Dev containers",
            "Pools",
            "Escalations",
            "Ingress",
        ]
        assert engine.started == 1
        assert row_keys(fleet(app)) == [ALPHA, BETA, "local/" + "d4".ljust(64, "0"), DEV]
        headers = list(app.screen.query("#host-headers HostHeader").results(HostHeader))
        assert [h.info.name for h in headers] == ["local", "gpu-box"]
        assert headers[0].has_class("-online", "-mem-ok")
        assert cell(fleet(app), BETA, "mem") == "800 / 1,024"
        assert cell(fleet(app), ALPHA, "uptime") == "2d 3h"
        assert cell(fleet(app), "local/" + "d4".ljust(64, "0"), "mem") == "— / —"
        log = app.screen.query_one(ActivityLog)
        assert len(log.lines) == 3
        assert app.focused is fleet(app)
    assert engine.stopped == 1


async def test_switch_panels_with_number_keys(make_app: AppFactory) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        tabbed = app.screen.query_one(TabbedContent)
        for spec in reversed(PANELS):
            await pilot.press(spec.key)
            assert tabbed.active == spec.id
        await pilot.press("4")
        await wait_for(pilot, lambda: bool(app.screen.query(DevboxesPanel)))
        panel = app.screen.query_one(DevboxesPanel)
        card = panel.cards[ALPHA]  # the most used dev or pool container comes first
        assert app.focused is card.slider


async def test_switch_panels_by_clicking_tabs(make_app: AppFactory) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        tabbed = app.screen.query_one(TabbedContent)
        assert await pilot.click("#--content-tab-escalations")
        assert tabbed.active == "escalations"
        assert await pilot.click("#--content-tab-fleet")
        assert tabbed.active == "fleet"


async def test_container_event_adds_a_row_and_removal_removes_it(
    make_app: AppFactory, engine: FakeEngine
) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        table = fleet(app)
        new = container("e5", "agent-new", labels={"clawtui.role": "devbox"})
        engine.put_container(new)
        await wait_for(pilot, lambda: new.key in table.infos)
        assert cell(table, new.key, "name") == "agent-new"
        assert cell(table, new.key, "state") == "running"
        assert row_keys(table).index(new.key) == 2  # sorted by host, then name
        devboxes = app.screen.query_one(DevboxesPanel)
        await wait_for(pilot, lambda: new.key in devboxes.cards)  # it has a card there too

        engine.put_container(new.model_copy(update={"state": "exited", "status": "Exited (1)"}))
        await wait_for(pilot, lambda: cell(table, new.key, "state") == "exited")
        assert cell(table, new.key, "uptime") == ""

        engine.remove_container(new.key)
        await wait_for(pilot, lambda: new.key not in table.infos)
        assert new.key not in row_keys(table)
        await wait_for(pilot, lambda: new.key not in devboxes.cards)


async def test_cursor_follows_its_container_unless_at_the_top(
    make_app: AppFactory, engine: FakeEngine
) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        table = fleet(app)
        first = container("00", "aaa-first")
        engine.put_container(first)
        await wait_for(pilot, lambda: first.key in table.infos)
        assert table.cursor_row == 0 and table.selected_key == first.key
        detail = app.screen.query_one("#fleet-detail", ContainerDetail)
        await wait_for(pilot, lambda: "aaa-first" in str(detail.render()))
        table.move_cursor(row=table.get_row_index(BETA))
        await pilot.pause()
        engine.put_container(container("01", "aaa-second"))
        await wait_for(pilot, lambda: table.row_count == 6)
        assert table.selected_key == BETA


async def test_stats_event_updates_cpu_and_memory_cells(
    make_app: AppFactory, engine: FakeEngine
) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        table = fleet(app)
        sample = ContainerStats(
            cpu_percent=55.5, mem_used=300 * MIB, mem_limit=512 * MIB, sampled_at=NOW
        )
        engine.stats("local", {ALPHA.split("/")[1]: sample})
        await wait_for(pilot, lambda: cell(table, ALPHA, "cpu") == "55.5")
        assert cell(table, ALPHA, "mem") == "300 / 512"
        assert cell(table, BETA, "cpu") == "87.2"  # not in this tick: unchanged


async def test_stats_flood_is_coalesced_and_touches_only_changed_cells(
    make_app: AppFactory, engine: FakeEngine
) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        table = fleet(app)
        cid = ALPHA.split("/")[1]
        for n in range(50):
            engine.stats("local", {cid: ContainerStats(cpu_percent=float(n), mem_used=210 * MIB)})
        await wait_for(pilot, lambda: cell(table, ALPHA, "cpu") == "49.0")
        # The same values again change nothing.
        same = ContainerStats(cpu_percent=49.0, mem_used=210 * MIB)
        assert app.main.apply_stats("local", {cid: same}) == 0


async def test_host_offline_event_shows_the_error(make_app: AppFactory, engine: FakeEngine) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        error = "no Docker engine answers at unix:///var/run/docker.sock: start dockerd"
        engine.put_host(host("local", state=HostState.OFFLINE, error=error))
        header = app.screen.query(HostHeader).first()
        await wait_for(pilot, lambda: header.has_class("-offline"))
        await pilot.pause()
        label = header.query_one(".host-error")
        assert label.display
        assert error in str(label.render())
        assert "offline" in screen_text(app)


async def test_offline_host_shows_since_when(make_app: AppFactory, engine: FakeEngine) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        went = time.mktime((2026, 12, 3, 9, 41, 7, 0, 0, -1))
        error = "the Docker events stream ended (dockerd stopped?)"
        engine.put_host(host("local", state=HostState.OFFLINE, error=error, offline_since=went))
        header = app.screen.query(HostHeader).first()
        await wait_for(pilot, lambda: header.has_class("-offline"))
        await pilot.pause()
        shown = str(header.query_one(".host-error").render())
        assert f"offline since 09:41:07: {error}" in shown
        engine.put_host(host("local", state=HostState.ONLINE))
        await wait_for(pilot, lambda: header.has_class("-online"))
        await pilot.pause()
        assert not header.query_one(".host-error").display


async def test_untrusted_text_is_shown_literally(make_app: AppFactory, engine: FakeEngine) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        evil = container("f6", "[bold]x[/]", image="[red]img[/red]", labels={"k": "[i]v"})
        engine.put_container(evil)
        engine.log("container [bold]x[/] appeared", host="local")
        engine.put_host(host("local", state=HostState.OFFLINE, error="[blink]boom[/]"))
        table = fleet(app)
        await wait_for(pilot, lambda: evil.key in table.infos)
        table.move_cursor(row=table.get_row_index(evil.key))
        await pilot.pause(0.2)
        assert cell(table, evil.key, "name") == "[bold]x[/]"
        shown = screen_text(app)
        assert "[bold]x[/]" in shown
        assert "[red]img[/red]" in shown
        assert "[blink]boom[/]" in shown
        assert "container [bold]x[/] appeared" in shown
        detail = app.screen.query_one("#fleet-detail", ContainerDetail)
        assert "k=[i]v" in str(detail.render())


async def test_remapped_key_from_settings_keymap(make_app: AppFactory) -> None:
    app = make_app(keymap={"panel.pools": "p", "app.help": "h"})
    async with app.run_test(size=SIZE) as pilot:
        tabbed = app.screen.query_one(TabbedContent)
        await pilot.press("p")
        assert tabbed.active == "pools"
        await pilot.press("5")  # the default key no longer does it
        assert tabbed.active == "pools"
        await pilot.press("1")
        await pilot.press("h")
        assert isinstance(app.screen, HelpScreen)
        rows = {r.binding_id: r.keys for r in app.screen.rows}
        assert rows["panel.pools"] == ["p"]
        assert rows["app.help"] == ["h"]


async def test_unknown_keymap_ids_are_reported(make_app: AppFactory) -> None:
    app = make_app(keymap={"panel.flet": "f", "panel.fleet": "f1"})
    notes = record_notifications(app)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2", "f1")
        assert app.screen.query_one(TabbedContent).active == "fleet"
        assert [m for m, kw in notes if "panel.flet" in m and kw.get("severity") == "warning"]
    assert "panel.escalations" in ClawApp.binding_ids()


async def test_help_screen_lists_every_key(make_app: AppFactory) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        rows = {r.binding_id: r for r in app.screen.rows if r.binding_id}
        for spec in PANELS:
            assert rows[spec.binding_id].keys == [spec.key]
        assert rows["app.help"].keys == ["?", "f1"]
        for ident in ("app.quit", "app.theme", "app.palette", "app.refresh", "app.activity"):
            assert ident in rows
        assert "Cursor down" in [r.description for r in app.screen.rows]  # the table's own keys
        text = str(app.screen.query_one("#help-keys").render())
        assert text  # rendered without error
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)
        await pilot.press("f1")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("f1")
        assert not isinstance(app.screen, HelpScreen)


async def test_bad_theme_file_is_reported_and_start_up_goes_on(
    make_app: AppFactory, tmp_path: Path
) -> None:
    themes = tmp_path / "themes"
    themes.mkdir()
    (themes / "broken.toml").write_text('name = "broken"\ndark = true\nprimary = "not-a-color"\n')
    (themes / "garbage.toml").write_bytes(b"\xff\xfe[[[")
    good = (Path(__file__).parents[2] / "themes" / "clawtui-light.toml").read_text()
    (themes / "mine.toml").write_text(good.replace('"clawtui-light"', '"mine"'))
    app = make_app(tui=TuiConfig(themes_dir=themes, theme="mine"))
    notes = record_notifications(app)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert sorted(p.path.name for p in app.theme_problems) == ["broken.toml", "garbage.toml"]
        warnings = [m for m, kw in notes if kw.get("severity") == "warning"]
        assert any("broken.toml" in m and "primary" in m for m in warnings)
        assert any("garbage.toml" in m for m in warnings)
        assert app.theme == "mine"
        assert "clawtui-dark" in app.available_themes
        assert fleet(app).row_count == 4  # start-up went on


async def test_unknown_theme_falls_back_with_a_warning(make_app: AppFactory) -> None:
    app = make_app(tui=TuiConfig(theme="no-such-theme"))
    notes = record_notifications(app)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert app.theme == "clawtui-dark"
        assert any("no-such-theme" in m for m, kw in notes if kw.get("severity") == "warning")


async def test_selecting_a_theme_applies_and_saves_it(make_app: AppFactory, tmp_path: Path) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        assert app.theme == "clawtui-dark"
        await pilot.press("t")
        await pilot.pause()
        await pilot.press(*"clawtui-light")
        await wait_for(pilot, lambda: palette_options(app) > 0)
        await pilot.pause(0.3)
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.theme == "clawtui-light")
    saved = (tmp_path / "state" / "clawtui" / "settings.toml").read_text()
    assert 'theme = "clawtui-light"' in saved


async def test_theme_save_failure_is_reported(make_app: AppFactory, tmp_path: Path) -> None:
    (tmp_path / "state").write_text("a file where the state folder should be")
    app = make_app()
    notes = record_notifications(app)
    async with app.run_test(size=SIZE) as pilot:
        assert app.select_theme("clawtui-light")
        await pilot.pause()
        assert app.theme == "clawtui-light"  # applied even though it could not be saved
        assert any("not saved" in m and kw.get("severity") == "warning" for m, kw in notes), notes
        assert app.select_theme("no-such-theme") is False
        assert app.theme == "clawtui-light"


async def test_command_palette_goes_to_a_panel(make_app: AppFactory) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"go to pools")
        await wait_for(pilot, lambda: palette_options(app) > 0)
        await pilot.pause(0.3)
        await pilot.press("enter")
        tabbed = app.screen.query_one(TabbedContent)
        await wait_for(pilot, lambda: tabbed.active == "pools")


async def test_placeholder_panels_explain_themselves(make_app: AppFactory) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        for panel, section in (("pools", "[pools]"),):
            app.show_panel(panel)
            await pilot.pause()
            state = app.screen.query_one(f"#{panel}-empty", EmptyState)
            assert section in str(state.render())
            assert state.region.height > 0


async def test_devbox_panel_shows_devboxes_or_how_they_come(
    make_app: AppFactory, engine: FakeEngine
) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("4")
        await wait_for(pilot, lambda: bool(app.screen.query(DevboxesPanel)))
        panel = app.screen.query_one(DevboxesPanel)
        assert [c.key for c in panel.card_list.cards] == [ALPHA, DEV]  # most used first
        assert not panel.has_class("-empty")
        engine.remove_container(DEV)
        engine.remove_container(ALPHA)
        await wait_for(pilot, lambda: panel.has_class("-empty"))
        await pilot.pause()
        assert "clawtui dev create" in screen_text(app)
        assert app.focused is panel  # the keyboard stays in the panel: n still works
        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(app.screen, NewDevboxScreen))


async def test_resync_reloads_the_snapshot(make_app: AppFactory, engine: FakeEngine) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        quiet = container("g7", "appeared-during-gap")
        engine.put_container(quiet, publish=False)
        engine.bus.publish(EventKind.RESYNC, reason="gap")
        await wait_for(pilot, lambda: quiet.key in fleet(app).infos)


async def test_uptime_ticks_with_the_clock(make_app: AppFactory) -> None:
    now = [NOW]
    app = make_app(clock=lambda: now[0])
    async with app.run_test(size=SIZE) as pilot:
        table = fleet(app)
        assert cell(table, BETA, "uptime") == "5m 12s"
        now[0] += 10
        await wait_for(pilot, lambda: cell(table, BETA, "uptime") == "5m 22s", timeout=3)


async def test_sort_by_clicking_a_column_header(make_app: AppFactory) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        table = fleet(app)
        x = sum(c.get_render_width(table) for c in list(table.columns.values())[:5]) + 2
        assert await pilot.click(table, offset=(x, 0))
        await wait_for(pilot, lambda: table.sort_column == "cpu")
        order = [table.infos[k].name for k in row_keys(table)]
        assert order[:3] == ["broker", "dev-sam", "agent-alpha"]  # exited first, then 0.0, 12.5
        assert await pilot.click(table, offset=(x, 0))
        await wait_for(pilot, lambda: table.sort_reverse)
        assert table.infos[row_keys(table)[0]].name == "agent-beta"


async def test_hooks_run_around_the_app_and_engine_can_be_unmanaged(engine: FakeEngine) -> None:
    calls: list[str] = []

    async def on_start() -> None:
        calls.append("start")

    async def on_stop() -> None:
        calls.append("stop")

    app = ClawApp(engine, Settings(), manage_engine=False, on_start=on_start, on_stop=on_stop)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert calls == ["start"]
        await pilot.press("q")
    assert calls == ["start", "stop"]
    assert engine.started == engine.stopped == 0


async def test_activity_toggle_and_live_log(make_app: AppFactory, engine: FakeEngine) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        log = app.screen.query_one(ActivityLog)
        engine.log("pool workers scaled to 3", host="local")
        await wait_for(pilot, lambda: len(log.lines) == 4)
        await pilot.press("a")
        assert not log.display
        await pilot.press("a")
        assert log.display


async def test_engine_start_failure_is_shown_and_the_ui_stays_up(engine: FakeEngine) -> None:
    async def broken_start() -> None:
        raise RuntimeError("database is locked")

    engine.start = broken_start  # type: ignore[method-assign]
    calls: list[str] = []

    async def on_start() -> None:
        calls.append("start")

    app = ClawApp(engine, Settings(), on_start=on_start)
    notes = record_notifications(app)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert any("database is locked" in m and kw.get("severity") == "error" for m, kw in notes)
        assert fleet(app).row_count == 4  # the snapshot is still shown
        assert calls == []  # the service hook is not started over a dead engine
    assert engine.stopped == 0


async def test_settings_warnings_are_shown(engine: FakeEngine, tmp_path: Path) -> None:
    state = tmp_path / "settings.toml"
    state.write_text("[tui\ntheme = 1\n")
    settings = load_settings(None, state_file=state)
    assert settings.warnings
    app = ClawApp(engine, settings)
    notes = record_notifications(app)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert any(str(state) in m and kw.get("severity") == "warning" for m, kw in notes)
