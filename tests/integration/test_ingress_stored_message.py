"""The webhook and the relay build the TinyClaw message once, store it, and delivery writes it
verbatim: the queue file equals, byte for byte, what SQLite held (driven through the real
service; `queue/incoming` is a plain file at first, so the stored row can be read before the
delivery succeeds)."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from clawtui.engine.core import Engine
from clawtui.service.runner import ServiceRunner
from tests.integration.ingress_helpers import (
    AGENT_SECRETS,
    CODY_THREAD,
    RYAN_THREAD,
    WEBHOOK_SECRET,
    fixture,
    ingress_settings,
    queue_files,
    wait_for_files,
)

TOKEN = "t0ken-for-tests-0123456789abcdef"


async def post(url: str, body: Any, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
    async with (
        aiohttp.ClientSession() as s,
        s.post(
            url,
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json", **headers},
        ) as r,
    ):
        return r.status, await r.json()


async def stored_row(engine: Engine, delivery_id: str) -> tuple[Any, Any]:
    def query(conn: sqlite3.Connection) -> tuple[Any, Any]:
        row = conn.execute(
            "SELECT fields, error FROM ingress_deliveries WHERE id = ?", (delivery_id,)
        ).fetchone()
        return row["fields"], row["error"]

    return await engine.store.arun(query)


@pytest.mark.parametrize(
    ("path", "headers", "body", "thread"),
    [
        ("/webhook/azure-devops", {"x-webhook-secret": WEBHOOK_SECRET}, None, RYAN_THREAD),
        (
            "/relay",
            {"X-Relay-Secret": AGENT_SECRETS["ryan"]},
            {"from": "ryan", "to": "cody", "message": "fix pushed: ünïcode ✓", "via": ["sam"]},
            CODY_THREAD,
        ),
    ],
)
async def test_queue_file_is_the_stored_message_byte_for_byte(
    tmp_path: Path, path: str, headers: dict[str, str], body: Any, thread: int
) -> None:
    engine = Engine(ingress_settings(tmp_path))
    incoming = engine.queue.folder("incoming")
    incoming.parent.mkdir(parents=True)
    incoming.write_text("not a folder yet: the first delivery attempt fails")
    await engine.start()
    runner = ServiceRunner(engine, engine.settings, token=TOKEN, listen=("127.0.0.1", 0))
    await runner.start()
    try:
        status, answer = await post(
            runner.url + path, body if body is not None else fixture("seed_10_8.json"), headers
        )
        assert status in (200, 202), answer
        did = answer["id"]
        for _ in range(500):
            stored, error = await stored_row(engine, did)
            if error:
                break
            await asyncio.sleep(0.02)
        assert error and "cannot write" in error, error
        message = json.loads(stored)
        assert message["messageId"] == f"ingress_{did}"
        assert message["threadId"] == thread

        incoming.unlink()
        incoming.mkdir()
        await wait_for_files(engine.queue, 1, timeout=20)
        [written] = queue_files(engine.queue)
        assert written.name == f"ingress_{did}.json"
        assert written.read_bytes() == stored.encode("utf-8")
    finally:
        await runner.stop()
        await engine.stop()
