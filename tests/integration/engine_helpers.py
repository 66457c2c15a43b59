"""Helpers for integration tests that run the real engine against the real Docker engine."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

from clawtui.config import EngineConfig, HostConfig, ServiceConfig, Settings
from clawtui.engine.api.models import Event
from clawtui.engine.bus import Subscription


def make_settings(
    state_dir: Path, *, interval: float = 0.5, direct: bool = True, **service: object
) -> Settings:
    return Settings(
        engine=EngineConfig(
            state_dir=state_dir, stats_interval=interval, reconnect_max_backoff=1.0
        ),
        service=ServiceConfig(**service),
        hosts=[HostConfig(name="local", cgroup_root="/sys/fs/cgroup" if direct else None)],
    )


async def wait_for_event(sub: Subscription, pred: Callable[[Event], bool], timeout: float) -> Event:
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("no matching event")
        event = await asyncio.wait_for(sub.get(), remaining)
        if pred(event):
            return event


async def wait_until(pred: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.05)
