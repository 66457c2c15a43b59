"""A pool engine in a child process that dies (os._exit, like kill -9) at a named crash point.

    python -m tests.integration.pool_crash_child SETTINGS_JSON ACTION [TENANT]

ACTION: claim | release | fill. The crash point is named by CLAWTUI_POOL_CRASH in the
environment. Exits 137 at the crash point, 0 when the action finished without reaching it,
3 when the engine refused the action (e.g. nothing to release). With CLAWTUI_TEST_CLOCK set
(seconds), the pools see that fixed time (the state machine drives its own clock).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

from clawtui.config import Settings
from clawtui.engine.api.pools import PoolError
from clawtui.engine.core import Engine

CLOCK_ENV = "CLAWTUI_TEST_CLOCK"


async def main(settings: Settings, action: str, tenant: str | None) -> int:
    engine = Engine(settings)
    engine.pools.background = action == "fill"
    if CLOCK_ENV in os.environ:
        fixed = float(os.environ[CLOCK_ENV])
        engine.pools.clock = lambda: fixed
    await engine.start()
    try:
        await engine.wait_online(15)
        pool = settings.pools[0].name
        try:
            if action == "claim":
                await engine.pools.claim(tenant or "crash", pool)
            elif action == "release":
                await engine.pools.release(tenant or "crash")
            else:
                await asyncio.sleep(5)
        except PoolError:
            return 3
        return 0
    finally:
        await engine.stop()


if __name__ == "__main__":
    args = sys.argv[1:]
    loaded = Settings.model_validate(json.loads(Path(args[0]).read_text()))
    raise SystemExit(asyncio.run(main(loaded, args[1], args[2] if len(args) > 2 else None)))
