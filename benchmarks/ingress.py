"""Benchmark: webhook → queue file latency and relay throughput, against a 2 s polling loop.

    PYTHONPATH=. .venv/bin/python benchmarks/ingress.py [--quick] [--rate R] [--seconds S]

Starts `clawtui serve` as a subprocess (its own state dir and TinyClaw home in a temp folder,
a Docker host that does not exist: no Docker needed) and measures, from this process:

  webhook   R requests per second (100), open loop (sent on schedule whatever the answers),
            each a distinct build.complete "failed" notification in the documented Azure DevOps
            shape; latency = from just before the POST to the moment a watcher thread (scanning
            queue/incoming every millisecond) first sees `ingress_<id>.json`. p50 / p99.
  relay     throughput: messages per second from POST /relay (16 in flight) to every file
            being in the target thread's queue.
  baseline  the seed's design (§2.4, §10.1): the receiver INSERTs a row into SQLite and
            answers; the orchestrator's loop polls the table every 2 s and delivers what it
            finds. Simulated here at the same rate and measured the same way (an aiohttp
            receiver writing SQLite in WAL mode, a 2 s poller writing the same queue files).

Targets: webhook p50 ≤ 20 ms. The ratio `latency_p50_vs_baseline` = ours / baseline.
The last line of output is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import emit_result, progress, rnd, start_serve, summarize_ms
from clawtui.engine.threads.queue import TinyClawQueue

ROOT = Path(__file__).resolve().parents[1]
SECRET = "bench-webhook-secret-0123456789"
RELAY_SECRETS = {"ryan": "bench-ryan-relay-secret-0123", "cody": "bench-cody-relay-secret-0123"}
FIXTURE = ROOT / "tests" / "fixtures" / "azure_devops" / "build_complete_failed.json"
POLL_SECONDS = 2.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Watcher:
    """First time each file name is seen in a folder (scans every millisecond)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.seen: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        while not self._stop.is_set():
            now = time.time()
            try:
                names = os.listdir(self.folder)
            except FileNotFoundError:
                names = []
            for name in names:
                if name.endswith(".json") and name not in self.seen:
                    self.seen[name] = now
            time.sleep(0.001)


def _payload(base: dict[str, Any], i: int, tag: str) -> bytes:
    data = json.loads(json.dumps(base))
    data["notificationId"] = i
    data["id"] = f"{tag}-{i:08d}-0000-4000-8000-000000000000"
    data["resource"]["id"] = 1_000_000 + i
    data["resource"]["buildNumber"] = f"20260305.{i}"
    data["resource"]["definition"] = {"id": 10_000 + i, "name": f"bench pipeline {i}"}
    return json.dumps(data).encode()


async def _open_loop(
    url: str, rate: float, seconds: float, base: dict[str, Any], tag: str
) -> dict[int, tuple[float, str | None]]:
    """POST at `rate`/s for `seconds`; {i: (wall time before POST, delivery id or None)}."""
    sent: dict[int, tuple[float, str | None]] = {}
    headers = {"x-webhook-secret": SECRET, "Content-Type": "application/json"}
    bodies = [_payload(base, i, tag) for i in range(int(rate * seconds))]
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=200)) as session:

        async def one(i: int) -> None:
            t0 = time.time()
            try:
                async with session.post(url, data=bodies[i], headers=headers) as r:
                    body = await r.json()
                    sent[i] = (t0, body.get("id") if r.status == 200 else None)
            except (aiohttp.ClientError, OSError, ValueError):
                sent[i] = (t0, None)

        start = time.monotonic()
        tasks = []
        for i in range(len(bodies)):
            delay = start + i / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(i)))
        await asyncio.gather(*tasks)
    return sent


async def _wait_seen(watcher: Watcher, names: set[str], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not names <= watcher.seen.keys() and time.monotonic() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.02)


def _latencies(
    sent: dict[int, tuple[float, str | None]], watcher: Watcher, name_of: Any
) -> list[float]:
    out = []
    for t0, did in sent.values():
        if did is None:
            continue
        seen = watcher.seen.get(name_of(did))
        if seen is not None:
            out.append(max(0.0, seen - t0))
    return out


