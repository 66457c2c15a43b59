"""The webhook when the store cannot write (issue 20, item 5), through a real `clawtui serve`.

* A COMMIT that fails (a deferred foreign-key violation, injected with a trigger on the real
  database) is rolled back: that delivery gets 503 + Retry-After and the next ones 2xx. Before
  the fix the connection stayed in the failed transaction and every later delivery got 503
  until a restart.
* A full disk: the state dir (database and TinyClaw queue) is a 2 MiB tmpfs the test fills to
  the last byte. While full the webhook answers 503 with Retry-After (never another 5xx); once
  space is back it answers 2xx again without a restart.

In both, every delivery ever answered 2xx reaches the thread's queue exactly once.
"""

from __future__ import annotations

import asyncio
import errno
import os
import signal
import sqlite3
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from clawtui.engine.threads.queue import TinyClawQueue
from tests.integration.ingress_helpers import (
    RYAN_THREAD,
    WEBHOOK_SECRET,
    failed_build_payload,
    free_port,
    messages,
    start_serve,
    write_secrets,
)

TOKEN = "t0ken-for-tests-0123456789abcdef"
MAX_WHILE_FULL = 300  # requests sent at most before the store must refuse one


@pytest.fixture
def small_state_dir(tmp_path: Path) -> Iterator[Path]:
    """A 2 MiB tmpfs mounted for this test (root only) and unmounted after it."""
    if os.geteuid() != 0:
        pytest.fail("this test mounts a tmpfs: run it as root (the CI and scripts/test do)")
    state = tmp_path / "state"
    state.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m,mode=0700", "tmpfs", str(state)])
    try:
        yield state
    finally:
        subprocess.run(["umount", str(state)], check=False)
        if os.path.ismount(state):
            subprocess.run(["umount", "-l", str(state)], check=True)


def _write_until_refused(fd: int, block: bytes) -> int | None:
    """Append `block` until a write fails; the errno of that failure."""
    while True:
        try:
            os.write(fd, block)
        except OSError as exc:
            return exc.errno


def _fill(folder: Path) -> Path:
    """Write one file until the file system refuses another byte (ENOSPC)."""
    filler = folder / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        for size in (65536, 4096, 512, 1):
            block = b"\0" * size
            assert _write_until_refused(fd, block) == errno.ENOSPC
    finally:
        os.close(fd)
    return filler


def _drain(proc: subprocess.Popen[str], lines: list[str]) -> threading.Thread:
    """Read the service's output as it comes, so that its warnings never fill the pipe."""

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    return thread


async def _post(session: aiohttp.ClientSession, url: str, i: int) -> tuple[int, str | None]:
    async with session.post(
        url, json=failed_build_payload(i), headers={"x-webhook-secret": WEBHOOK_SECRET}
    ) as r:
        await r.read()
        return r.status, r.headers.get("Retry-After")


def _serve(tmp_path: Path, state_dir: Path) -> tuple[subprocess.Popen[str], str, list[str]]:
    """`clawtui serve` with the webhook on, its state in `state_dir`; (process, url, output)."""
    secrets = write_secrets(tmp_path / "secrets")
    port = free_port()
    (tmp_path / "config.toml").write_text(
        f'[engine]\nstate_dir = "{state_dir}"\n'
        f'[service]\nlisten = "127.0.0.1:{port}"\n'
        '[[hosts]]\nname = "local"\nurl = "unix:///nonexistent/clawtui-test.sock"\n'
        f'[webhook]\nsecret_files = ["{secrets["webhook"]}"]\nthread_id = {RYAN_THREAD}\n'
    )
    proc = start_serve(tmp_path, port, TOKEN)
    output: list[str] = []
    _drain(proc, output)
    return proc, f"http://127.0.0.1:{port}/webhook/azure-devops", output


