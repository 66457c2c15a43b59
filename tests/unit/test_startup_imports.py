"""Start-up cost: the engine's heavy libraries are imported when a capability uses them, not
when `clawtui.engine.core` (or the TUI) is imported, i.e. not before the TUI's first frame."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

LATE = ("aiohttp", "asyncssh", "watchfiles", "cryptography")


@pytest.mark.parametrize("modules", ["clawtui.engine.core", "clawtui.tui.app, clawtui.engine.core"])
def test_heavy_libraries_are_not_imported_up_front(modules: str) -> None:
    code = (
        f"import sys, json, {modules}\n"
        f"print(json.dumps([m for m in {list(LATE)!r} if m in sys.modules]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )  # fmt: skip
    assert json.loads(out.stdout) == []


# The only engine code before the first frame: the fleet's first snapshot, read over the Docker
# socket while the TUI starts (standard library only; `engine/fleet/first_snapshot.py`).
FIRST_SNAPSHOT_MODULES = [
    "clawtui.engine.fleet", "clawtui.engine.fleet.docker_parse",
    "clawtui.engine.fleet.docker_socket", "clawtui.engine.fleet.first_snapshot",
    "clawtui.engine.fleet.stats",
]  # fmt: skip


# Runs `clawtui --config FILE` up to the point where the app would draw its first frame, and
# says which modules are imported by then and what the app was given as its engine.
_CLI_UP_TO_THE_FIRST_FRAME = """
import json, sys
from clawtui.tui.app import ClawApp

def run(self, **kw):
    print(json.dumps({
        "engine_core": "clawtui.engine.core" in sys.modules,
        "capabilities": sorted(m for m in sys.modules if m.startswith("clawtui.engine.")
                               and m.split(".")[2] not in ("api", "bus", "__init__")),
        "late_panels": sorted(m for m in sys.modules if m.startswith("clawtui.tui.widgets.")
                              and m.endswith("_panel")),
        "factory": callable(self._engine_factory),
        "verb_groups": sorted(m for m in sys.modules if m.startswith("clawtui.cli.")
                              and m.split(".")[2] in ("dev", "mem", "thread", "kb", "pool")),
    }))

ClawApp.run = run
from clawtui.cli.entry import main
main(["--config", sys.argv[1]])
"""


def test_the_tui_draws_before_the_engine_is_imported(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        f"[engine]\nstate_dir = {str(tmp_path / 'state')!r}\n\n"
        '[[hosts]]\nname = "local"\nurl = "unix:///nonexistent/docker.sock"\n'
    )
    out = subprocess.run(
        [sys.executable, "-c", _CLI_UP_TO_THE_FIRST_FRAME, str(config)],
        capture_output=True, text=True, check=True, cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path),
             "XDG_STATE_HOME": str(tmp_path / "xdg")},
    )  # fmt: skip
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert seen == {
        "engine_core": False, "capabilities": FIRST_SNAPSHOT_MODULES, "late_panels": [],
        "factory": True, "verb_groups": [],
    }  # fmt: skip
