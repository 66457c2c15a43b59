"""The Escalations panel over the real engine (store in tmp_path), handed to the app directly
and over the remote client against a real service (`front`): pending first with age, Approve /
Skip / Modify (the editor prefilled with the proposed fix) delivered to the thread's queue, raw
evidence collapsed, incidents beside escalations, the brief; and the clear message when the
remote engine cannot be read."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from textual.widgets import Button, Collapsible, DataTable, Static, TextArea

from clawtui.client.engine import RemoteEngine
from clawtui.config import EngineConfig, HostConfig, Settings
from clawtui.config.escalations import BriefConfig, EscalationsConfig
from clawtui.engine.api.escalations import NewEscalation, Report, Status
from clawtui.engine.core import Engine
from clawtui.engine.threads.queue import IncomingMessage
from clawtui.tui.app import ClawApp
from clawtui.tui.widgets.escalations_panel import (
    EscalationsPanel,
    ModifyScreen,
    format_age,
)
from tests.tui.conftest import DOCKER_URL, SIZE
from tests.tui.helpers import wait_for
from tests.tui.remote_engine import FrontFactory

pytestmark = [pytest.mark.integration, pytest.mark.tui]


def _settings(tmp_path: Path) -> Settings:
    return Settings(
        engine=EngineConfig(state_dir=tmp_path / "engine", stats_interval=1.0),
        hosts=[HostConfig(name="local", url=DOCKER_URL)],
        escalations=EscalationsConfig(stuck_detector=False),
        brief=BriefConfig(enabled=False),
    )


def _keys(table: DataTable[object]) -> list[str]:
    return [str(row.key.value) for row in table.ordered_rows]


def _messages(engine: Engine, thread: int) -> list[IncomingMessage]:
    out = []
    for path in engine.queue.files("incoming"):
        msg = engine.queue.read(path)
        if isinstance(msg, IncomingMessage) and msg.threadId == thread:
            out.append(msg)
    return out


async def test_decide_from_the_panel(front: FrontFactory, tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    async with front.open(settings) as f:
        engine = f.engine
        app = ClawApp(f.ui, settings)
        async with app.run_test(size=SIZE) as pilot:
            await f.connected(pilot)
            first = await engine.escalations.raise_(
                NewEscalation(
                    agent="peter",
                    thread_id=1,
                    doing="deploying api v2.1",
                    tried=["curl deploy", "read logs"],
                    need="fqdn set in Coolify",
                    proposed_fix="set fqdn=api.example.com",
                    detail="Traceback (most recent call last):\n  boom [bold]not markup[/]",
                )
            )
            second = await engine.escalations.raise_(
                NewEscalation(agent="maya", thread_id=2, doing="spawn", need="approval")
            )
            third = await engine.escalations.raise_(
                NewEscalation(
                    agent="sam",
                    thread_id=3,
                    doing="rotate keys",
                    need="a go",
                    proposed_fix="rotate now",
                )
            )
            incident = await engine.incidents.anomaly(
                "staging", "disk:/var", Report(summary="disk /var 91% used", evidence=["df: 91%"])
            )
            app.show_panel("escalations")
            panel = app.screen.query_one(EscalationsPanel)
            table = panel.query_one("#escalations-table", DataTable)
            await wait_for(pilot, timeout=30, predicate=lambda: table.row_count == 4)
            # Pending first, oldest first; the incident beside them.
            expected = [f"e{first.id}", f"e{second.id}", f"e{third.id}", f"i{incident.id}"]
            assert _keys(table) == expected
            # A fresh escalation's age is in seconds (how many depends on the machine's load:
            # the ages advancing with the clock are checked with a clock the test moves).
            assert re.fullmatch(r"\d+s", str(table.get_row_at(0)[1]))
            detail = str(panel.query_one("#escalation-detail", Static).render())
            assert "Proposed fix: set fqdn=api.example.com" in detail
            assert "Traceback" not in detail  # the stack trace is never the headline
            raw = panel.query_one("#escalation-raw", Collapsible)
            assert raw.collapsed and raw.display
            assert "[bold]not markup[/]" in str(panel.query_one("#escalation-raw-text").render())

            # Approve the first (keyboard).
            table.focus()
            await pilot.press("a")
            await wait_for(pilot, timeout=30, predicate=lambda: len(_messages(engine, 1)) == 1)
            assert "APPROVED by tui" in _messages(engine, 1)[0].message
            await wait_for(pilot, timeout=30, predicate=lambda: _keys(table)[0] == f"e{second.id}")

            # Skip the second (button).
            skip = panel.query_one("#escalation-skip", Button)
            await wait_for(pilot, timeout=30, predicate=lambda: not skip.disabled)
            skip.press()
            await wait_for(pilot, timeout=30, predicate=lambda: len(_messages(engine, 2)) == 1)
            assert "SKIPPED" in _messages(engine, 2)[0].message

            # Modify the third: the editor opens prefilled with the proposed fix.
            await wait_for(pilot, timeout=30, predicate=lambda: _keys(table)[0] == f"e{third.id}")
            table.focus()
            await pilot.press("m")
            await wait_for(pilot, lambda: isinstance(app.screen, ModifyScreen), timeout=30)
            area = app.screen.query_one(TextArea)
            assert area.text == "rotate now"
            area.text = "rotate tomorrow at 09:00"
            await pilot.press("ctrl+s")
            await wait_for(pilot, timeout=30, predicate=lambda: len(_messages(engine, 3)) == 1)
            assert "Do this instead: rotate tomorrow at 09:00" in _messages(engine, 3)[0].message
            decided = await engine.escalations.get(third.id)
            assert decided is not None and decided.status is Status.MODIFIED

            # A later healthy check resolves the incident: the panel follows the event.
            await engine.incidents.healthy("staging")
            await wait_for(pilot, timeout=30, predicate=lambda: _keys(table)[0] == f"e{first.id}")
            assert str(table.get_row(f"i{incident.id}")[4]) == "resolved"

            # The brief is shown in full.
            await engine.briefs.run("2026-11-23")
            brief = panel.query_one("#escalation-brief-text", Static)
            await wait_for(
                pilot, lambda: "Morning Brief — 2026-11-23" in str(brief.render()), timeout=30
            )
            assert not panel.query_one("#escalations-unavailable", Static).display


async def test_remote_engine_says_what_to_do(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    remote = RemoteEngine("http://127.0.0.1:9", "token")
    app = ClawApp(remote, settings)
    async with app.run_test(size=SIZE) as pilot:
        app.show_panel("escalations")
        await pilot.pause()
        text = str(app.screen.query_one("#escalations-unavailable", Static).render())
        assert "--connect" in text and "escalations decide" in text
        await pilot.press("a")  # no crash


def test_format_age() -> None:
    assert format_age(5) == "5s"
    assert format_age(125) == "2m"
    assert format_age(3 * 3600 + 5 * 60) == "3h05m"
    assert format_age(2 * 86400 + 3600) == "2d1h"


async def test_panel_keys_work_right_after_6_and_ages_advance(tmp_path: Path) -> None:
    """Issue 19: after `6` (no Tab), `a` approves (not the activity log) and `m` opens the
    editor; the Age column follows the clock instead of staying at its load-time value."""
    import time

    from clawtui.tui.widgets.activity_log import ActivityLog

    settings = _settings(tmp_path)
    now = [time.time()]
    engine = Engine(settings)
    app = ClawApp(engine, settings, clock=lambda: now[0])
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, app.components_ready.is_set, timeout=30)  # the store is ready
        first = await engine.escalations.raise_(
            NewEscalation(agent="peter", thread_id=1, doing="deploy", need="a go")
        )
        second = await engine.escalations.raise_(
            NewEscalation(agent="maya", thread_id=2, doing="spawn", need="ok", proposed_fix="x")
        )
        await pilot.press("6")
        panel = app.screen.query_one(EscalationsPanel)
        table = panel.query_one("#escalations-table", DataTable)
        await wait_for(pilot, timeout=30, predicate=lambda: table.row_count == 2)
        activity = app.screen.query_one(ActivityLog)
        shown = activity.display

        await pilot.press("a")
        await wait_for(pilot, timeout=30, predicate=lambda: len(_messages(engine, 1)) == 1)
        assert activity.display == shown  # `a` was the panel's, not the activity toggle
        decided = await engine.escalations.get(first.id)
        assert decided is not None and decided.status is Status.APPROVED

        await wait_for(pilot, timeout=30, predicate=lambda: _keys(table)[0] == f"e{second.id}")
        await pilot.press("m")
        await wait_for(pilot, lambda: isinstance(app.screen, ModifyScreen), timeout=30)
        await pilot.press("escape")

        assert str(table.get_row(f"e{second.id}")[1]).endswith("s")
        now[0] += 125
        await wait_for(
            pilot, timeout=30, predicate=lambda: str(table.get_row(f"e{second.id}")[1]) == "2m"
        )


async def test_incident_loop_from_the_panel(front: FrontFactory, tmp_path: Path) -> None:
    """h hands the report to the monitor's fix thread, p marks PR ready, l restarts the loop."""
    from clawtui.config.escalations import MonitorConfig
    from clawtui.engine.api.escalations import LoopState

    settings = _settings(tmp_path)
    settings.monitors = [MonitorConfig(name="staging", fix_thread_id=5, hand_off_on_detect=False)]
    async with front.open(settings) as f:
        engine = f.engine
        app = ClawApp(f.ui, settings)
        async with app.run_test(size=SIZE) as pilot:
            await f.connected(pilot)
            incident = await engine.incidents.anomaly(
                "staging", "process:buildagent", Report(summary="buildagent [b]not running[/b]")
            )
            assert _messages(engine, 5) == []  # hand_off_on_detect = false
            app.show_panel("escalations")
            panel = app.screen.query_one(EscalationsPanel)
            table = panel.query_one("#escalations-table", DataTable)
            await wait_for(pilot, timeout=30, predicate=lambda: table.row_count == 1)
            table.focus()

            async def state() -> LoopState:
                inc = await engine.incidents.get(incident.id)
                assert inc is not None
                return inc.state

            await pilot.press("h")
            await wait_for(pilot, timeout=30, predicate=lambda: len(_messages(engine, 5)) == 1)
            assert "**Summary:** buildagent [b]not running[/b]" in _messages(engine, 5)[0].message
            await pilot.press("p")
            await wait_for(
                pilot,
                timeout=30,
                predicate=lambda: str(table.get_row(f"i{incident.id}")[4]) == "pr_ready",
            )
            assert await state() is LoopState.PR_READY
            await pilot.press("l")
            await wait_for(
                pilot,
                timeout=30,
                predicate=lambda: str(table.get_row(f"i{incident.id}")[4]) == "restarting",
            )
            assert await state() is LoopState.RESTARTING
            await pilot.press("l")  # refused (already restarting): said, state unchanged
            await pilot.pause()
            assert await state() is LoopState.RESTARTING
