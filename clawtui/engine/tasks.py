"""The background work of a capability: one named task, started once, cancelled on stop.

self._loop_task = BackgroundTask("escalations:stuck")
...
async def start(self) -> None:
    if enabled:
        self._loop_task.start(every(interval, self.check_once, what="stuck detector pass"))

async def stop(self) -> None:
    await self._loop_task.stop()
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

log = logging.getLogger(__name__)


class BackgroundTask:
    """One long-lived task with a name; `stop` cancels it and waits for it to end."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self, work: Coroutine[Any, Any, None]) -> None:
        """Run `work` as this task (a second start while it runs is refused)."""
        if self.running:
            work.close()
            raise RuntimeError(f"{self.name} is already running")
        self._task = asyncio.create_task(work, name=self.name)

    async def stop(self) -> None:
        """Cancel the task and wait for it; safe to call when it never started."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


async def every(
    seconds: Callable[[], float] | float, step: Callable[[], Awaitable[object]], *, what: str
) -> None:
    """Run `step` forever, `seconds` apart; a failing pass is logged and the loop goes on."""
    while True:
        try:
            await step()
        except asyncio.CancelledError:
            raise
        except Exception:  # one bad pass must not end the loop
            log.exception("%s failed", what)
        await asyncio.sleep(seconds() if callable(seconds) else seconds)
