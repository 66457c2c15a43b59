"""A Boilerhouse client against clawtui's `/boilerhouse` routes, over the real pools engine.

The requests and the expected answers are Boilerhouse's own (tests/fixtures/boilerhouse/
api_pairs.json: zdavison/boilerhouse d659f66, ts/apps/docs/reference/api.md and
go/internal/api/routes_tenant.go). Each pair is replayed in order against a real engine with a
real warm pool behind a real service: the status must match, the body must have the same keys
(recursively) and the same values wherever the value is not instance-specific (ids, addresses,
times are checked for their form instead).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import aiohttp
import docker
import pytest

from clawtui.config.pools import PoolConfig
from clawtui.service.runner import ServiceRunner
from tests.integration.pool_helpers import pool_settings, running, unique, wait_warm, workload

pytestmark = pytest.mark.timeout(240)
TOKEN = "t0ken-for-boilerhouse-tests-0123456789"
PAIRS = Path(__file__).parent.parent / "fixtures" / "boilerhouse" / "api_pairs.json"
SPECIFIC = {"instanceId", "host", "port", "claimedAt"}


def pairs() -> list[dict[str, Any]]:
    text = "\n".join(ln for ln in PAIRS.read_text().splitlines() if not ln.startswith("//"))
    data = json.loads(text)
    assert isinstance(data, list)
    return data


def same_shape(got: Any, want: Any, where: str = "body") -> None:
    if isinstance(want, dict):
        assert isinstance(got, dict) and set(got) == set(want), (where, got, want)
        for key, value in want.items():
            if key in SPECIFIC:
                assert type(got[key]) is type(value), (f"{where}.{key}", got[key])
                if key == "claimedAt":
                    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", got[key])
            else:
                same_shape(got[key], value, f"{where}.{key}")
    elif isinstance(want, list):
        assert isinstance(got, list) and len(got) == len(want), (where, got)
        for i, (g, w) in enumerate(zip(got, want, strict=True)):
            same_shape(g, w, f"{where}[{i}]")
    else:
        assert got == want, (where, got, want)


async def test_recorded_boilerhouse_pairs(
    tmp_path: Path, docker_api: docker.APIClient, test_labels: dict[str, str], pool_image: str
) -> None:
    name = unique("bh")
    wl = workload(name, test_labels, ports=[8080])
    settings = pool_settings(
        tmp_path / "state", [wl], [PoolConfig(name=name, workload=name, min_warm=1, max=2)]
    )
    async with running(settings, docker_api) as engine:
        runner = ServiceRunner(engine, settings, token=TOKEN, listen=("127.0.0.1", 0))
        await runner.start()
        try:
            await wait_warm(engine, name, 1)
            base = f"{runner.url}/boilerhouse"
            auth = {"Authorization": f"Bearer {TOKEN}"}
            async with aiohttp.ClientSession(headers=auth) as s:
                instance = None
                for pair in pairs():
                    body = pair["request"]
                    if body is not None:  # the recorded workload is our pool
                        body = json.loads(json.dumps(body).replace('"my-agent"', f'"{name}"'))
                    async with s.request(pair["method"], base + pair["path"], json=body) as r:
                        got = await r.json()
                        assert r.status == pair["status"], (pair["name"], got)
                    same_shape(got, pair["response"], pair["name"])
                    if pair["name"] == "claim":
                        instance = got["instanceId"]
                        assert got["endpoint"]["port"] == 8080
                        claim = await engine.pools.tenant("alice")
                        assert claim.container == instance and claim.pool == name
                    elif "instanceId" in got:
                        assert got["instanceId"] == instance  # the same claim, not a new one
                assert (await engine.pools.tenant("alice")).state == "released"
                # the health route and the error format of a wrong key, as Boilerhouse answers
                async with aiohttp.ClientSession() as anon:
                    async with anon.get(f"{base}/api/v1/health") as r:
                        assert (r.status, await r.json()) == (200, {"status": "ok"})
                    async with anon.post(
                        f"{base}/api/v1/tenants/bob/claim", json={"workload": name}
                    ) as r:
                        assert r.status == 401 and isinstance((await r.json())["error"], str)
                async with s.post(
                    f"{base}/api/v1/tenants/bob/claim", json={"workload": "no-such"}
                ) as r:
                    assert r.status == 404 and "no-such" in (await r.json())["error"]
        finally:
            await runner.stop()
