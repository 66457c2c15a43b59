"""The pool routes over a real engine and service: claim, status, sync, release, bad input."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import docker
import pytest

from clawtui.config.pools import PoolConfig
from clawtui.service.runner import ServiceRunner
from tests.integration.pool_helpers import (
    local_sync,
    pool_settings,
    running,
    sh,
    unique,
    wait_warm,
    workload,
)

pytestmark = pytest.mark.timeout(240)
TOKEN = "t0ken-for-pool-tests-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
SECRET = "api-secret-value-hidden"


async def test_pool_routes_round_trip(
    tmp_path: Path, docker_api: docker.APIClient, test_labels: dict[str, str], pool_image: str
) -> None:
    name = unique("api")
    wl = workload(
        name,
        test_labels,
        sync=local_sync(tmp_path / "sink"),
        config_schema={"type": "object", "required": ["plan"]},
    )
    settings = pool_settings(
        tmp_path / "state", [wl], [PoolConfig(name=name, workload=name, min_warm=1, max=3)]
    )
    async with running(settings, docker_api) as engine:
        runner = ServiceRunner(engine, settings, token=TOKEN, listen=("127.0.0.1", 0))
        await runner.start()
        try:
            await wait_warm(engine, name, 1)
            url = runner.url
            async with aiohttp.ClientSession(headers=AUTH) as s:
                async with s.get(f"{url}/api/v1/pools") as r:
                    assert r.status == 200
                    pools = (await r.json())["pools"]
                    assert pools[0]["name"] == name and pools[0]["warm"] == 1
                # bad bodies: 400 naming the field, never echoing a secret
                for body, words in (
                    ({"pool": name, "config": {}}, "schema"),
                    ({"pool": name, "config": {"plan": 1}, "bogus": 1}, "unknown field"),
                    ({"config": {}}, "'pool' is required"),
                    ({"pool": name, "config": {"plan": 1}, "secrets": {"../x": SECRET}},
                     "secret name"),
                ):  # fmt: skip
                    async with s.post(f"{url}/api/v1/tenants/ann/claim", json=body) as r:
                        text = await r.text()
                        assert r.status == 400, text
                        assert words in text
                        assert SECRET not in text
                async with s.post(f"{url}/api/v1/tenants/ann/claim", data=b"{nope") as r:
                    assert r.status == 400
                async with s.post(f"{url}/api/v1/tenants/ann/claim", json={"pool": "nope"}) as r:
                    assert r.status == 404
                body = {"pool": name, "config": {"plan": "pro"}, "secrets": {"key": SECRET}}
                async with s.post(f"{url}/api/v1/tenants/ann/claim", json=body) as r:
                    assert r.status == 200, await r.text()
                    claim = await r.json()
                    assert claim["source"] == "warm"
                    assert claim["endpoints"]
                    assert SECRET not in await r.text()
                sh(docker_api, claim["container"], "mkdir -p /state/data && echo 1 > /state/data/f")
                async with s.post(f"{url}/api/v1/tenants/ann/claim", json=body) as r:
                    assert r.status == 409
                async with s.post(
                    f"{url}/api/v1/tenants/ann/sync", json={"direction": "sideways"}
                ) as r:
                    assert r.status == 400
                async with s.post(
                    f"{url}/api/v1/tenants/ann/sync", json={"direction": "upload"}
                ) as r:
                    assert r.status == 200
                    assert (await r.json())["runs"][0]["status"] == "ok"
                async with s.get(f"{url}/api/v1/tenants/ann") as r:
                    info = await r.json()
                    assert info["state"] == "active" and info["sync"][0]["bytes"] == 2
                async with s.post(f"{url}/api/v1/pools/{name}/scale", json={"min_warm": 99}) as r:
                    assert r.status == 400
                async with s.post(f"{url}/api/v1/pools/{name}/scale", json={"min_warm": 2}) as r:
                    assert r.status == 200
                    assert (await r.json())["target"] == 2
                async with s.post(f"{url}/api/v1/tenants/ann/release", json={"sync": "yes"}) as r:
                    assert r.status == 400
                async with s.post(f"{url}/api/v1/tenants/ann/release", json={}) as r:
                    assert r.status == 200, await r.text()
                    assert (await r.json())["state"] == "released"
                async with s.post(f"{url}/api/v1/tenants/ann/release", json={}) as r:
                    assert r.status == 404
            assert (tmp_path / "sink" / "tenants" / "ann" / "data" / "f").read_text() == "1\n"
        finally:
            await runner.stop()