def _stop(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


def _delivered(queue: TinyClawQueue) -> Counter[int]:
    """How many messages of each failed build (by `failed_build_payload` index) are queued."""
    return Counter(int(m["ciBuildId"]) - 80_000 for m in messages(queue))


async def _wait_delivered(queue: TinyClawQueue, acked: set[int]) -> None:
    deadline = time.monotonic() + 90
    while missing := sorted(acked - set(_delivered(queue))):
        assert time.monotonic() < deadline, f"acknowledged, not delivered: {missing}"
        await asyncio.sleep(0.1)


POISON = 777  # the delivery whose COMMIT the trigger makes fail


def _inject_commit_failure(db: Path) -> None:
    """A trigger that adds, with every insert of delivery POISON, a row whose foreign key is
    checked only at COMMIT (deferred) and has no parent: that COMMIT fails."""
    conn = sqlite3.connect(db)
    try:
        conn.executescript(
            f"""
            CREATE TABLE test_parent (id INTEGER PRIMARY KEY);
            CREATE TABLE test_child (
                parent INTEGER REFERENCES test_parent (id) DEFERRABLE INITIALLY DEFERRED
            );
            CREATE TRIGGER test_poison AFTER INSERT ON ingress_deliveries
            WHEN NEW.summary LIKE '%(pipeline {POISON} on %'
            BEGIN INSERT INTO test_child (parent) VALUES (1); END;
            """
        )
    finally:
        conn.close()


def test_a_failed_commit_does_not_wedge_the_webhook(tmp_path: Path) -> None:
    state = tmp_path / "state"
    proc, url, output = _serve(tmp_path, state)
    queue = TinyClawQueue(state / "tinyclaw")
    acked: set[int] = set()

    async def scenario() -> None:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
            assert (await _post(session, url, 0))[0] == 200
            acked.add(0)
            _inject_commit_failure(state / "clawtui.db")
            status, retry_after = await _post(session, url, POISON)
            assert status == 503 and retry_after is not None, (status, output[-20:])
            for i in (1, 2):  # the store is not wedged by the failed COMMIT
                status, _ = await _post(session, url, i)
                assert status == 200, (i, status, output[-20:])
                acked.add(i)
            status, retry_after = await _post(session, url, POISON)  # fails the same way again
            assert status == 503 and retry_after is not None, (status, output[-20:])
            assert (await _post(session, url, 3))[0] == 200
            acked.add(3)
            await _wait_delivered(queue, acked)

    try:
        asyncio.run(scenario())
    finally:
        _stop(proc)
    counts = _delivered(queue)
    assert set(counts) == acked and set(counts.values()) == {1}, counts  # nothing of POISON


def test_webhook_on_a_full_disk_refuses_then_recovers(
    tmp_path: Path, small_state_dir: Path
) -> None:
    proc, url, output = _serve(tmp_path, small_state_dir)
    queue = TinyClawQueue(small_state_dir / "tinyclaw")
    acked: set[int] = set()
    refused: list[int] = []

    async def scenario() -> None:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
            status, _ = await _post(session, url, 0)
            assert status == 200
            acked.add(0)

            filler = _fill(small_state_dir)
            # Deliveries may still fit in pages the database already has; sooner or later one
            # needs a new page and the store refuses it: 503 + Retry-After, nothing else.
            i = 1
            while not refused:
                assert i <= MAX_WHILE_FULL, f"{MAX_WHILE_FULL} deliveries accepted on a full disk"
                status, retry_after = await _post(session, url, i)
                if 200 <= status < 300:
                    acked.add(i)
                else:
                    assert status == 503, (i, status, output[-20:])
                    assert retry_after is not None and int(retry_after) > 0
                    refused.append(i)
                i += 1
            # Still full: refused again, the same way.
            status, retry_after = await _post(session, url, i)
            assert status == 503 and retry_after is not None, (status, output[-20:])
            refused.append(i)

            filler.unlink()
            # Space is back: the next delivery is stored at once, no restart needed, and the
            # refused ones, sent again as Azure DevOps does after Retry-After, are stored too.
            status, _ = await _post(session, url, i + 1)
            assert status == 200, (status, output[-20:])
            acked.add(i + 1)
            for j in refused:
                status, _ = await _post(session, url, j)
                assert status == 200, (j, status)
                acked.add(j)

            # Everything acknowledged reaches the thread's queue, once (the ones acknowledged
            # while the queue could not be written are retried by the delivery loop).
            await _wait_delivered(queue, acked)

    try:
        asyncio.run(scenario())
    finally:
        _stop(proc)
    counts = _delivered(queue)
    assert set(counts) == acked and set(counts.values()) == {1}, counts
