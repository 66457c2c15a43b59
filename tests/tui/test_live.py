"""The TUI over the real engine and the real local Docker engine: no fakes at all.

One busybox container labelled `clawtui.test=tui` is started with the low-level docker client;
the app, started on a test Settings (state in tmp_path), must show its row in the Fleet table,
then its first CPU sample, and must stop the engine it was given when it exits. The test runs
over the engine itself and over `--connect` to a real service in front of it (`front`). Like
every integration test here it fails (never skips) when Docker or the test image is missing,
naming the fix.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from pathlib import Path

import docker
import pytest
from docker.errors import NotFound

from clawtui.config import EngineConfig, HostConfig, Settings
from clawtui.engine.api.models import MIB, HostState
from clawtui.tui.app import ClawApp
from clawtui.tui.widgets.container_table import ContainerTable
from clawtui.tui.widgets.host_header import HostHeader
from tests.tui.conftest import DOCKER_URL, IMAGE, SIZE
from tests.tui.helpers import cell, wait_for
from tests.tui.remote_engine import FrontFactory

pytestmark = [pytest.mark.integration, pytest.mark.tui]

LABELS = {"clawtui.test": "tui"}


async def test_real_container_appears_in_the_fleet_table(
    front: FrontFactory, docker_api: docker.APIClient, tmp_path: Path
) -> None:
    name = f"clawtui-t-tui-{uuid.uuid4().hex[:8]}"
    created = await asyncio.to_thread(
        docker_api.create_container,
        IMAGE,
        command=["/bin/busybox", "sleep", "300"],
        name=name,
        labels=LABELS,
        host_config=docker_api.create_host_config(mem_limit=64 * MIB, memswap_limit=64 * MIB),
    )
    cid: str = created["Id"]
    try:
        await asyncio.to_thread(docker_api.start, cid)
        settings = Settings(
            engine=EngineConfig(state_dir=tmp_path / "engine", stats_interval=0.5),
            hosts=[HostConfig(name="local", url=DOCKER_URL)],
        )
        async with front.open(settings) as f:
            app = ClawApp(f.ui, settings)
            key = f"local/{cid}"
            async with app.run_test(size=SIZE) as pilot:
                table = app.screen.query_one("#fleet-table", ContainerTable)
                await wait_for(pilot, lambda: key in table.infos, timeout=10)
                assert cell(table, key, "name") == name
                assert cell(table, key, "image") == IMAGE
                assert cell(table, key, "state") == "running"
                assert cell(table, key, "mem").endswith("/ 64")
                await wait_for(pilot, lambda: cell(table, key, "cpu") not in ("", "…"), 10)
                header = app.screen.query(HostHeader).first()
                await wait_for(pilot, lambda: header.info.state is HostState.ONLINE, timeout=10)
                assert header.has_class("-online")
                assert header.info.docker_version

                await asyncio.to_thread(docker_api.remove_container, cid, force=True, v=True)
                await wait_for(pilot, lambda: key not in table.infos, timeout=10)
            assert f.ui_subscribers() == 0  # the engine it was given was stopped with the app
    finally:
        with contextlib.suppress(NotFound):
            await asyncio.to_thread(docker_api.remove_container, cid, force=True, v=True)
