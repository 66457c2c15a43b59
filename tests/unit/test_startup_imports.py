"""Start-up cost: the engine's heavy libraries are imported when a capability uses them, not
when `clawtui.engine.core` (or the TUI) is imported, i.e. not before the TUI's first frame."""

from __future__ import annotations

import json
import os
import subprocess
import sys

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
