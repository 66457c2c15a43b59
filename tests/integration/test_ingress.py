"""The webhook and the relay end to end: HTTP request → the real aiohttp app → SQLite → a
message file in the thread's TinyClaw queue. Payloads: the seed's §10.8 test payload and
build.complete notifications in the documented Azure DevOps shape (failed, succeeded,
partiallySucceeded, canceled)."""

from __future__ import annotations

import asyncio
import json
import tomllib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from clawtui.engine.api.escalations import Source, Status
from clawtui.engine.core import Engine
from clawtui.service.runner import ServiceRunner
from tests.integration.ingress_helpers import (
    AGENT_SECRETS,
    CODY_THREAD,
    RYAN_THREAD,
    WEBHOOK_SECRET,
    WEBHOOK_SECRET_NEXT,
    fixture,
    ingress_settings,
    messages,
    queue_files,
    wait_for_files,
    with_ids,
)

TOKEN = "t0ken-for-tests-0123456789abcdef"
HOOK = "/webhook/azure-devops"
WH = {"x-webhook-secret": WEBHOOK_SECRET}


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[tuple[Engine, str]]:
    engine = Engine(ingress_settings(tmp_path, rate_limit=5, rate_window=60.0))
    await engine.start()
    runner = ServiceRunner(engine, engine.settings, token=TOKEN, listen=("127.0.0.1", 0))
    await runner.start()
    try:
        yield engine, runner.url
    finally:
        await runner.stop()
        await engine.stop()


async def post(
    url: str, body: Any, headers: dict[str, str], *, raw: bytes | None = None
) -> tuple[int, dict[str, Any]]:
    data = raw if raw is not None else json.dumps(body).encode()
    async with (
        aiohttp.ClientSession() as s,
        s.post(url, data=data, headers={"Content-Type": "application/json", **headers}) as r,
    ):
        return r.status, await r.json()


async def test_seed_test_payload_wakes_the_target_thread(served: tuple[Engine, str]) -> None:
    """§10.8: the curl of the seed, answered 200, lands in Ryan's queue as one message."""
    engine, url = served
    status, body = await post(url + HOOK, fixture("seed_10_8.json"), WH)
    assert status == 200, body
    assert body["status"] == "queued"
    await wait_for_files(engine.queue, 1)
    [msg] = messages(engine.queue)
    assert msg["threadId"] == RYAN_THREAD
    assert msg["channel"] == "azure-devops"
    assert msg["messageId"] == f"ingress_{body['id']}"
    assert msg["sender"] == "Azure DevOps"
    text = msg["message"]
    assert text.startswith("Build 20260302.1 FAILED on feature/test-webhook")
    for part in (
        "99999",
        "abc1234def5678",
        "Forma3D.Connect CI",
        "https://dev.azure.com/devgem/forma-3d/_build/results?buildId=99999",
    ):
        assert part in text
    # The file is written first, then the row is marked delivered.
    for _ in range(200):
        rows = await engine.ingress.deliveries()
        if [r["status"] for r in rows] == ["delivered"]:
            break
        await asyncio.sleep(0.02)
    assert [r["status"] for r in rows] == ["delivered"]


@pytest.mark.parametrize(
    ("name", "wakes", "result"),
    [
        ("build_complete_failed.json", True, "failed"),
        ("build_complete_partially_succeeded.json", True, "partiallySucceeded"),
        ("build_complete_succeeded.json", False, "succeeded"),
        ("build_complete_canceled.json", False, "canceled"),
    ],
)
async def test_recorded_build_complete_payloads(
    served: tuple[Engine, str], name: str, wakes: bool, result: str
) -> None:
    engine, url = served
    payload = fixture(name)
    status, body = await post(url + HOOK, payload, WH)
    assert status == 200, body
    assert body["status"] == ("queued" if wakes else "ignored")
    if wakes:
        await wait_for_files(engine.queue, 1)
        [msg] = messages(engine.queue, RYAN_THREAD)
        res = payload["resource"]
        assert msg["ciResult"] == result
        assert msg["ciBuildId"] == str(res["id"])
        for part in (
            res["buildNumber"],
            res["sourceBranch"],
            res["sourceVersion"],
            res["definition"]["name"],
            res["_links"]["web"]["href"],
        ):
            assert part in msg["message"]
    else:
        # Nothing to wake anyone for: acknowledged, stored as ignored, no queue file.
        await engine.ingress.deliveries()
        assert queue_files(engine.queue) == []
        assert [r["status"] for r in await engine.ingress.deliveries()] == ["ignored"]


