"""README: "a warm claim makes no Docker call" (issue 20, README promises). Every HTTP request
the engine's real Docker client sends is recorded (its `send`, the one door of requests'
Session); a warm claim sends none about its container, a cold claim of the same engine does
(so the recorder sees the engine's calls)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import docker
import pytest

from clawtui.config.pools import PoolConfig
from tests.integration.pool_helpers import pool_settings, running, unique, wait_warm, workload

pytestmark = pytest.mark.timeout(180)


async def test_a_warm_claim_makes_no_docker_call(
    tmp_path: Path, docker_api: docker.APIClient, test_labels: dict[str, str], pool_image: str
) -> None:
    warm, cold = unique("wc"), unique("cc")
    settings = pool_settings(
        tmp_path / "state",
        [workload(warm, test_labels), workload(cold, test_labels)],
        [
            PoolConfig(name=warm, workload=warm, min_warm=1, max=2),
            PoolConfig(name=cold, workload=cold, min_warm=0, max=1, on_empty="cold"),
        ],
    )
    async with running(settings, docker_api) as engine:
        await wait_warm(engine, warm, 1)
        client = engine.monitors["local"].client
        assert client is not None
        sent: list[str] = []
        real_send = client.send

        def send(request: Any, **kwargs: Any) -> Any:
            sent.append(f"{request.method} {request.url}")
            return real_send(request, **kwargs)

        client.send = send  # type: ignore[method-assign]
        try:
            info = await engine.pools.claim("wendy", warm)
            during_warm = list(sent)
            sent.clear()
            coldinfo = await engine.pools.claim("carl", cold)
            during_cold = list(sent)
        finally:
            client.send = real_send  # type: ignore[method-assign]
        assert info.source == "warm" and coldinfo.source == "cold"
        cid = docker_api.inspect_container(info.container)["Id"]

        def about(calls: list[str], name: str, ident: str) -> list[str]:
            # The stats sampler may poll any container meanwhile: not the claim's doing.
            return [c for c in calls if (name in c or ident in c) and "/stats" not in c]

        assert about(during_warm, info.container, cid) == [], during_warm
        cold_id = docker_api.inspect_container(coldinfo.container)["Id"]
        assert about(during_cold, coldinfo.container, cold_id), during_cold
        assert any("/containers/create" in c for c in during_cold), during_cold
