"""SVG snapshots of the screens a person looks at most (120x36, fake engine, frozen clock).

Update with `--snapshot-update` only after looking at the new SVG: the docstring of each test
says what it must show.
"""

from __future__ import annotations

from typing import Any

import pytest

from clawtui.config import Settings
from clawtui.engine.api.memory import MemoryChange, Outcome
from clawtui.engine.api.models import MIB, ContainerStats, EventKind
from clawtui.tui.app import ClawApp
from clawtui.tui.widgets.devbox_panel import DevboxesPanel
from tests.tui.conftest import SIZE
from tests.tui.fakes import NOW, FakeEngine, fixed_clock

pytestmark = pytest.mark.tui


def test_fleet_overview(snap_compare, engine: FakeEngine) -> None:  # type: ignore[no-untyped-def]
    """The Fleet panel, dark theme.

    A person should see: the six panel tabs with Fleet active; a header line for host `local`
    in green (online, Docker 27.3.1, 8 CPUs, 3/4 running, RAM 16.0 GiB, alloc 4.0 GiB, avail
    10.0 GiB, reserve 2.0 GiB) and one for `gpu-box` in red (offline) with its error text on
    the next line; the container table sorted by host then name (agent-alpha 2d 3h, agent-beta
    87.2 % and 800 / 1,024 MiB, broker exited with "— / —", dev-sam); the cursor on agent-alpha
    with its id, limits and labels in the detail pane; three activity lines (the last a
    WARNING); the footer with the panel keys 1-7, a, ?, t, r, ^p and q.
    """
    app = ClawApp(engine, Settings(), clock=fixed_clock)
    assert snap_compare(app, terminal_size=SIZE)


def test_help_screen(snap_compare, engine: FakeEngine) -> None:  # type: ignore[no-untyped-def]
    """The help screen over the Fleet panel, opened with `?`.

    A person should see: a centered box titled "Keys" listing, under "Everywhere", "q ^q" Quit
    once (issue 19), "? f1" Help, t Theme, r Refresh, ^p Palette with their binding ids;
    under "Main screen" the panel keys 1-7 with what each panel holds and their ids
    (panel.fleet ... panel.escalations) and `a` Activity; then the focused container table's
    own keys; the box's subtitle says Esc closes it.
    """
    app = ClawApp(engine, Settings(), clock=fixed_clock)
    assert snap_compare(app, terminal_size=SIZE, press=["question_mark"])


def test_devbox_panel(snap_compare, engine: FakeEngine) -> None:  # type: ignore[no-untyped-def]
    """The Dev containers panel with one slider moved and not applied yet.

    A person should see: the Dev containers tab active; the header of host `local` with
    "budget 14.0 GiB · alloc 4.1 GiB (+128 MiB pending) · avail 9.9 GiB" in green; two
    cards, agent-alpha first (most memory in use: 230 MiB / 512 MiB, a "pool" badge, a 45%
    usage bar, a sparkline)
    then dev-sam (a green "running" badge, an "idle" badge, "512 MiB → 640 MiB" in bold,
    120 MiB / 512 MiB, its slider focused at 640 MiB, a bar on the card's left edge); on the
    right "Recent changes" with "08:51:20 dev-old (cli)" over "512 MiB → 1 GiB ✓ applied";
    at the bottom of the panel an enabled "Apply changes" button, "Reset", and "1 change
    pending (+128 MiB) · 9.9 GiB left on local"; the footer lists l, s S R D, n New, ⏎ Attach,
    A Apply (space Mark, w Run, b Broadcast and U Reset are on the help screen).
    """
    engine.memory.rows = [
        MemoryChange(ts=NOW - 120, batch_id="b1", who="cli", host="local", container_id="x",
                     name="dev-old", old_limit=512 * MIB, new_limit=1024 * MIB,
                     old_swap=512 * MIB, new_swap=1024 * MIB, outcome=Outcome.APPLIED)
    ]  # fmt: skip
    alpha, dev = "a1".ljust(64, "0"), "c3".ljust(64, "0")

    async def run_before(pilot: Any) -> None:
        await pilot.press("4")
        for n, (a, d) in enumerate(zip((200, 240, 220, 260, 210, 230), (64, 90, 70, 110, 95, 120),
                                       strict=True)):  # fmt: skip
            engine.stats("local", {
                alpha: ContainerStats(cpu_percent=10.0 + n, mem_used=a * MIB, sampled_at=NOW),
                dev: ContainerStats(cpu_percent=0.0, mem_used=d * MIB, sampled_at=NOW),
            })  # fmt: skip
            await pilot.pause(0.3)
        panel = pilot.app.screen.query_one(DevboxesPanel)
        panel.cards["local/" + dev].slider.focus()
        await pilot.press("right", "right")
        await pilot.pause()

    app = ClawApp(engine, Settings(), clock=fixed_clock)
    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


