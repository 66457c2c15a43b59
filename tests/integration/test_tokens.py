"""Scoped tokens on a real `clawtui serve` (the service runner in front of a real engine): only
hashes are stored, a denied call is a 403 naming the scope, a revoked token is refused at once,
and an open event stream ends when its token is revoked, through the API or by `clawtui token
revoke` in another process."""

from __future__ import annotations

import asyncio
import hashlib
import json
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from clawtui.config.threads import ThreadEntry, ThreadsConfig
from clawtui.engine.core import Engine
from clawtui.service.runner import ServiceRunner
from tests.integration.engine_helpers import make_settings
from tests.integration.ingress_helpers import (
    CODY_THREAD,
    RYAN_THREAD,
    SAM_THREAD,
    ingress_settings,
    messages,
)
from tests.integration.mcp_helpers import REPO, write_config

pytestmark = pytest.mark.integration

ADMIN = "admin-token-for-the-token-tests-0123456789"
AUTH = {"Authorization": f"Bearer {ADMIN}"}


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[tuple[Engine, str, Path]]:
    settings = make_settings(tmp_path / "state")
    config = write_config(settings, tmp_path / "config.toml")
    engine = Engine(settings)
    await engine.start()
    runner = ServiceRunner(engine, settings, token=ADMIN, listen=("127.0.0.1", 0))
    await runner.start()
    try:
        yield engine, runner.url, config
    finally:
        await runner.stop()
        await engine.stop()


async def _create(s: aiohttp.ClientSession, url: str, name: str, *scopes: str) -> str:
    async with s.post(f"{url}/api/v1/tokens", json={"name": name, "scopes": list(scopes)}) as r:
        assert r.status == 201, await r.text()
        return str((await r.json())["token"])


async def _open_stream(
    url: str, secret: str
) -> tuple[aiohttp.ClientSession, aiohttp.ClientResponse]:
    s = aiohttp.ClientSession(headers={"Authorization": f"Bearer {secret}"})
    resp = await s.get(f"{url}/api/v1/events")
    assert resp.status == 200
    assert (await resp.content.readline()).startswith(b"retry:")
    return s, resp


async def _ends(resp: aiohttp.ClientResponse) -> None:
    """Read the stream until the service ends it (the test's timeout is the only limit)."""
    while await resp.content.readline():
        pass


async def test_hashes_only_and_denials_name_the_scope(
    served: tuple[Engine, str, Path], tmp_path: Path
) -> None:
    engine, url, _ = served
    async with aiohttp.ClientSession(headers=AUTH) as s:
        reader = await _create(s, url, "reader", "read")
        pooler = await _create(s, url, "pooler", "pools")
        async with s.post(f"{url}/api/v1/tokens", json={"name": "x", "scopes": ["root"]}) as r:
            assert r.status == 400 and "invalid scope" in await r.text()
        async with s.post(f"{url}/api/v1/tokens", json={"name": "reader", "scopes": ["read"]}) as r:
            assert r.status == 409
        async with s.get(f"{url}/api/v1/tokens") as r:
            listing = await r.text()
            assert reader not in listing and "reader" in listing
    await engine.activity(limit=1)  # flushed, so every write is in the file
    db = engine.settings.engine.db_path
    with sqlite3.connect(db) as conn:
        rows = dict(conn.execute("SELECT name, hash FROM api_tokens").fetchall())
    assert rows["reader"] == hashlib.sha256(reader.encode()).hexdigest()
    stored = b"".join(p.read_bytes() for p in db.parent.glob(db.name + "*"))
    assert reader.encode() not in stored and pooler.encode() not in stored

    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {reader}"}) as s:
        async with s.get(f"{url}/api/v1/hosts") as r:
            assert r.status == 200
        async with s.post(f"{url}/api/v1/escalations/1/decision", json={"action": "skip"}) as r:
            body = await r.json()
            assert r.status == 403 and "needs scope admin" in body["error"]["message"]
        async with s.post(f"{url}/api/v1/tenants/t/claim", json={"pool": "p"}) as r:
            assert r.status == 403 and "needs scope pools" in await r.text()
        async with s.post(f"{url}/api/v1/escalations", json={"agent": "a", "doing": "d",
                                                             "need": "n"}) as r:  # fmt: skip
            assert r.status == 403 and "needs scope agent:" in await r.text()
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {pooler}"}) as s:
        async with s.get(f"{url}/api/v1/hosts") as r:
            assert r.status == 403 and "needs scope read" in await r.text()
        async with s.get(f"{url}/api/v1/pools") as r:
            assert r.status == 200
    audit = [(e.token, e.action, e.outcome) for e in await engine.tokens.audit()]
    decide = "POST /api/v1/escalations/{id}/decision"
    assert ("reader", decide, f"denied: {decide} needs scope admin") in audit
    assert ("admin", "POST /api/v1/tokens", "ok 201") in audit


