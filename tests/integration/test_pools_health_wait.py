"""A cold start waits for Docker's health verdict by listening, not by polling dockerd."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import docker

from clawtui.config.pools import HealthcheckSpec, PoolConfig
from tests.integration.pool_helpers import pool_settings, running, unique, workload


async def test_cold_start_follows_docker_health_events(
    tmp_path: Path, docker_api: docker.APIClient, test_labels: dict[str, str], pool_image: str
) -> None:
    name = unique("hw")
    every_second = HealthcheckSpec(command=["true"], interval=1.0, retries=2)
    wl = workload(name, test_labels).model_copy(update={"healthcheck": every_second})
    pool = PoolConfig(name=name, workload=name, min_warm=0, max=1, on_empty="cold")
    async with running(pool_settings(tmp_path / "state", [wl], [pool]), docker_api) as engine:
        monitor = engine.monitors["local"]
        inspects: list[tuple[float, str]] = []
        real_call = monitor.call

        async def counting(fn: Any, *args: Any, **kwargs: Any) -> Any:
            if getattr(fn, "__name__", "") == "inspect_container":
                inspects.append((time.monotonic(), str(args[0]) if args else ""))
            return await real_call(fn, *args, **kwargs)

        monitor.call = counting  # type: ignore[method-assign]
        started = time.monotonic()
        info = await engine.pools.claim("t1", name)
        took = time.monotonic() - started
        monitor.call = real_call  # type: ignore[method-assign]
        assert info.source == "cold"
        inspected = docker_api.inspect_container(info.container)
        assert inspected["State"]["Health"]["Status"] == "healthy"
        # Only this container's inspects: other tests' containers on the shared dockerd make
        # the monitor inspect them too.
        mine = {inspected["Id"], inspected["Id"][:12], info.container}
        times = [t for t, target in inspects if target in mine]
    # The claim waited for Docker's verdict: the container was healthy when the claim returned
    # (checked above, by order, not by how long the claim took).
    # A handful of inspects: the monitor's on create / start / health_status, the pool's on
    # each of those, and its half-interval fallback poll, which adds two a second while the
    # claim waits. A 50 ms poll makes twenty a second. Bounded by the rate, not a fixed count,
    # so a slow machine cannot fail it and a poller still does.
    limit = 6 + 2 * took
    assert 1 <= len(times) <= limit, (limit, [round(t - started, 2) for t in times])
