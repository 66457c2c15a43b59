"""Crash safety of the webhook: what was answered 2xx is delivered after a restart, once.

`clawtui serve` runs as a subprocess and gets 100 deliveries: a third answered before the kill,
a third held in flight by a gate (headers and half the body sent, the rest never: the service is
certainly still reading them when it dies), and a third sent all at once as the SIGKILL goes out
(answered or not, by luck). After a restart every delivery that had been answered 2xx must be in
the thread's queue exactly once; the ones cut off are then sent again (as Azure DevOps retries
them) and still nothing is doubled.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
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

    first = range(N // 3)
    held = range(N // 3, 2 * (N // 3))
    racing = range(2 * (N // 3), N)

    def hold(i: int) -> socket.socket:
        """A delivery whose body stops halfway: in flight until the service dies."""
        body = json.dumps(failed_build_payload(i)).encode()
        head = (
            f"POST /webhook/azure-devops HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Content-Type: application/json\r\nx-webhook-secret: {WEBHOOK_SECRET}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        sock.sendall(head + body[: len(body) // 2])
        return sock

    def answer(sock: socket.socket) -> int | None:
        try:
            data = sock.recv(4096)
        except OSError:
            return None
        finally:
            sock.close()
        return int(data.split()[1]) if data.startswith(b"HTTP/1.1 ") else None

    async def storm() -> None:
        conn = aiohttp.TCPConnector(limit=N)
        async with aiohttp.ClientSession(
            connector=conn, timeout=aiohttp.ClientTimeout(total=30)
        ) as session:
            for i, status in await asyncio.gather(*(_send(session, url, i) for i in first)):
                answered[i] = status
            gates = [hold(i) for i in held]
            tasks = [asyncio.create_task(_send(session, url, i)) for i in racing]
            await asyncio.sleep(0)  # the racing requests are on their way
            os.kill(proc.pid, signal.SIGKILL)
            for i, status in await asyncio.gather(*tasks):
                answered[i] = status
            for i, sock in zip(held, gates, strict=True):
                answered[i] = await asyncio.to_thread(answer, sock)

    try:
        asyncio.run(storm())
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)
    acked = {i for i, s in answered.items() if s is not None and 200 <= s < 300}
    assert set(first) <= acked, {i: answered[i] for i in first}
    assert not acked & set(held), "a delivery whose body never arrived was acknowledged"
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
            # A sentinel after them: the one delivery worker writes in the order deliveries were
            # stored, so once the sentinel is in the queue, any duplicate would be too.
            async with aiohttp.ClientSession() as session:
                assert (await _send(session, url, N))[1] == 200
            deadline = time.monotonic() + 20
            while str(80_000 + N) not in ids():
                assert time.monotonic() < deadline, "the sentinel delivery never arrived"
                await asyncio.sleep(0.05)
            counts = ids()
            assert len(counts) == N + 1 and set(counts.values()) == {1}, counts

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