# -- clawtui -------------------------------------------------------------------------------
def _start_serve(tmp: Path, port: int) -> subprocess.Popen[str]:
    secrets = tmp / "secrets"
    secrets.mkdir()
    (secrets / "webhook").write_text(SECRET)
    for name, value in RELAY_SECRETS.items():
        (secrets / name).write_text(value)
    (tmp / "config.toml").write_text(
        f'[engine]\nstate_dir = "{tmp}/state"\n'
        f'[service]\nlisten = "127.0.0.1:{port}"\n'
        '[[hosts]]\nname = "local"\nurl = "unix:///nonexistent/clawtui-bench.sock"\n'
        f'[webhook]\nsecret_files = ["{secrets}/webhook"]\nthread_id = 1\n'
        "[relay]\nrate_limit = 100000\n"
        'routes = [{from = "ryan", to = "cody"}]\n'
        f'[[relay.agents]]\nname = "ryan"\nthread_id = 1\nsecret_file = "{secrets}/ryan"\n'
        f'[[relay.agents]]\nname = "cody"\nthread_id = 3\nsecret_file = "{secrets}/cody"\n'
    )
    return start_serve(str(tmp), "bench-token-0123456789abcdef0123")


async def _relay_throughput(url: str, count: int, watcher: Watcher) -> dict[str, Any]:
    headers = {"X-Relay-Secret": RELAY_SECRETS["ryan"], "Content-Type": "application/json"}
    ids: list[str] = []
    failures = 0
    sem = asyncio.Semaphore(16)
    start = time.monotonic()
    async with aiohttp.ClientSession() as session:

        async def one(i: int) -> None:
            nonlocal failures
            body = {"from": "ryan", "to": "cody", "message": f"handoff {i}: " + "log " * 200}
            async with sem:
                try:
                    async with session.post(url, json=body, headers=headers) as r:
                        answer = await r.json()
                        if r.status == 202:
                            ids.append(answer["id"])
                        else:
                            failures += 1
                except (aiohttp.ClientError, OSError, ValueError):
                    failures += 1

        await asyncio.gather(*(one(i) for i in range(count)))
    await _wait_seen(watcher, {f"ingress_{i}.json" for i in ids}, 30)
    elapsed = time.monotonic() - start
    delivered = sum(1 for i in ids if f"ingress_{i}.json" in watcher.seen)
    return {
        "messages": count,
        "delivered": delivered,
        "refused": failures,
        "seconds": rnd(elapsed, 2),
        "messages_per_s": rnd(delivered / elapsed if elapsed else None, 1),
    }


