"""Crash points: named places where the engine process exits at once (like kill -9), for tests.

The state-machine tests set CLAWTUI_POOL_CRASH to one of `CRASH_POINTS` in a child engine and
check that a restarted engine reconciles to a state where every invariant holds.
"""

from __future__ import annotations

import os

CRASH_ENV = "CLAWTUI_POOL_CRASH"
"""Names a crash point; the engine process exits at once (like kill -9) when it gets there."""
CRASH_POINTS = (
    "claim.after_commit",
    "release.before_upload",
    "fill.after_create",
    "release.after_upload",
    "release.after_remove",
)


def crash_point(point: str) -> None:
    """Exit the process right here when CLAWTUI_POOL_CRASH names this point (tests)."""
    if os.environ.get(CRASH_ENV) == point:
        os._exit(137)