async def test_duplicates_and_all_zero_ids(served: tuple[Engine, str]) -> None:
    engine, url = served
    failed = fixture("build_complete_failed.json")
    assert (await post(url + HOOK, failed, WH))[1]["status"] == "queued"
    status, body = await post(url + HOOK, failed, WH)  # Azure DevOps retrying
    assert (status, body["status"]) == (200, "duplicate")
    # The documented sample's ids are all zero: two different builds must not collide.
    zero = "00000000-0000-0000-0000-000000000000"
    a = with_ids(failed, id=zero, notificationId=1, resource__id=1, resource__buildNumber="1.1")
    b = with_ids(failed, id=zero, notificationId=1, resource__id=1, resource__buildNumber="1.2")
    assert (await post(url + HOOK, a, WH))[1]["status"] == "queued"
    assert (await post(url + HOOK, b, WH))[1]["status"] == "queued"
    await wait_for_files(engine.queue, 3)
    assert len(queue_files(engine.queue)) == 3
    assert engine.ingress.stats.dedupe_hits == 1
    for _ in range(200):  # each row is marked (and counted) right after its file is written
        if engine.ingress.stats.results[("webhook", "delivered")] == 3:
            break
        await asyncio.sleep(0.02)
    async with (
        aiohttp.ClientSession() as s,
        s.get(url + "/metrics", headers={"Authorization": f"Bearer {TOKEN}"}) as r,
    ):
        text = await r.text()
    assert "clawtui_ingress_dedupe_hits_total 1.0" in text
    assert 'clawtui_webhook_deliveries_total{result="delivered"} 3.0' in text
    assert 'clawtui_ingress_queue_latency_seconds_count{kind="webhook"} 3.0' in text


async def test_secrets_rotation_and_refusals(served: tuple[Engine, str]) -> None:
    engine, url = served
    payload = fixture("seed_10_8.json")
    for headers, expected in (
        ({}, 401),
        ({"x-webhook-secret": "nope"}, 401),
        ({"x-webhook-secret": WEBHOOK_SECRET[:-1]}, 401),
        ({"Authorization": f"Bearer {TOKEN}"}, 401),  # the API token is not the secret
    ):
        status, body = await post(url + HOOK, payload, headers)
        assert status == expected, body
        assert "x-webhook-secret" in body["error"]["message"]
    # Both secrets work while one is rotated out.
    assert (await post(url + HOOK, payload, {"x-webhook-secret": WEBHOOK_SECRET_NEXT}))[0] == 200
    # The webhook does not need the bearer token; the API still does.
    async with aiohttp.ClientSession() as s, s.get(url + "/api/v1/hosts") as r:
        assert r.status == 401
    # All four counted; announced the 1st, 2nd and 4th (which says the 3rd was not shown).
    rejected = [r for r in engine.ingress.recent if r.result == "rejected"]
    assert len(rejected) == 3 and "1 more" in rejected[-1].reason
    assert engine.ingress.stats.results[("webhook", "rejected")] == 4


async def test_quarantine_acknowledges_what_it_cannot_read(served: tuple[Engine, str]) -> None:
    engine, url = served
    for raw in (
        b"{not json",
        b'{"eventType": "build.complete", "resource": 5}',
        b'{"a": 1, "a": 2}',
        b"\xff\xfe",
        b"[1, 2]",
    ):
        status, body = await post(url + HOOK, None, WH, raw=raw)
        assert (status, body["status"]) == (202, "quarantined"), raw
    stored = await engine.ingress.quarantine()
    assert len(stored) == 5
    assert queue_files(engine.queue) == []


