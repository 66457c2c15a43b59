"""The activity log's own line view: wrapping to its width, the entry cap, following new lines,
text shown as written (no markup), and no `rich.pretty` for it."""

from __future__ import annotations

import subprocess
import sys

from textual.app import App, ComposeResult

from clawtui.engine.api.models import ActivityEntry
from clawtui.tui.widgets.activity_log import ActivityLog


class LogApp(App[None]):
    CSS = "ActivityLog { height: 5; }"

    def __init__(self, max_lines: int = 1000) -> None:
        super().__init__()
        self.max_lines = max_lines

    def compose(self) -> ComposeResult:
        yield ActivityLog(id="activity", max_lines=self.max_lines)


def entry(i: int, message: str | None = None) -> ActivityEntry:
    return ActivityEntry(ts=1_700_000_000.0 + i, level="info", message=message or f"entry {i}")


def text_of(log: ActivityLog) -> list[str]:
    return [strip.text.rstrip() for strip in log.lines]


async def test_lines_wrap_to_the_width_and_again_when_it_changes() -> None:
    app = LogApp()
    async with app.run_test(size=(40, 10)) as pilot:
        log = app.query_one(ActivityLog)
        long = "word " * 20  # 100 characters: more than one line of 40 columns
        log.add(entry(1, long.strip()))
        await pilot.pause()
        narrow = text_of(log)
        assert len(narrow) > 2
        assert all(len(line) <= 40 for line in narrow)
        assert " ".join(" ".join(narrow).split()).endswith("word word")
        await pilot.resize_terminal(120, 10)
        await pilot.pause()
        assert len(text_of(log)) < len(narrow)  # wrapped again to the new width, nothing lost
        assert " ".join(text_of(log)).count("word") == 20


async def test_writes_before_the_width_is_known_are_kept_in_order() -> None:
    app = LogApp()
    log = ActivityLog(id="early")
    log.load([entry(3), entry(2), entry(1)])  # newest first, as the engine returns them
    async with app.run_test(size=(60, 10)) as pilot:
        await app.mount(log)
        await pilot.pause()
        assert [line.split(" ", 1)[1] for line in text_of(log)] == ["entry 1", "entry 2", "entry 3"]


async def test_the_oldest_entries_go_past_the_cap() -> None:
    app = LogApp(max_lines=5)
    async with app.run_test(size=(60, 10)) as pilot:
        log = app.query_one(ActivityLog)
        for i in range(12):
            log.add(entry(i))
        await pilot.pause()
        assert [line.split(" ", 1)[1] for line in text_of(log)] == [
            f"entry {i}" for i in range(7, 12)
        ]


async def test_follows_new_lines_at_the_end_and_stays_when_scrolled_up() -> None:
    app = LogApp()
    async with app.run_test(size=(60, 10)) as pilot:
        log = app.query_one(ActivityLog)
        for i in range(20):
            log.add(entry(i))
        await pilot.pause()
        assert log.scroll_y == log.max_scroll_y > 0  # at the end: following
        log.add(entry(20))
        await pilot.pause()
        assert log.scroll_y == log.max_scroll_y
        log.scroll_to(y=2, animate=False)
        await pilot.pause()
        log.add(entry(21))
        await pilot.pause()
        assert log.scroll_y == 2 < log.max_scroll_y  # the reader's place is kept


async def test_text_is_shown_as_written() -> None:
    app = LogApp()
    async with app.run_test(size=(80, 10)) as pilot:
        log = app.query_one(ActivityLog)
        log.add(entry(1, "container [bold]x[/bold] exited"))
        await pilot.pause()
        assert text_of(log)[0].endswith("container [bold]x[/bold] exited")


def test_the_log_does_not_import_rich_pretty() -> None:
    probe = (
        "import sys, clawtui.tui.widgets.activity_log; "
        "print('rich.pretty' in sys.modules, 'attr' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    assert out.split() == ["False", "False"]
