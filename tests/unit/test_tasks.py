"""engine/tasks.py: a capability's one background task, and a loop that survives a bad pass."""

from __future__ import annotations

import asyncio

import pytest

from clawtui.engine.tasks import BackgroundTask, every


async def test_every_goes_on_after_a_failing_pass_and_stop_ends_it() -> None:
    passes: list[int] = []
    third = asyncio.Event()

    async def step() -> None:
        passes.append(len(passes))
        if len(passes) == 1:
            raise RuntimeError("one bad pass")
        if len(passes) == 3:
            third.set()

    task = BackgroundTask("test:every")
    task.start(every(0, step, what="test pass"))
    assert task.running
    await asyncio.wait_for(third.wait(), 5)
    await task.stop()
    assert not task.running
    count = len(passes)
    await asyncio.sleep(0)
    assert len(passes) == count  # nothing runs after stop


async def test_stop_without_start_and_a_second_start_refused() -> None:
    task = BackgroundTask("test:once")
    await task.stop()  # never started: nothing to do
    gate = asyncio.Event()
    task.start(gate.wait())  # type: ignore[arg-type]
    with pytest.raises(RuntimeError, match="already running"):
        task.start(gate.wait())  # type: ignore[arg-type]
    await task.stop()
    assert not task.running