async def test_body_caps_per_route(served: tuple[Engine, str]) -> None:
    """2.5 MB passes the webhook (over aiohttp's 1 MiB default); 3 MiB + 1 does not; the
    relay stops at its own cap."""
    engine, url = served
    big = with_ids(fixture("build_complete_failed.json"))
    big["resource"]["properties"] = {"padding": "x" * (2_500_000)}
    status, body = await post(url + HOOK, big, WH)
    assert (status, body["status"]) == (200, "queued")
    raw = b'{"eventType": "x", "p": "' + b"y" * (3 * 1024 * 1024) + b'"}'
    status, body = await post(url + HOOK, None, WH, raw=raw)
    assert status == 413
    assert "limit is 3145728" in body["error"]["message"]
    relay_body = {"from": "ryan", "to": "cody", "message": "z" * (80 * 1024)}
    status, body = await post(url + "/relay", relay_body, {"X-Relay-Secret": AGENT_SECRETS["ryan"]})
    assert status == 413
    # Just over 64 KiB of text inside a small enough body: refused by the message cap.
    relay_body["message"] = "z" * (64 * 1024 + 1)
    status, body = await post(url + "/relay", relay_body, {"X-Relay-Secret": AGENT_SECRETS["ryan"]})
    assert status == 413 and "at most 65536" in body["error"]["message"]
    await wait_for_files(engine.queue, 1)


async def test_three_failures_in_a_row_escalate(served: tuple[Engine, str]) -> None:
    engine, url = served
    failed = fixture("build_complete_failed.json")
    for n in range(1, 4):
        one = with_ids(
            failed,
            notificationId=100 + n,
            id=f"0f0e0d0c-0000-4000-8000-00000000000{n}",
            resource__id=5000 + n,
            resource__buildNumber=f"20260303.{n}",
        )
        assert (await post(url + HOOK, one, WH))[1]["status"] == "queued"
        if n == 2:  # two failures: no escalation yet
            await wait_for_files(engine.queue, 2)
            assert await engine.escalations.find(status=Status.PENDING) == []
    await wait_for_files(engine.queue, 3)
    pending = []
    for _ in range(200):  # raised right after the third file is written
        pending = await engine.escalations.find(status=Status.PENDING)
        if pending:
            break
        await asyncio.sleep(0.02)
    [esc] = pending
    assert esc.source is Source.CI
    assert "3 builds in a row failed" in esc.tried[0]
    assert esc.dedupe_key is not None and "feature/order-import" in esc.dedupe_key
    # A success on that pipeline resets the streak.
    ok = with_ids(fixture("build_complete_succeeded.json"))
    assert (await post(url + HOOK, ok, WH))[1]["status"] == "ignored"
    streak = await engine.store.arun(
        lambda c: c.execute("SELECT failures FROM ingress_ci_streaks").fetchall()
    )
    assert [r["failures"] for r in streak] == [0]


async def test_relay_accepts_whitelisted_routes(served: tuple[Engine, str]) -> None:
    engine, url = served
    status, body = await post(
        url + "/relay",
        {"from": "ryan", "to": "cody", "message": "relay test"},
        {"X-Relay-Secret": AGENT_SECRETS["ryan"]},
    )
    assert status == 202 and body["ok"] is True, body
    await wait_for_files(engine.queue, 1)
    [msg] = messages(engine.queue, CODY_THREAD)
    assert msg["message"] == "relay test"
    assert msg["source"] == "cross-thread"
    assert (msg["sender"], msg["relayedFrom"], msg["relayVia"], msg["relayHops"]) == (
        "ryan",
        "ryan",
        ["ryan"],
        1,
    )
    assert msg["sourceThreadId"] == RYAN_THREAD
    # An idempotent retry with the same id is one message.
    for _ in range(2):
        status, body = await post(
            url + "/relay",
            {"from": "cody", "to": "ryan", "message": "Fix pushed, monitor next build", "id": "r1"},
            {"X-Relay-Secret": AGENT_SECRETS["cody"]},
        )
        assert status in (200, 202)
    await wait_for_files(engine.queue, 2)
    assert len(messages(engine.queue, RYAN_THREAD)) == 1


