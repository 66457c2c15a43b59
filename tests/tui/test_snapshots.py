"""SVG snapshots of the screens a person looks at most (120x36, fake engine, frozen clock).

Update with `--snapshot-update` only after looking at the new SVG: the docstring of each test
says what it must show.
"""

from __future__ import annotations

import pytest

from clawtui.config import Settings
from clawtui.tui.app import ClawApp
from tests.tui.conftest import SIZE
from tests.tui.fakes import FakeEngine, fixed_clock

pytestmark = pytest.mark.tui


def test_fleet_overview(snap_compare, engine: FakeEngine) -> None:  # type: ignore[no-untyped-def]
    """The Fleet panel, dark theme.

    A person should see: the six panel tabs with Fleet active; a header line for host `local`
    in green (online, Docker 27.3.1, 8 CPUs, 3/4 running, RAM 16.0 GiB, alloc 4.0 GiB, avail
    10.0 GiB, reserve 2.0 GiB) and one for `gpu-box` in red (offline) with its error text on
    the next line; the container table sorted by host then name (agent-alpha 2d 3h, agent-beta
    87.2 % and 800 / 1,024 MiB, broker exited with "— / —", dev-sam); the cursor on agent-alpha
    with its id, limits and labels in the detail pane; three activity lines (the last a
    WARNING); the footer with the panel keys 1-6, a, ?, t, r, ^p and q.
    """
    app = ClawApp(engine, Settings(), clock=fixed_clock)
    assert snap_compare(app, terminal_size=SIZE)


def test_help_screen(snap_compare, engine: FakeEngine) -> None:  # type: ignore[no-untyped-def]
    """The help screen over the Fleet panel, opened with `?`.

    A person should see: a centered box titled "Keys" listing, under "Everywhere", ^q, "? f1"
    Help, t Theme, r Refresh, ^p Palette and q Quit with their binding ids (app.help, ...);
    under "Main screen" the panel keys 1-6 with what each panel holds and their ids
    (panel.fleet ... panel.escalations) and `a` Activity; then the focused container table's
    own keys; the box's subtitle says Esc closes it.
    """
    app = ClawApp(engine, Settings(), clock=fixed_clock)
    assert snap_compare(app, terminal_size=SIZE, press=["question_mark"])