# -- every panel at 150x40 (issue 19: what a person sees in a usual terminal) -----------------
WIDE = (150, 40)


def _wide_app(engine: FakeEngine) -> ClawApp:
    from tests.tui.fake_panels import with_panel_data

    return ClawApp(with_panel_data(engine), Settings(), clock=fixed_clock)


def test_wide_fleet(snap_compare, engine: FakeEngine) -> None:  # type: ignore[no-untyped-def]
    """Fleet at 150x40: the host headers, the container table and detail; the whole footer
    fits (it ends with `q Quit`)."""
    assert snap_compare(_wide_app(engine), terminal_size=WIDE)


def test_wide_threads(snap_compare, engine: FakeEngine) -> None:  # type: ignore[no-untyped-def]
    """Threads at 150x40: four threads (Master ★, api with 3 dirty files, +2/-5, 1 stale
    branch and an urgent flag, web, docs not a git repository); the ±origin column shows
    "no origin" in full; below, Master's HEARTBEAT.md; the message box; the footer fits."""
    assert snap_compare(_wide_app(engine), terminal_size=WIDE, press=["2"])


def test_wide_heartbeats(snap_compare, engine: FakeEngine) -> None:  # type: ignore[no-untyped-def]
    """Heartbeats at 150x40, the api thread selected: the table fits the width (problems cut
    with "…" in their column), below it api's urgent flag and both problems in full, wrapped,
    and its last reply; then the log of beats (three lines); no blank half."""

    async def run_before(pilot: Any) -> None:
        await pilot.press("3")
        await pilot.pause()
        for n, (action, ok, reply) in enumerate((
            ("ran", True, "HEARTBEAT_OK"),
            ("ran", False, "- 5 new commit(s) on origin/main: 9f2c1ab fix auth header"),
            ("skipped", None, ""),
        )):  # fmt: skip
            engine.bus.publish(EventKind.HEARTBEAT, thread_id=n + 1, action=action, ok=ok,
                               tiers=["quick", "hourly"], reply=reply)  # fmt: skip
        await pilot.pause(0.3)
        await pilot.press("down")
        await pilot.pause()

    assert snap_compare(_wide_app(engine), terminal_size=WIDE, run_before=run_before)


def test_wide_devboxes(snap_compare, engine: FakeEngine) -> None:  # type: ignore[no-untyped-def]
    """Dev containers at 150x40: the cards, the Apply / Reset row; the footer fits (l, sSRD,
    n New, ⏎ Attach, A Apply, then the panels and app keys up to `q Quit`)."""
    assert snap_compare(_wide_app(engine), terminal_size=WIDE, press=["4"])


def test_wide_pools(snap_compare, engine: FakeEngine) -> None:  # type: ignore[no-untyped-def]
    """Pools at 150x40: the pool `agents` (2/2 warm, 2 claimed, max 5, p50 3.2 ms, p99 9.8 ms)
    and its two tenants (acme, globex) with their last state sync."""
    from tests.tui.test_pools_panel import FakePools, pool_settings

    fake = FakePools()
    engine.pools = fake  # type: ignore[attr-defined]

    async def run_before(pilot: Any) -> None:
        await fake.claim("acme", "agents")
        await fake.claim("globex", "agents")
        await pilot.press("5")
        await pilot.pause(0.3)

    app = ClawApp(engine, pool_settings(), clock=fixed_clock)
    assert snap_compare(app, terminal_size=WIDE, run_before=run_before)


def test_wide_escalations(snap_compare, engine: FakeEngine) -> None:  # type: ignore[no-untyped-def]
    """Escalations at 150x40: peter's (21m) and maya's (3m) pending first, the staging disk
    incident, sam's approved one; peter's brief below with the Approve / Skip / Modify
    buttons; the morning brief; the footer shows a Approve, s Skip, m Modify."""
    assert snap_compare(_wide_app(engine), terminal_size=WIDE, press=["6"])


def test_wide_ingress(snap_compare, engine: FakeEngine) -> None:  # type: ignore[no-untyped-def]
    """Ingress at 150x40: two relay routes (ryan → cody, cody → ryan) with their notes; four
    records: a webhook build failure accepted for thread 2, its duplicate, a relay message
    delivered to cody, one from cody to maya rejected (no such route)."""
    assert snap_compare(_wide_app(engine), terminal_size=WIDE, press=["7"])