@pytest.mark.parametrize(
    ("secret", "body", "status", "words"),
    [
        (None, {"from": "ryan", "to": "cody", "message": "x"}, 401, "missing X-Relay-Secret"),
        ("bad", {"from": "ryan", "to": "cody", "message": "x"}, 401, "wrong X-Relay-Secret"),
        ("sam", {"from": "ryan", "to": "cody", "message": "x"}, 403, "belongs to 'sam'"),
        ("cody", {"from": "cody", "to": "sam", "message": "x"}, 403, "not in the relay whitelist"),
        ("ryan", {"from": "ryan", "to": "maya", "message": "x"}, 404, "unknown agent 'maya'"),
        ("ryan", {"from": "ryan", "to": "cody"}, 400, "'message' is required"),
        ("ryan", {"from": "ryan", "to": "cody", "message": 5}, 400, "must be a string"),
        ("ryan", {"from": "ryan", "to": "cody", "message": "x", "cc": 1}, 400, "unknown field"),
        (
            "ryan",
            {"from": "ryan", "to": "cody", "message": "x", "via": ["cody", "ryan", "cody"]},
            409,
            "hop limit",
        ),
    ],
)
async def test_relay_refusals_are_clear(
    served: tuple[Engine, str], secret: str | None, body: dict[str, Any], status: int, words: str
) -> None:
    engine, url = served
    headers = {} if secret is None else {"X-Relay-Secret": AGENT_SECRETS.get(secret, secret)}
    got, answer = await post(url + "/relay", body, headers)
    assert got == status, answer
    assert words in answer["error"]["message"]
    assert queue_files(engine.queue) == []
    assert engine.ingress.stats.results[("relay", "rejected")] == 1


async def test_relay_loop_dies_at_the_hop_limit(served: tuple[Engine, str]) -> None:
    """ryan → cody → ryan → cody is allowed (3 hops); the next forward is refused."""
    engine, url = served
    trail: list[str] = []
    hops = [("ryan", "cody"), ("cody", "ryan"), ("ryan", "cody"), ("cody", "ryan")]
    for n, (a, b) in enumerate(hops, 1):
        status, body = await post(
            url + "/relay",
            {"from": a, "to": b, "message": f"forward {n}", "via": trail},
            {"X-Relay-Secret": AGENT_SECRETS[a]},
        )
        if n <= 3:
            assert status == 202, body
            await wait_for_files(engine.queue, n)
            got = next(m for m in messages(engine.queue) if m["message"] == f"forward {n}")
            trail = got["relayVia"]
        else:
            assert status == 409 and "hop limit" in body["error"]["message"]


async def test_relay_rate_limit_per_sender(served: tuple[Engine, str]) -> None:
    _engine, url = served
    statuses = []
    for n in range(7):
        status, _ = await post(
            url + "/relay",
            {"from": "sam", "to": "cody", "message": f"m{n}"},
            {"X-Relay-Secret": AGENT_SECRETS["sam"]},
        )
        statuses.append(status)
    assert statuses == [202] * 5 + [429] * 2
    # Another sender is not affected.
    status, _ = await post(
        url + "/relay",
        {"from": "ryan", "to": "cody", "message": "hi"},
        {"X-Relay-Secret": AGENT_SECRETS["ryan"]},
    )
    assert status == 202


async def test_route_changes_persist_and_apply_at_once(served: tuple[Engine, str]) -> None:
    engine, url = served
    body = {"from": "cody", "to": "sam", "message": "can you check staging?"}
    headers = {"X-Relay-Secret": AGENT_SECRETS["cody"]}
    assert (await post(url + "/relay", body, headers))[0] == 403
    await engine.ingress.add_route("cody", "sam", "asked for by the admin")
    assert (await post(url + "/relay", body, headers))[0] == 202
    state = engine.settings.state_file
    assert state is not None
    saved = tomllib.loads(state.read_text())
    assert {"from": "cody", "to": "sam", "note": "asked for by the admin"} in saved["relay"][
        "routes"
    ]
    assert len(saved["relay"]["routes"]) == 6
    await engine.ingress.remove_route("ryan", "cody")
    status, _answer = await post(
        url + "/relay",
        {"from": "ryan", "to": "cody", "message": "x"},
        {"X-Relay-Secret": AGENT_SECRETS["ryan"]},
    )
    assert status == 403
    saved = tomllib.loads(state.read_text())
    assert all((r["from"], r["to"]) != ("ryan", "cody") for r in saved["relay"]["routes"])
    with pytest.raises(Exception, match="unknown agent 'maya'"):
        await engine.ingress.add_route("ryan", "maya")


