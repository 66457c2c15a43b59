"""`clawtui --connect URL`: the TUI says when it cannot authenticate or cannot reach the service,
in the header and as a notification, and keeps retrying (issue 19). A real engine behind a real
service (aiohttp on loopback); the closed port is a loopback port nobody listens on until the
test starts the service there.
"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from clawtui.client.engine import RemoteEngine
from clawtui.config import EngineConfig, HostConfig, Settings
from clawtui.engine.core import Engine
from clawtui.service.runner import ServiceRunner
from clawtui.tui.app import ClawApp
from tests.tui.conftest import DOCKER_URL, SIZE
from tests.tui.helpers import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.tui]

TOKEN = "right-t0ken-for-the-connection-tests-0123"


def _settings(tmp_path: Path) -> Settings:
    return Settings(
        engine=EngineConfig(state_dir=tmp_path / "engine"),
        hosts=[HostConfig(name="local", url=DOCKER_URL)],
    )


def _messages(app: ClawApp) -> list[str]:
    return [n.message for n in app._notifications]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_a_wrong_token_is_said_in_the_header_and_a_notification(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    engine = Engine(settings)
    await engine.start()
    runner = ServiceRunner(engine, settings, token=TOKEN, listen=("127.0.0.1", 0))
    await runner.start()
    try:
        remote = RemoteEngine(runner.url, "wrong-token", max_backoff=0.2)
        app = ClawApp(remote, settings)
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(pilot, lambda: "cannot authenticate" in str(app.sub_title))
            assert runner.url in str(app.sub_title)
            assert sum("cannot authenticate" in m for m in _messages(app)) == 1
            assert not remote.connected.is_set()
    finally:
        await runner.stop()
        await engine.stop()


async def test_an_unreachable_service_is_said_and_retried_until_it_answers(
    tmp_path: Path,
) -> None:
    settings = _settings(tmp_path)
    port = _free_port()
    remote = RemoteEngine(f"http://127.0.0.1:{port}", TOKEN, max_backoff=0.2)
    app = ClawApp(remote, settings)
    engine = Engine(settings)
    runner: ServiceRunner | None = None
    try:
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(pilot, lambda: "cannot reach" in str(app.sub_title))
            assert sum("cannot reach" in m for m in _messages(app)) == 1  # once, not per retry
            # The service comes up on that port: the client, still retrying, connects.
            await engine.start()
            runner = ServiceRunner(engine, settings, token=TOKEN, listen=("127.0.0.1", port))
            await runner.start()
            await wait_for(pilot, remote.connected.is_set, timeout=15)
            await wait_for(pilot, lambda: str(app.sub_title) == "remote engine")
            assert any("again" in m for m in _messages(app))
    finally:
        if runner is not None:
            await runner.stop()
        await engine.stop()
