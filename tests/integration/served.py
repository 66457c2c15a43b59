"""A real engine behind a real `clawtui serve` (in process, on loopback), and a remote client."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from clawtui.client.engine import RemoteEngine
from clawtui.engine.core import Engine
from clawtui.service.runner import ServiceRunner


async def remote_over_service(engine: Engine, token: str) -> AsyncIterator[RemoteEngine]:
    """Start `engine` and a service in front of it; yield a connected `RemoteEngine`; stop all.

    Use as `async for remote in remote_over_service(engine, TOKEN): ...`.
    """
    await engine.start()
    assert await engine.wait_online(15)
    runner = ServiceRunner(engine, engine.settings, token=token, listen=("127.0.0.1", 0))
    await runner.start()
    remote = RemoteEngine(runner.url, token)
    await remote.start()
    try:
        await asyncio.wait_for(remote.connected.wait(), 10)
        yield remote
    finally:
        await remote.stop()
        await runner.stop()
        await engine.stop()
