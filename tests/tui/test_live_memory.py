"""Memory sliders over the real engine and the real local Docker engine: no fakes at all.

Two busybox containers labelled `clawtui.role=devbox` and `clawtui.test=tui3`, 256 MiB each,
are started with the low-level docker client. In the app, one slider is dragged, then set
with the keys to 384 MiB and applied; `docker inspect` must then report Memory and
MemorySwap of 384 MiB for that container (and nothing changed for the other), and the panel
must show the applied result. A batch applied by someone else (the engine itself, as the CLI
or the service would) must join the panel's recent changes through its MEMORY event. Both run
over the engine itself and over `--connect` to a real service in front of it (`front`). Like
every integration test here it fails (never skips) when Docker or the test image is missing,
naming the fix.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import docker
import pytest
from docker.errors import NotFound

from clawtui.config import EngineConfig, HostConfig, Settings
from clawtui.engine.api.memory import BatchState
from clawtui.engine.api.models import MIB
from clawtui.tui.app import ClawApp
from clawtui.tui.widgets.devbox_panel import DevboxesPanel
from tests.tui.conftest import DOCKER_URL, IMAGE, SIZE
from tests.tui.helpers import wait_for
from tests.tui.remote_engine import FrontFactory

pytestmark = [pytest.mark.integration, pytest.mark.tui]

LABELS = {"clawtui.role": "devbox", "clawtui.test": "tui3"}


def limits(api: docker.APIClient, cid: str) -> tuple[int, int]:
    host_config = api.inspect_container(cid)["HostConfig"]
    return host_config["Memory"], host_config["MemorySwap"]


@contextlib.asynccontextmanager
async def two_devboxes(api: docker.APIClient, prefix: str) -> AsyncIterator[tuple[str, str]]:
    """Two running busybox containers labelled as dev boxes, 256 MiB each; removed after."""
    tag = uuid.uuid4().hex[:8]
    ids: list[str] = []
    try:
        for suffix in ("a", "b"):
            created = await asyncio.to_thread(
                api.create_container,
                IMAGE,
                command=["/bin/busybox", "sleep", "300"],
                name=f"clawtui-t-{prefix}-{tag}-{suffix}",
                labels=LABELS,
                host_config=api.create_host_config(mem_limit="256m"),
            )
            ids.append(created["Id"])
            await asyncio.to_thread(api.start, created["Id"])
        yield ids[0], ids[1]
    finally:
        for cid in ids:
            with contextlib.suppress(NotFound):
                await asyncio.to_thread(api.remove_container, cid, force=True, v=True)


def _settings(tmp_path: Path) -> Settings:
    return Settings(
        engine=EngineConfig(state_dir=tmp_path / "engine", stats_interval=0.5),
        hosts=[HostConfig(name="local", url=DOCKER_URL)],
    )


def history(panel: DevboxesPanel) -> str:
    return str(panel.query_one("#memory-history").render())


async def test_slider_change_is_applied_to_the_real_container(
    front: FrontFactory, docker_api: docker.APIClient, tmp_path: Path
) -> None:
    async with two_devboxes(docker_api, "tui3") as (first, second):
        assert limits(docker_api, first) == (256 * MIB, 512 * MIB)  # Docker's default swap: 2x
        settings = _settings(tmp_path)
        async with front.open(settings) as f:
            engine = f.engine
            app = ClawApp(f.ui, settings)
            key, other = f"local/{first}", f"local/{second}"
            async with app.run_test(size=SIZE) as pilot:
                await pilot.press("4")
                await wait_for(pilot, lambda: bool(app.screen.query(DevboxesPanel)), 15)
                panel = app.screen.query_one(DevboxesPanel)
                await wait_for(pilot, lambda: key in panel.cards and other in panel.cards, 15)
                card = panel.cards[key]
                await wait_for(pilot, lambda: card.is_mounted and card.slider.region.width > 0, 5)
                card.scroll_visible(animate=False)
                await pilot.pause()
                slider = card.slider

                # A drag moves it (snapped to 64 MiB) ...
                await pilot.mouse_down(slider, offset=(0, 0))
                await pilot.hover(slider, offset=(6, 0))
                await pilot.mouse_up(slider, offset=(6, 0))
                assert slider.value > 256 * MIB and slider.value % (64 * MIB) == 0
                # ... and the keys set it exactly: the minimum, then two steps up.
                slider.focus()
                await pilot.press("home", "right", "right")
                assert slider.value == 384 * MIB and card.dirty
                await pilot.press("A")
                await wait_for(pilot, lambda: panel.last_result is not None, 30)
                result = panel.last_result
                assert result is not None
                assert result.state is BatchState.APPLIED, result.summary()

                assert await asyncio.to_thread(limits, docker_api, first) == (384 * MIB, 384 * MIB)
                assert await asyncio.to_thread(limits, docker_api, second) == (256 * MIB, 512 * MIB)
                shown = str(panel.query_one("#memory-result").render())
                assert "Applied 1 change" in shown and "256 MiB → 384 MiB applied" in shown
                assert slider.value == slider.applied == 384 * MIB and not card.dirty
                # Docker's update event brings the model along; the slider stays put.
                await wait_for(pilot, lambda: (c := engine.container(key)) is not None
                               and c.memory_limit == 384 * MIB, 15)  # fmt: skip
                await wait_for(pilot, lambda: "256 MiB → 384 MiB" in history(panel), 10)
                assert slider.value == 384 * MIB and card.server_limit == 384 * MIB


async def test_history_follows_batches_applied_elsewhere(
    front: FrontFactory,
    docker_api: docker.APIClient,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    async with two_devboxes(docker_api, "tui4") as (first, _):
        settings = _settings(tmp_path)
        async with front.open(settings) as f:
            # A batch made before the app starts is read from `memory.history()` (REST remotely).
            await f.engine.start()
            assert await f.engine.wait_online(15)
            before = await f.engine.memory.apply({first: 320 * MIB}, who="cli")
            assert before.state is BatchState.APPLIED, before.summary()
            app = ClawApp(f.ui, settings)
            async with app.run_test(size=SIZE) as pilot:
                await f.connected(pilot)
                await pilot.press("4")
                await wait_for(pilot, lambda: bool(app.screen.query(DevboxesPanel)), 15)
                panel = app.screen.query_one(DevboxesPanel)
                await wait_for(pilot, lambda: "256 MiB → 320 MiB" in history(panel), 15)

                # One made while it runs arrives as a MEMORY event.
                after = await f.engine.memory.apply({first: 448 * MIB}, who="cli")
                assert after.state is BatchState.APPLIED, after.summary()
                await wait_for(pilot, lambda: "320 MiB → 448 MiB" in history(panel), 15)