async def test_revoked_token_ends_its_open_event_stream(served: tuple[Engine, str, Path]) -> None:
    engine, url, config = served
    async with aiohttp.ClientSession(headers=AUTH) as admin:
        one = await _create(admin, url, "one", "read")
        two = await _create(admin, url, "two", "agent:bob")
        s1, stream1 = await _open_stream(url, one)
        s2, stream2 = await _open_stream(url, two)
        try:
            # through the API: the stream is closed at once
            async with admin.delete(f"{url}/api/v1/tokens/one") as r:
                assert r.status == 200 and (await r.json())["revoked_at"] is not None
            await asyncio.wait_for(_ends(stream1), 10)
            async with s1.get(f"{url}/api/v1/hosts") as r:
                assert r.status == 401
            # by `clawtui token revoke` in another process, on the same store
            proc = await asyncio.to_thread(
                subprocess.run,
                [sys.executable, "-m", "clawtui", "token", "revoke", "two", f"--config={config}"],
                cwd=REPO, env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
                capture_output=True, text=True, timeout=60,
            )  # fmt: skip
            assert proc.returncode == 0, proc.stderr
            await asyncio.wait_for(_ends(stream2), 10)
            async with s2.get(f"{url}/api/v1/hosts") as r:
                assert r.status == 401
        finally:
            for s, resp in ((s1, stream1), (s2, stream2)):
                resp.release()
                await s.close()
    proc = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "clawtui", "audit", "--json", "--config", str(config)],
        cwd=REPO, env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)
    assert any(r["token"] == "admin" and r["action"] == "DELETE /api/v1/tokens/{name}"
               and r["target"] == "/api/v1/tokens/one" for r in rows)  # fmt: skip
    assert [t.name for t in await engine.tokens.find() if t.revoked_at is None] == []


async def test_agent_scope_sends_along_relay_routes_and_beats_its_own_thread(
    tmp_path: Path,
) -> None:
    settings = ingress_settings(tmp_path)
    settings.threads = ThreadsConfig(
        heartbeat=False,
        threads=[
            ThreadEntry(id=RYAN_THREAD, name="ryan-thread"),
            ThreadEntry(id=SAM_THREAD, name="sam-thread"),
            ThreadEntry(id=CODY_THREAD, name="cody-thread"),
        ],
    )
    engine = Engine(settings)
    await engine.start()
    runner = ServiceRunner(engine, settings, token=ADMIN, listen=("127.0.0.1", 0))
    await runner.start()
    try:
        cody = (await engine.tokens.create("cody", ["agent:cody"])).secret
        url = runner.url
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {cody}"}) as s:
            # the whitelist has cody -> ryan, not cody -> sam
            async with s.post(f"{url}/api/v1/threads/{RYAN_THREAD}/messages",
                              json={"text": "fix pushed", "sender": "cody"}) as r:  # fmt: skip
                assert r.status == 201, await r.text()
            async with s.post(f"{url}/api/v1/threads/{SAM_THREAD}/messages",
                              json={"text": "hi"}) as r:  # fmt: skip
                text = await r.text()
                assert r.status == 403 and f"relay route to thread {SAM_THREAD}" in text
            async with s.post(f"{url}/api/v1/threads/{CODY_THREAD}/beat") as r:
                assert r.status == 202, await r.text()
            async with s.post(f"{url}/api/v1/threads/{RYAN_THREAD}/beat") as r:
                assert r.status == 403 and "needs scope agent:ryan-thread" in await r.text()
            esc = {"agent": "cody", "doing": "d", "need": "n", "thread_id": CODY_THREAD}
            async with s.post(f"{url}/api/v1/escalations", json=esc) as r:
                assert r.status == 201, await r.text()
            async with s.post(
                f"{url}/api/v1/escalations", json={**esc, "thread_id": SAM_THREAD}
            ) as r:
                assert r.status == 403 and "needs scope agent:sam-thread" in await r.text()
        queued = [m for m in messages(engine.queue) if m.get("threadId") == RYAN_THREAD]
        assert [m["message"] for m in queued] == ["fix pushed"]
        assert messages(engine.queue, SAM_THREAD) == []
    finally:
        await runner.stop()
        await engine.stop()
