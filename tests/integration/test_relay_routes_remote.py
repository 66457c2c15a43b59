"""The relay whitelist over the service (`/api/v1/relay/routes`) and over the remote client
(`RemoteEngine.ingress`), against a real service in front of a real engine: a route added is
saved in the runtime settings file and lets the next `POST /relay` through at once, a route
removed refuses it at once; bad input is a 400 naming the field. No Docker needed."""

from __future__ import annotations

import asyncio
import json
import tomllib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from clawtui.client.engine import RemoteEngine
from clawtui.config import Settings
from clawtui.engine.api.ingress import IngressAPI, IngressError, ingress_of
from clawtui.engine.core import Engine
from clawtui.service.runner import ServiceRunner
from tests.integration.ingress_helpers import AGENT_SECRETS, SEED_ROUTES, ingress_settings

TOKEN = "t0ken-for-relay-routes-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
ROUTES = "/api/v1/relay/routes"


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[tuple[Settings, ServiceRunner, RemoteEngine]]:
    settings = ingress_settings(tmp_path)
    engine = Engine(settings)
    await engine.start()
    runner = ServiceRunner(engine, settings, token=TOKEN, listen=("127.0.0.1", 0))
    await runner.start()
    remote = RemoteEngine(runner.url, TOKEN)
    await remote.start()
    try:
        await asyncio.wait_for(remote.connected.wait(), 10)
        yield settings, runner, remote
    finally:
        await remote.stop()
        await runner.stop()
        await engine.stop()


async def _call(
    runner: ServiceRunner, method: str, path: str, *, auth: bool = True, **kw: Any
) -> tuple[int, Any]:
    async with (
        aiohttp.ClientSession(headers=AUTH if auth else {}) as http,
        http.request(method, runner.url + path, **kw) as resp,
    ):
        return resp.status, await resp.json()


async def _relay(runner: ServiceRunner, sender: str, to: str) -> int:
    body = {"from": sender, "to": to, "message": f"hello {to}"}
    headers = {"X-Relay-Secret": AGENT_SECRETS[sender]}
    async with (
        aiohttp.ClientSession() as http,
        http.post(runner.url + "/relay", json=body, headers=headers) as resp,
    ):
        return resp.status


def _saved(settings: Settings) -> list[dict[str, str]]:
    assert settings.state_file is not None
    routes: list[dict[str, str]] = tomllib.loads(settings.state_file.read_text())["relay"]["routes"]
    return routes


async def test_rest_list_add_remove(
    served: tuple[Settings, ServiceRunner, RemoteEngine],
) -> None:
    settings, runner, _ = served
    status, data = await _call(runner, "GET", ROUTES)
    assert status == 200
    assert [(r["from"], r["to"], r["note"]) for r in data["routes"]] == SEED_ROUTES
    assert {a["name"]: (a["thread_id"], a["has_secret"]) for a in data["agents"]} == {
        "ryan": (1, True),
        "sam": (2, True),
        "cody": (3, True),
    }

    assert await _relay(runner, "cody", "sam") == 403  # not allowed yet
    status, data = await _call(
        runner, "POST", ROUTES, json={"from": "cody", "to": "sam", "note": "staging"}
    )
    assert (status, data) == (201, {"from": "cody", "to": "sam", "note": "staging"})
    assert {"from": "cody", "to": "sam", "note": "staging"} in _saved(settings)
    assert await _relay(runner, "cody", "sam") == 202  # in effect at once, no restart
    status, data = await _call(runner, "GET", ROUTES)
    assert data["routes"][-1] == {"from": "cody", "to": "sam", "note": "staging"}

    status, data = await _call(runner, "POST", ROUTES, json={"from": "cody", "to": "sam"})
    assert status == 409 and "already allowed" in data["error"]["message"]

    status, data = await _call(runner, "DELETE", ROUTES + "/cody/sam")
    assert (status, data) == (200, {"removed": {"from": "cody", "to": "sam"}})
    assert all(r["from"] != "cody" or r["to"] != "sam" for r in _saved(settings))
    assert await _relay(runner, "cody", "sam") == 403
    status, data = await _call(runner, "DELETE", ROUTES + "/cody/sam")
    assert status == 404 and "no route cody → sam" in data["error"]["message"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"to": "sam"}, "'from' is required"),
        ({"from": "cody"}, "'to' is required"),
        ({"from": "cody", "to": "sam", "why": "x"}, "unknown field 'why'"),
        ({"from": "cody", "to": "sam", "note": 5}, "'note'"),
        ({"from": "cody", "to": "sam", "note": "x" * 201}, "'note'"),
        ({"from": "Cody!", "to": "sam"}, "'from'"),
        ({"from": "cody", "to": "cody"}, "'to'"),
        ({"from": "cody", "to": "zed"}, "unknown agent 'zed' in 'to'"),
    ],
)
async def test_rest_bad_input_names_the_field(
    served: tuple[Settings, ServiceRunner, RemoteEngine], body: dict[str, Any], field: str
) -> None:
    settings, runner, _ = served
    status, data = await _call(runner, "POST", ROUTES, json=body)
    assert status == 400, data
    assert field in data["error"]["message"]
    assert len(settings.relay.routes) == len(SEED_ROUTES)


