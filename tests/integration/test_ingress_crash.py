"""Crash safety of the webhook: what was answered 2xx is delivered after a restart, once.

`clawtui serve` runs as a subprocess; 100 deliveries are sent at once and the service is
killed with SIGKILL while they are in flight. After a restart every delivery that had been
answered 2xx must be in the thread's queue exactly once; the ones cut off are then sent again
(as Azure DevOps retries them) and still nothing is doubled.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from collections import Counter
from pathlib import Path

import aiohttp
import pytest

from clawtui.engine.core import Engine
from clawtui.engine.threads.queue import TinyClawQueue
from tests.integration.ingress_helpers import (
    RYAN_THREAD,
    WEBHOOK_SECRET,
    failed_build_payload,
    free_port,
    ingress_settings,
    messages,
    queue_files,
    start_serve,
    wait_for_files,
    write_secrets,
)

pytestmark = pytest.mark.integration
TOKEN = "t0ken-for-tests-0123456789abcdef"
N = 100


async def _send(session: aiohttp.ClientSession, url: str, i: int) -> tuple[int, int | None]:
    try:
        async with session.post(
            url, json=failed_build_payload(i), headers={"x-webhook-secret": WEBHOOK_SECRET}
        ) as r:
            await r.read()
            return i, r.status
    except (TimeoutError, aiohttp.ClientError, OSError):
        return i, None


def test_kill_9_during_100_concurrent_deliveries(tmp_path: Path) -> None:
    secrets = write_secrets(tmp_path / "secrets")
    port = free_port()
    (tmp_path / "config.toml").write_text(
        f'[engine]\nstate_dir = "{tmp_path}/state"\n'
        f'[service]\nlisten = "127.0.0.1:{port}"\n'
        '[[hosts]]\nname = "local"\nurl = "unix:///nonexistent/clawtui-test.sock"\n'
        f'[webhook]\nsecret_files = ["{secrets["webhook"]}"]\nthread_id = {RYAN_THREAD}\n'
    )
    url = f"http://127.0.0.1:{port}/webhook/azure-devops"
    queue = TinyClawQueue(tmp_path / "state" / "tinyclaw")
    proc = start_serve(tmp_path, port, TOKEN)
    answered: dict[int, int | None] = {}

    async def storm() -> None:
        conn = aiohttp.TCPConnector(limit=N)
        async with aiohttp.ClientSession(
            connector=conn, timeout=aiohttp.ClientTimeout(total=30)
        ) as session:
            tasks = [asyncio.create_task(_send(session, url, i)) for i in range(N)]
            killed = False
            for done in asyncio.as_completed(tasks):
                i, status = await done
                answered[i] = status
                ok = sum(1 for s in answered.values() if s is not None and s < 300)
                if not killed and ok >= N // 3:
                    os.kill(proc.pid, signal.SIGKILL)  # mid-storm: many still in flight
                    killed = True

    try:
        asyncio.run(storm())
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)
    acked = {i for i, s in answered.items() if s is not None and 200 <= s < 300}
    assert N // 3 <= len(acked) < N, f"{len(acked)} answered 2xx: the kill came too late"
    assert all(s is None or s < 300 for s in answered.values())

    proc = start_serve(tmp_path, port, TOKEN)
    try:

        async def after_restart() -> None:
            def ids() -> Counter[str]:
                return Counter(m.get("ciBuildId") for m in messages(queue))

            deadline = time.monotonic() + 20
            while not all(str(80_000 + i) in ids() for i in acked):
                assert time.monotonic() < deadline, "acknowledged deliveries are missing"
                await asyncio.sleep(0.05)
            counts = ids()
            assert all(counts[str(80_000 + i)] == 1 for i in acked), counts
            # Azure DevOps retries what it got no answer for: still one message each.
            async with aiohttp.ClientSession() as session:
                again = await asyncio.gather(*(_send(session, url, i) for i in range(N)))
            assert all(status == 200 for _, status in again), again
            await wait_for_files(queue, N, timeout=20)
            await asyncio.sleep(0.3)
            counts = ids()
            assert len(counts) == N and set(counts.values()) == {1}, counts

        asyncio.run(after_restart())
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(15)


async def test_restart_delivers_stored_messages_once(tmp_path: Path) -> None:
    """A delivery stored but not delivered goes out on start; one whose file was already
    written (a crash between the write and the bookkeeping) is not written again, even when
    TinyClaw has moved it on to processing/."""
    settings = ingress_settings(tmp_path)
    settings.webhook.thread_id = None  # stored, but nowhere to deliver yet
    engine = Engine(settings)
    await engine.start()
    ids = []
    for i in range(2):
        out = await engine.ingress.accept_webhook(json.dumps(failed_build_payload(i)).encode())
        assert out.status == 200 and out.body["status"] == "queued"
        ids.append(out.body["id"])
    await asyncio.sleep(0.2)
    await engine.stop()
    assert queue_files(engine.queue) == []
    # As if the first one had been written, then picked up by TinyClaw, before a crash.
    engine.queue.ensure()
    moved = engine.queue.folder("processing") / f"ingress_{ids[0]}.json"
    moved.write_text(
        json.dumps(
            {
                "channel": "azure-devops",
                "threadId": 1,
                "sender": "x",
                "message": "already here",
                "messageId": f"ingress_{ids[0]}",
            }
        )
    )

    settings.webhook.thread_id = RYAN_THREAD
    engine = Engine(settings)
    await engine.start()
    try:
        await wait_for_files(engine.queue, 2)
        await asyncio.sleep(0.2)
        files = queue_files(engine.queue)
        assert sorted(p.name for p in files) == sorted(f"ingress_{i}.json" for i in ids)
        for _ in range(200):
            rows = await engine.ingress.deliveries()
            if {r["status"] for r in rows} == {"delivered"}:
                break
            await asyncio.sleep(0.02)
        assert {r["status"] for r in rows} == {"delivered"}
    finally:
        await engine.stop()