async def test_remote_engine_forwards_ingress_events(served: tuple[Engine, str]) -> None:
    """`clawtui --connect` receives nothing itself (its ingress is the remote's whitelist,
    `client/relay.py`), but sees the traffic as events."""
    from clawtui.client.engine import RemoteEngine
    from clawtui.engine.api.models import EventKind
    from tests.integration.engine_helpers import wait_for_event

    _, url = served
    remote = RemoteEngine(url, TOKEN)
    sub = remote.subscribe({EventKind.INGRESS})
    await remote.start()
    try:
        await asyncio.wait_for(remote.connected.wait(), 10)
        status, _ = await post(
            url + "/relay",
            {"from": "ryan", "to": "sam", "message": "x"},
            {"X-Relay-Secret": "nope"},
        )
        assert status == 401
        event = await wait_for_event(sub, lambda e: e.kind is EventKind.INGRESS, 10)
        assert event.data["record"].result == "rejected"  # the api model, as published locally
        assert list(remote.ingress.recent) == []  # records come as events only
    finally:
        sub.close()
        await remote.stop()


async def test_green_build_closes_the_ci_loop_once(tmp_path: Path) -> None:
    """Failures → CI escalation; a green build on that pipeline + branch resolves it and the
    human is told once ("loop resolved", on a real webhook channel on loopback); a failure
    streak after that raises a new escalation. Another branch's escalation stays open."""
    from aiohttp import web

    from clawtui.config import NotifyConfig, WebhookConfig

    received: list[dict[str, Any]] = []

    async def hook(request: web.Request) -> web.Response:
        received.append(await request.json())
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/notify", hook)
    app_runner = web.AppRunner(app)
    await app_runner.setup()
    site = web.TCPSite(app_runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    settings = ingress_settings(tmp_path)
    settings.webhook.escalate_after = 2
    settings.notify = NotifyConfig(
        webhook=WebhookConfig(url=f"http://127.0.0.1:{port}/notify"), retries=0
    )
    engine = Engine(settings)
    await engine.start()
    runner = ServiceRunner(engine, engine.settings, token=TOKEN, listen=("127.0.0.1", 0))
    await runner.start()
    url = runner.url + HOOK
    counter = iter(range(1, 1000))

    def build(name: str, branch: str = "refs/heads/feature/order-import") -> dict[str, Any]:
        n = next(counter)
        return with_ids(
            fixture(name),
            notificationId=700 + n,
            id=f"0f0e0d0c-0000-4000-8000-{n:012d}",
            resource__id=9000 + n,
            resource__buildNumber=f"20260310.{n}",
            resource__sourceBranch=branch,
        )

    async def pending_ci(count: int) -> list[Any]:
        for _ in range(500):  # raised when the failure's queue message is delivered
            found = [
                e
                for e in await engine.escalations.find(status=Status.PENDING)
                if e.source is Source.CI
            ]
            if len(found) >= count:
                return found
            await asyncio.sleep(0.02)
        raise AssertionError(f"expected {count} pending CI escalation(s)")

    def resolved_notes() -> list[dict[str, Any]]:
        return [r for r in received if r["kind"] == "ci.resolved"]

    try:
        for branch in ("refs/heads/feature/order-import", "refs/heads/main"):
            for _ in range(2):
                assert (await post(url, build("build_complete_failed.json", branch), WH))[1][
                    "status"
                ] == "queued"
        first, other = sorted(await pending_ci(2), key=lambda e: "main" in (e.dedupe_key or ""))
        assert "feature/order-import" in (first.dedupe_key or "")

        status, body = await post(url, build("build_complete_succeeded.json"), WH)
        assert (status, body["status"]) == (200, "ignored")
        assert (await engine.escalations.get(first.id)).status is Status.RESOLVED  # type: ignore[union-attr]
        assert (await engine.escalations.get(other.id)).status is Status.PENDING  # type: ignore[union-attr]
        await engine.notifier.drain(10)
        [note] = resolved_notes()
        assert "loop resolved" in note["text"] and note["data"]["escalation_ids"] == [first.id]

        # Green again: nothing open on that branch, nothing said.
        await post(url, build("build_complete_succeeded.json"), WH)
        await engine.notifier.drain(10)
        assert len(resolved_notes()) == 1

        # A new failing streak after the loop closed raises a new escalation.
        for _ in range(2):
            await post(url, build("build_complete_failed.json"), WH)
        again = [e for e in await pending_ci(2) if e.id not in (first.id, other.id)]
        assert len(again) == 1 and again[0].dedupe_key == first.dedupe_key
        assert (await engine.escalations.get(first.id)).status is Status.RESOLVED  # type: ignore[union-attr]
        assert len(resolved_notes()) == 1
    finally:
        await runner.stop()
        await engine.stop()
        await app_runner.cleanup()