# -- the seed's baseline -------------------------------------------------------------------
class PollingBaseline:
    """Receiver INSERTs into SQLite; a loop polls every 2 s and writes the queue files."""

    def __init__(self, tmp: Path) -> None:
        self.db = sqlite3.connect(str(tmp / "messages.db"), check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute(
            "CREATE TABLE messages (id TEXT PRIMARY KEY, thread INTEGER, body TEXT, "
            "done INTEGER DEFAULT 0)"
        )
        self.queue = TinyClawQueue(tmp / "baseline-home")
        self.queue.ensure()
        self.lock = threading.Lock()
        self._n = 0

    async def handle(self, request: web.Request) -> web.Response:
        if request.headers.get("x-webhook-secret") != SECRET:
            return web.json_response({"error": "unauthorized"}, status=401)
        data = json.loads(await request.read())
        res = data.get("resource", {})
        if res.get("result") not in ("failed", "partiallySucceeded"):
            return web.json_response({"ok": True})
        with self.lock:
            self._n += 1
            mid = f"bl-{self._n}"
            text = f"Build {res.get('buildNumber')} FAILED on {res.get('sourceBranch')}"
            self.db.execute("INSERT INTO messages (id, thread, body) VALUES (?, 1, ?)", (mid, text))
            self.db.commit()
        return web.json_response({"ok": True, "id": mid})

    async def poll_forever(self) -> None:
        while True:
            await asyncio.sleep(POLL_SECONDS)
            with self.lock:
                rows = self.db.execute(
                    "SELECT id, thread, body FROM messages WHERE done = 0"
                ).fetchall()
                for mid, thread, body in rows:
                    self.queue.deliver(thread, body, message_id=mid)
                    self.db.execute("UPDATE messages SET done = 1 WHERE id = ?", (mid,))
                self.db.commit()


async def run(args: argparse.Namespace) -> dict[str, Any]:
    base = json.loads(FIXTURE.read_text())
    with tempfile.TemporaryDirectory(prefix="clawtui-bench-ingress-") as raw_tmp:
        tmp = Path(raw_tmp)
        port = _free_port()
        progress("starting clawtui serve")
        proc = _start_serve(tmp, port)
        incoming = tmp / "state" / "tinyclaw" / "queue" / "incoming"
        watcher = Watcher(incoming)
        watcher.start()
        try:
            url = f"http://127.0.0.1:{port}"
            await _open_loop(url + "/webhook/azure-devops", 20, 1.0, base, "warm0000")
            progress(f"webhook: {args.rate:g} req/s for {args.seconds:g} s")
            sent = await _open_loop(
                url + "/webhook/azure-devops", args.rate, args.seconds, base, "a0b1c2d3"
            )
            await _wait_seen(
                watcher, {f"ingress_{d}.json" for _, d in sent.values() if d}, timeout=30
            )
            ours = _latencies(sent, watcher, lambda d: f"ingress_{d}.json")
            answered = sum(1 for _, d in sent.values() if d)
            progress(f"relay: {args.relay} messages, 16 in flight")
            # The relay writes into the same incoming folder: the same watcher sees its files.
            relay = await _relay_throughput(url + "/relay", args.relay, watcher)
        finally:
            watcher.stop()
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()

        progress(
            f"baseline: the seed's 2 s polling loop, {args.rate:g} req/s for {args.seconds:g} s"
        )
        baseline = PollingBaseline(tmp)
        app = web.Application(client_max_size=3 * 1024 * 1024)
        app.router.add_post("/webhook/azure-devops", baseline.handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        bport = _free_port()
        await web.TCPSite(runner, "127.0.0.1", bport).start()
        poller = asyncio.create_task(baseline.poll_forever())
        bwatch = Watcher(baseline.queue.folder("incoming"))
        bwatch.start()
        try:
            bsent = await _open_loop(
                f"http://127.0.0.1:{bport}/webhook/azure-devops",
                args.rate,
                args.seconds,
                base,
                "b0b1c2d3",
            )
            await _wait_seen(bwatch, {f"{d}.json" for _, d in bsent.values() if d}, 10)
            theirs = _latencies(bsent, bwatch, lambda d: f"{d}.json")
        finally:
            bwatch.stop()
            poller.cancel()
            await runner.cleanup()

    ours_s, base_s = summarize_ms(ours), summarize_ms(theirs)
    p50, bp50 = ours_s["p50_ms"], base_s["p50_ms"]
    return {
        "benchmark": "ingress",
        "rate_per_s": args.rate,
        "requests": len(sent),
        "answered_200": answered,
        "webhook_to_queue": ours_s,
        "baseline_2s_polling": base_s,
        "latency_p50_vs_baseline": rnd(p50 / bp50 if p50 is not None and bp50 else None, 4),
        "relay": relay,
        "targets": {"webhook_p50_ms": 20},
        "meets_targets": p50 is not None and p50 <= 20 and len(ours) == len(sent),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="shorter runs (well under 90 s)")
    parser.add_argument("--rate", type=float, default=100.0, help="webhook requests per second")
    parser.add_argument("--seconds", type=float, default=None, help="seconds of webhook load")
    parser.add_argument("--relay", type=int, default=None, help="relay messages to send")
    args = parser.parse_args()
    if args.seconds is None:
        args.seconds = 10.0 if args.quick else 30.0
    if args.relay is None:
        args.relay = 500 if args.quick else 2000
    if not 1 <= args.rate <= 2000 or args.seconds <= 0:
        parser.error("--rate must be 1-2000 and --seconds positive")
    started = time.monotonic()
    result = asyncio.run(run(args))
    result["seconds"] = rnd(time.monotonic() - started, 1)
    emit_result(result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
