"""tmux in the Dev containers panel, over the fake engine's tmux: the selected container's
sessions and windows, refreshed on selection and on TMUX events; run a command in a new window
(the form checks names before anything is sent); broadcast a line to the marked containers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from rich.text import Text
from textual.widgets import Input, Static

from clawtui.engine.api.models import EventKind
from clawtui.engine.api.tmux import TmuxListing, TmuxSession, TmuxWindow
from clawtui.tui.app import ClawApp
from clawtui.tui.screens.tmux_forms import TmuxBroadcastScreen, TmuxRunScreen
from clawtui.tui.widgets.devbox_panel import DevboxesPanel
from tests.tui.conftest import SIZE
from tests.tui.fake_capabilities import FakeTmux
from tests.tui.fakes import NOW, FakeEngine
from tests.tui.helpers import wait_for
from tests.tui.test_app import record_notifications

pytestmark = pytest.mark.tui

AppFactory = Callable[..., ClawApp]
ALPHA = "local/" + "a1".ljust(64, "0")
DEV = "local/" + "c3".ljust(64, "0")


def sessions_text(app: ClawApp) -> str:
    area = app.screen.query_one("#tmux-sessions", Static)
    content = area.renderable if hasattr(area, "renderable") else area.render()
    return content.plain if isinstance(content, Text) else str(content)


def listing(name: str, *sessions: tuple[str, int, int, float], windows: Any = ()) -> TmuxListing:
    return TmuxListing(name, [TmuxSession(*s) for s in sessions], list(windows))


async def submit(pilot: Any, app: ClawApp) -> None:
    """Enter in the form's last input (as a person does after typing; two quick clicks on the
    same button would read as a double click)."""
    app.screen.query(Input).last().focus()
    await pilot.press("enter")


async def open_on(pilot: Any, app: ClawApp, key: str) -> DevboxesPanel:
    await pilot.press("4")
    await wait_for(pilot, lambda: bool(app.screen.query(DevboxesPanel)))
    panel = app.screen.query_one(DevboxesPanel)
    panel.cards[key].slider.focus()
    await pilot.pause()
    return panel


@pytest.fixture
def tmux(engine: FakeEngine) -> FakeTmux:
    fake = FakeTmux(engine)
    engine.tmux = fake
    fake.listings["sam"] = listing(
        "sam",
        ("main", 2, 1, NOW - 120),
        ("[bold]odd", 1, 0, NOW - 7200),
        windows=[
            TmuxWindow("main", 0, "shell", False, "bash"),
            TmuxWindow("main", 1, "claude", True, "node"),
            TmuxWindow("[bold]odd", 0, "[red]x[/]", True, "sleep"),
        ],
    )
    fake.listings["agent-alpha"] = listing("agent-alpha")
    return fake


async def test_detail_lists_sessions_and_windows_and_follows_selection(
    make_app: AppFactory, engine: FakeEngine, tmux: FakeTmux
) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_on(pilot, app, DEV)
        await wait_for(pilot, lambda: "main" in sessions_text(app))
        text = sessions_text(app)
        assert "main  2 windows · 1 attached · active 2m 0s ago" in text
        assert " 0:shell  bash" in text and "*1:claude  node" in text
        # Names from the container are shown literally, never as markup.
        assert "[bold]odd  1 window · detached · active 2h 0m ago" in text
        assert "*0:[red]x[/]  sleep" in text
        # Selecting another card shows its sessions (none yet: the hint says what to do).
        app.screen.query_one(DevboxesPanel).cards[ALPHA].slider.focus()
        await wait_for(pilot, lambda: "No tmux sessions yet" in sessions_text(app))
        assert ("sessions", "agent-alpha") in tmux.calls


async def test_tmux_event_refreshes_and_errors_are_shown(
    make_app: AppFactory, engine: FakeEngine, tmux: FakeTmux
) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_on(pilot, app, DEV)
        await wait_for(pilot, lambda: "claude" in sessions_text(app))
        tmux.listings["sam"] = listing("sam", ("build", 1, 0, NOW - 5))
        engine.bus.publish(EventKind.TMUX, action="send", target="other", session="main")
        await pilot.pause(0.3)
        assert "claude" in sessions_text(app)  # not about this container: not re-read
        engine.bus.publish(EventKind.TMUX, action="send", target="sam", session="build")
        await wait_for(pilot, lambda: "build  1 window" in sessions_text(app))
        tmux.fail["sam"] = "[red]sam: host key changed[/]"
        engine.bus.publish(EventKind.TMUX, action="run", target="sam", session="build")
        await wait_for(pilot, lambda: "tmux: [red]sam: host key changed[/]" in sessions_text(app))


async def test_run_form_checks_names_then_starts_the_command(
    make_app: AppFactory, engine: FakeEngine, tmux: FakeTmux
) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        notes = record_notifications(app)
        await open_on(pilot, app, DEV)
        await pilot.press("w")
        await wait_for(pilot, lambda: isinstance(app.screen, TmuxRunScreen))
        form = app.screen
        form.query_one("#tmux-command", Input).value = "claude --model 'big one'"
        form.query_one("#tmux-cwd", Input).value = "~/repos/x"
        form.query_one("#tmux-window", Input).value = "a;id"
        await pilot.click("#tmux-submit")
        await pilot.pause()
        assert isinstance(app.screen, TmuxRunScreen)  # stays open, says what is wrong
        error = form.query_one("#tmux-error", Static)
        shown = error.renderable if hasattr(error, "renderable") else error.render()
        assert "window: invalid tmux window name 'a;id'" in str(shown)
        assert tmux.runs == []
        form.query_one("#tmux-window", Input).value = "claude2"
        form.query_one("#tmux-session", Input).value = "work"
        await submit(pilot, app)
        await wait_for(pilot, lambda: len(tmux.runs) == 1)
        assert tmux.runs == [("sam", ["claude", "--model", "big one"], "work", "claude2",
                              "~/repos/x")]  # fmt: skip
        await wait_for(pilot, lambda: any(n[0].startswith("started in sam") for n in notes))
        await wait_for(pilot, lambda: "work  1 window" in sessions_text(app))
        assert "0:claude2  claude" in sessions_text(app)


async def test_run_failure_is_a_notification(
    make_app: AppFactory, engine: FakeEngine, tmux: FakeTmux
) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        notes = record_notifications(app)
        await open_on(pilot, app, DEV)
        tmux.fail["sam"] = "tmux is not installed in the container"
        await pilot.press("w")
        await wait_for(pilot, lambda: isinstance(app.screen, TmuxRunScreen))
        app.screen.query_one("#tmux-command", Input).value = "htop"
        await pilot.press("enter")
        await wait_for(pilot, lambda: any(n[1].get("severity") == "error" for n in notes))
        message, kw = next(n for n in notes if n[1].get("severity") == "error")
        assert message == "tmux is not installed in the container" and kw["markup"] is False


async def test_broadcast_to_marked_containers(
    make_app: AppFactory, engine: FakeEngine, tmux: FakeTmux
) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        notes = record_notifications(app)
        panel = await open_on(pilot, app, ALPHA)
        await pilot.press("space", "down", "space")
        assert [c.key for c in panel.card_list.cards if c.marked] == [ALPHA, DEV]
        await pilot.press("b")
        await wait_for(pilot, lambda: isinstance(app.screen, TmuxBroadcastScreen))
        assert "To 2 containers: agent-alpha, sam" in str(
            app.screen.query_one("#tmux-intro", Static).render()
        )
        app.screen.query_one("#tmux-session", Input).value = "$(id)"
        app.screen.query_one("#tmux-line", Input).value = "git pull"
        await pilot.click("#tmux-submit")
        await pilot.pause()
        assert isinstance(app.screen, TmuxBroadcastScreen) and tmux.broadcasts == []
        app.screen.query_one("#tmux-session", Input).value = "main"
        await submit(pilot, app)
        await wait_for(pilot, lambda: len(tmux.broadcasts) == 1)
        assert tmux.broadcasts == [(["agent-alpha", "sam"], "git pull", "main")]
        await wait_for(pilot, lambda: any("sent to 2 of 2" in n[0] for n in notes))
        # One container failing is reported by name; the other still got the line.
        tmux.fail["agent-alpha"] = "agent-alpha is not running or publishes no SSH port"
        await pilot.press("b")
        await wait_for(pilot, lambda: isinstance(app.screen, TmuxBroadcastScreen))
        app.screen.query_one("#tmux-line", Input).value = "make test"
        await submit(pilot, app)
        await wait_for(pilot, lambda: any("sent to 1 of 2" in n[0] for n in notes))
        message, kw = next(n for n in notes if "sent to 1 of 2" in n[0])
        assert "agent-alpha: agent-alpha is not running" in message
        assert kw["severity"] == "error"


async def test_no_tmux_capability_no_section_and_a_clear_message(
    make_app: AppFactory, engine: FakeEngine
) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        notes = record_notifications(app)
        await open_on(pilot, app, DEV)
        assert not app.screen.query_one("#tmux-sessions", Static).display
        await pilot.press("w")
        await pilot.pause()
        assert not isinstance(app.screen, TmuxRunScreen)
        assert notes and notes[-1][0] == "tmux is not available over this engine."
