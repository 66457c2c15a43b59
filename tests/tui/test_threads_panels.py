"""Threads and Heartbeats panels over a real `Threads` capability (real files, real queue).

The engine is the FakeEngine (no Docker) with a real `Threads` on it: HEARTBEAT.md files in
tmp dirs, TinyClaw's queue, events published on the fake engine's bus exactly as the real
engine publishes them. Markup and ANSI in every field of HEARTBEAT.md must show as text.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from textual.widgets import DataTable, Input, Static

from clawtui.config import Settings
from clawtui.config.threads import ThreadEntry, ThreadsConfig
from clawtui.engine.context import Context
from clawtui.engine.heartbeats import md as hb
from clawtui.engine.notifier import Notifier
from clawtui.engine.threads.manager import Threads
from clawtui.engine.threads.queue import TinyClawQueue
from clawtui.tui.app import ClawApp
from clawtui.tui.widgets.empty_state import EmptyState
from tests.tui.conftest import SIZE
from tests.tui.fakes import FakeEngine, fixed_clock, sample_fleet
from tests.tui.helpers import screen_text, wait_for

EVIL = "[bold red]MARKUP[/] \x1b[31mANSI\x1b[0m [link=http://x]l[/link]"
EVIL_SHOWN = "[bold red]MARKUP[/]"


class ThreadsFakeEngine(FakeEngine):
    def __init__(self, settings: Settings) -> None:
        super().__init__()
        self.settings = settings
        self.queue = TinyClawQueue(settings.threads.resolved_home(Path("/nonexistent")))
        self.notifier = Notifier(settings.notify)
        self.logged: list[str] = []
        ctx = Context(
            settings=settings,
            store=None,  # type: ignore[arg-type]
            bus=self.bus,
            log_activity=self.log_activity,
            monitors={},
        )
        self.threads = Threads(ctx, self.queue, self.notifier)

    def log_activity(self, level: str, message: str, **_: Any) -> None:
        self.logged.append(message)


def evil_heartbeat() -> str:
    return (
        "## Timestamps\n- Last quick: (never)\n- Last hourly: (never)\n- Last daily: (never)\n\n"
        f"## Urgent Flags\n- {EVIL}\n\n## Tasks\n- [ ] {EVIL}\n\n## Notes\n{EVIL}\n"
    )


def build(tmp_path: Path) -> tuple[ThreadsFakeEngine, ClawApp]:
    cwd = tmp_path / "repo"
    cwd.mkdir()
    (cwd / "HEARTBEAT.md").write_text(evil_heartbeat())
    home = tmp_path / "home"
    home.mkdir()
    (home / "threads.json").write_text(
        json.dumps({"1": {"name": EVIL, "cwd": str(tmp_path), "model": "sonnet",
                          "isMaster": True, "lastActive": 0}})
    )  # fmt: skip
    settings = Settings(
        threads=ThreadsConfig(home=home, threads=[ThreadEntry(id=2, name="repo", cwd=cwd)])
    )
    engine = ThreadsFakeEngine(settings)
    sample_fleet(engine)
    engine.threads.scan()
    return engine, ClawApp(engine, settings, clock=fixed_clock)


async def test_markup_and_ansi_show_as_text(tmp_path: Path) -> None:
    _, app = build(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        app.show_panel("threads")
        table = app.screen.query_one("#threads-table", DataTable)
        await wait_for(pilot, lambda: table.row_count == 2)
        assert table.get_cell("1", "Name").plain.startswith(EVIL)
        await wait_for(pilot, lambda: EVIL_SHOWN in screen_text(app))
        table.move_cursor(row=1)
        detail = app.screen.query_one("#thread-detail", Static)
        await wait_for(pilot, lambda: "repo (thread 2)" in str(detail.render()))
        assert f"## Notes\n{EVIL}" in str(detail.render())  # the file, verbatim
        app.show_panel("heartbeats")
        hb_table = app.screen.query_one("#heartbeats-table", DataTable)
        await wait_for(pilot, lambda: hb_table.row_count == 2)
        assert hb_table.get_cell("2", "Urgent").plain.startswith("[bold red]MARKUP[/]")
        await wait_for(pilot, lambda: "Next beat" in screen_text(app))
        assert EVIL_SHOWN in screen_text(app)


async def test_send_from_the_tui_goes_through_the_queue(tmp_path: Path) -> None:
    engine, app = build(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        app.show_panel("threads")
        table = app.screen.query_one("#threads-table", DataTable)
        await wait_for(pilot, lambda: table.row_count == 2)
        table.move_cursor(row=1)
        await pilot.pause()
        box = app.screen.query_one("#thread-send", Input)
        box.focus()
        box.value = "please rebase"
        await pilot.press("enter")
        await wait_for(pilot, lambda: list(engine.queue.files("incoming")))
        (path,) = list(engine.queue.files("incoming"))
        msg = engine.queue.read(path)
        assert msg.threadId == 2 and msg.message == "please rebase" and msg.sender == "tui"
        await wait_for(pilot, lambda: table.get_cell("2", "In/Out").plain == "1/0")


async def test_heartbeat_file_change_updates_the_row(tmp_path: Path) -> None:
    engine, app = build(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        app.show_panel("heartbeats")
        table = app.screen.query_one("#heartbeats-table", DataTable)
        await wait_for(pilot, lambda: table.row_count == 2)
        hb.write(tmp_path / "repo" / "HEARTBEAT.md", hb.parse(hb.TEMPLATE))
        engine.threads.handle_changes({str(tmp_path / "repo" / "HEARTBEAT.md")})
        await wait_for(pilot, lambda: table.get_cell("2", "Urgent").plain == "")


async def test_panels_degrade_without_the_threads_capability() -> None:
    engine = FakeEngine()
    sample_fleet(engine)
    app = ClawApp(engine, Settings(), clock=fixed_clock)
    async with app.run_test(size=SIZE) as pilot:
        app.show_panel("threads")
        await pilot.pause()
        state = app.screen.query_one("#threads-unavailable", EmptyState)
        assert "not available" in str(state.render())
        app.show_panel("heartbeats")
        await pilot.pause()
        assert app.screen.query_one("#heartbeats-unavailable", EmptyState).region.height > 0


async def test_a_failing_nanoclaw_sink_shows_on_the_thread(tmp_path: Path) -> None:
    """Nanoclaw v2 has no store/messages.db tables: the Threads panel says deliveries to that
    thread are failing (row and detail), not only a counter."""
    cwd = tmp_path / "repo"
    cwd.mkdir()
    not_nanoclaw = tmp_path / "messages.db"
    not_nanoclaw.write_bytes(b"")  # an empty file: a database with no tables
    settings = Settings(
        threads=ThreadsConfig(
            home=tmp_path / "home",
            heartbeat=False,
            nanoclaw_db=not_nanoclaw,
            threads=[ThreadEntry(id=2, name="repo", cwd=cwd, nanoclaw_jid="tg:-100")],
        )
    )
    engine = ThreadsFakeEngine(settings)
    sample_fleet(engine)
    engine.threads.scan()
    app = ClawApp(engine, settings, clock=fixed_clock)
    async with app.run_test(size=SIZE) as pilot:
        app.show_panel("threads")
        table = app.screen.query_one("#threads-table", DataTable)
        await wait_for(pilot, lambda: table.row_count == 1)
        assert "delivery problem" not in table.get_cell("2", "Urgent").plain
        await engine.threads.send(2, "hello")
        await wait_for(pilot, lambda: "delivery problem" in table.get_cell("2", "Urgent").plain)
        table.move_cursor(row=0)
        detail = app.screen.query_one("#thread-detail", Static)
        await wait_for(pilot, lambda: "not a Nanoclaw store" in str(detail.render()))


async def test_an_error_with_markup_in_it_is_notified_as_text(tmp_path: Path) -> None:
    """Error text can come from a remote service: `[/x]` in it must show, not raise
    MarkupError (issue 20)."""
    from textual.content import Content

    from clawtui.engine.api.threads import ThreadError

    engine, app = build(tmp_path)

    async def refuse(*_: object, **__: object) -> None:
        raise ThreadError("the service said [/x] and [bold]no[/bold]")

    engine.threads.send = refuse  # type: ignore[method-assign,assignment]
    async with app.run_test(size=SIZE) as pilot:
        app.show_panel("threads")
        table = app.screen.query_one("#threads-table", DataTable)
        await wait_for(pilot, lambda: table.row_count == 2)
        table.move_cursor(row=1)
        await pilot.pause()
        box = app.screen.query_one("#thread-send", Input)
        box.focus()
        box.value = "please rebase"
        await pilot.press("enter")
        await wait_for(pilot, lambda: bool(app._notifications))
        (note,) = list(app._notifications)
        # What the toast shows, as textual.widgets._toast.Toast builds it (from_markup raised
        # MarkupError on this text before the fix).
        shown = Content.from_markup(note.message) if note.markup else Content(note.message)
        assert shown.plain == "the service said [/x] and [bold]no[/bold]"