async def test_rest_refusals(served: tuple[Settings, ServiceRunner, RemoteEngine]) -> None:
    _, runner, _ = served
    for method, path in (("GET", ROUTES), ("POST", ROUTES), ("DELETE", ROUTES + "/ryan/cody")):
        status, data = await _call(runner, method, path, auth=False)
        assert status == 401 and "bearer token" in data["error"]["message"]
    status, data = await _call(runner, "POST", ROUTES, data=b"not json")
    assert status == 400 and "not valid JSON" in data["error"]["message"]
    status, data = await _call(runner, "POST", ROUTES, json=["ryan", "cody"])
    assert status == 400 and "JSON object" in data["error"]["message"]
    status, data = await _call(runner, "DELETE", ROUTES + "/Ryan%20X/cody")
    assert status == 400 and "'from'" in data["error"]["message"]


async def test_remote_client_offers_the_same_methods(
    served: tuple[Settings, ServiceRunner, RemoteEngine],
) -> None:
    settings, runner, remote = served
    ingress: IngressAPI | None = ingress_of(remote)
    assert ingress is not None
    listing = await ingress.relay_routes()
    assert [(r.sender, r.to, r.note) for r in listing.routes] == SEED_ROUTES
    assert ingress.agents() == ["ryan", "sam", "cody"]

    route = await ingress.add_route("cody", "sam", "staging")
    assert (route.sender, route.to, route.note) == ("cody", "sam", "staging")
    assert [(r.sender, r.to) for r in ingress.routes()][-1] == ("cody", "sam")
    assert [(r.sender, r.to) for r in settings.relay.routes][-1] == ("cody", "sam")
    assert await _relay(runner, "cody", "sam") == 202

    with pytest.raises(IngressError, match="already allowed") as refused:
        await ingress.add_route("cody", "sam")
    assert refused.value.status == 409
    with pytest.raises(IngressError, match="unknown agent 'zed' in 'from'") as refused:
        await ingress.add_route("zed", "sam")
    assert refused.value.status == 400

    await ingress.remove_route("cody", "sam")
    assert ("cody", "sam") not in [(r.sender, r.to) for r in ingress.routes()]
    assert await _relay(runner, "cody", "sam") == 403
    with pytest.raises(IngressError, match="no route") as refused:
        await ingress.remove_route("cody", "sam")
    assert refused.value.status == 404

    outcome = await ingress.receive_relay(None, lambda limit: asyncio.sleep(0, b""))
    assert outcome.status == 501 and "/relay" in json.dumps(outcome.body)
