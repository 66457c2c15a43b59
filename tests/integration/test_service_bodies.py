"""Request bodies on every route: read whole whatever the chunking, capped, and bad JSON, deep
nesting or text that is not Unicode answered 400, never 200 or 500 (issues 19 and 20).

The routes are enumerated from the app's router, so a new route is covered without editing
this file. A real engine (no Docker needed: its one host stays offline) behind a real service.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from clawtui.engine.api.models import EventKind
from clawtui.engine.core import Engine
from clawtui.service.runner import ServiceRunner
from tests.integration.body_helpers import (
    AUTH,
    body_routes,
    secret_headers,
    served_engine,
)
from tests.integration.ingress_helpers import RYAN_THREAD

pytestmark = pytest.mark.integration
WEBHOOK = "/webhook/azure-devops"


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[tuple[Engine, ServiceRunner]]:
    async with served_engine(tmp_path) as pair:
        yield pair


def _escalation(size: int) -> bytes:
    """A valid escalation body of exactly `size` bytes (whitespace between the fields)."""
    head = b'{"agent": "ryan", "doing": "a build", "need": "a decision", '
    tail = b'"detail": "' + b"x" * 1000 + b'"}'
    assert size >= len(head) + len(tail)
    return head + b" " * (size - len(head) - len(tail)) + tail


async def _post(
    s: aiohttp.ClientSession, url: str, data: Any, headers: dict[str, str] | None = None
) -> tuple[int, Any]:
    async with s.post(url, data=data, headers=headers or AUTH) as r:
        return r.status, await r.json(content_type=None)


async def test_a_body_in_several_chunks_is_read_whole(
    served: tuple[Engine, ServiceRunner],
) -> None:
    """A 3 KB body sent chunked in two parts, with the second one late, is one body."""
    _, runner = served
    body = _escalation(3000)
    second_part = asyncio.Event()

    async def chunks() -> AsyncIterator[bytes]:
        yield body[:1500]
        await second_part.wait()
        yield body[1500:]

    async with aiohttp.ClientSession() as s:
        post = asyncio.ensure_future(_post(s, runner.url + "/api/v1/escalations", chunks()))
        # Let the service start reading the first part before the second one is sent.
        for _ in range(50):
            await asyncio.sleep(0.01)
        second_part.set()
        status, answer = await post
    assert status == 201, answer
    assert answer["agent"] == "ryan" and len(answer["detail"]) == 1000


async def test_large_valid_bodies_up_to_the_cap_and_413_past_it(
    served: tuple[Engine, ServiceRunner],
) -> None:
    engine, runner = served
    cap = engine.settings.service.max_body_bytes
    async with aiohttp.ClientSession() as s:
        for size in (300_000, 400_000, 500_000, 1_000_000, cap):
            status, answer = await _post(s, runner.url + "/api/v1/escalations", _escalation(size))
            assert status == 201, (size, answer)
        status, answer = await _post(s, runner.url + "/api/v1/escalations", _escalation(cap + 1))
        assert status == 413, answer
        assert str(cap) in answer["error"]["message"]


async def test_bad_json_is_400_on_every_route_that_takes_a_body(
    served: tuple[Engine, ServiceRunner],
) -> None:
    """`{"a": ` and friends: 400 naming JSON on every POST/PUT/PATCH/DELETE route."""
    _, runner = served
    routes = body_routes(runner.app)
    assert ("POST", "/api/v1/brief/preview") in routes and len(routes) > 20, routes
    async with aiohttp.ClientSession() as s:
        for method, path in routes:
            if path == WEBHOOK:
                continue  # README: an unreadable webhook body is quarantined and answered 202
            for bad in (b'{"a": ', b"[1, 2", b"\xff\xfe", b"{'a': 1}"):
                async with s.request(
                    method, runner.url + path, data=bad, headers=secret_headers(path)
                ) as r:
                    answer = await r.json(content_type=None)
                    assert r.status == 400, (method, path, bad, r.status, answer)
        # The webhook keeps what it cannot read, and says so.
        headers = secret_headers(WEBHOOK)
        async with s.post(runner.url + WEBHOOK, data=b'{"a": ', headers=headers) as r:
            assert r.status == 202 and (await r.json())["status"] == "quarantined"


async def test_deep_nesting_is_400_on_every_route(
    served: tuple[Engine, ServiceRunner],
) -> None:
    """60k `[` (the JSON parser's recursion limit) and 200 levels inside a field: 400."""
    _, runner = served
    deep_field = {"changes": {"x": json.loads("[" * 200 + "]" * 200)}}
    bodies = [b"[" * 60_000, b'{"text": ' + b"[" * 60_000 + b"]" * 60_000 + b"}"]
    bodies.append(json.dumps(deep_field).encode())
    async with aiohttp.ClientSession() as s:
        for method, path in body_routes(runner.app):
            if path == WEBHOOK:
                continue  # README: an unreadable webhook body is quarantined and answered 202
            for body in bodies:
                async with s.request(
                    method, runner.url + path, data=body, headers=secret_headers(path)
                ) as r:
                    answer = await r.json(content_type=None)
                    assert r.status in (400, 413), (method, path, body[:20], r.status, answer)


async def test_a_lone_surrogate_is_400(served: tuple[Engine, ServiceRunner]) -> None:
    """`\\ud800` is valid JSON but not Unicode: no file, queue or database can store it. Sent as
    a thread message, a memory change's name or inside a claim's free-form config: 400."""
    _, runner = served
    async with aiohttp.ClientSession() as s:
        for path, body in [
            (f"/api/v1/threads/{RYAN_THREAD}/messages", b'{"text": "hi \\ud800 there"}'),
            ("/api/v1/memory/plan", b'{"changes": {"web\\udfff": "1g"}}'),
            ("/api/v1/memory/apply", b'{"changes": {"web\\udfff": "1g"}}'),
            ("/api/v1/tenants/t1/claim", b'{"pool": "p", "config": {"k": "\\ud800"}}'),
            ("/api/v1/escalations", b'{"agent": "a", "doing": "\\ud800", "need": "n"}'),
        ]:
            status, answer = await _post(s, runner.url + path, body)
            assert status == 400, (path, answer)
        url = runner.url + f"/api/v1/threads/{RYAN_THREAD}/messages"
        status, answer = await _post(s, url, json.dumps({"text": "still \U0001f4a5 ok"}))
        assert status == 201, answer


async def test_integers_beyond_what_the_store_holds_are_400_naming_the_field(
    served: tuple[Engine, ServiceRunner],
) -> None:
    """SQLite's INTEGER is signed 64-bit: a thread_id past it was a 500 (OverflowError)."""
    engine, runner = served
    async with aiohttp.ClientSession() as s:
        for value in (2**63, -(2**63) - 1, 10**30):
            body = {"agent": "ryan", "thread_id": value, "doing": "d", "need": "n"}
            status, answer = await _post(s, runner.url + "/api/v1/escalations", json.dumps(body))
            assert status == 400, (value, answer)
            assert "thread_id" in answer["error"]["message"], answer
        body = {"agent": "ryan", "thread_id": 2**63 - 1, "doing": "d", "need": "n"}
        status, answer = await _post(s, runner.url + "/api/v1/escalations", json.dumps(body))
        assert status == 201 and answer["thread_id"] == 2**63 - 1, answer
    stored = await engine.escalations.get(answer["id"])
    assert stored is not None and stored.thread_id == 2**63 - 1


async def test_unauthenticated_ingress_is_counted_but_announced_sparingly(
    served: tuple[Engine, ServiceRunner],
) -> None:
    """A flood of wrong secrets on /webhook and /relay: every one is a 401 and counted in the
    metrics, but activity rows (and their log lines) and events grow with the log of the
    count, not with the count (issue 20)."""
    engine, runner = served
    flood = 64
    with engine.subscribe([EventKind.INGRESS]) as events:
        async with aiohttp.ClientSession() as s:
            for path, header in (("/webhook/azure-devops", "x-webhook-secret"),
                                 ("/relay", "X-Relay-Secret")):  # fmt: skip
                for _ in range(flood):
                    async with s.post(
                        runner.url + path, data=b"{}", headers={header: "wrong-secret"}
                    ) as r:
                        assert r.status == 401
            async with s.get(runner.url + "/metrics", headers=AUTH) as r:
                metrics = await r.text()
        announced = 0
        while events.get_nowait() is not None:
            announced += 1
    assert f'clawtui_webhook_deliveries_total{{result="rejected"}} {flood}.0' in metrics
    assert f'clawtui_relay_messages_total{{result="rejected"}} {flood}.0' in metrics
    rows = [e for e in await engine.activity(5000) if "rejected (401)" in e.message]
    # 1, 2, 4, ... 64: seven per route (one more per minute, should the flood be that slow).
    assert 2 <= len(rows) <= 2 * 10, [e.message for e in rows]
    assert 2 <= announced <= 2 * 10, announced
    assert any("more" in e.message for e in rows), [e.message for e in rows]
