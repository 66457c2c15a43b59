"""Heartbeats: full scan of 1000 threads' HEARTBEAT.md files, and file change -> engine event.

    PYTHONPATH=. .venv/bin/python benchmarks/heartbeats.py [--quick] [--threads N] [--samples N]

Setup: a TinyClaw home whose threads.json lists N threads (default 1000), each with its own
working directory holding a HEARTBEAT.md (the seed's template, with timestamps, flags, tasks).

Measured, against the engine's real `Threads` capability (watchfiles, not started Docker hosts):
* full scan: `Threads.scan()` re-reads and parses every HEARTBEAT.md plus the queue index
  (median of 5 runs; target <= 200 ms);
* latency: a HEARTBEAT.md of a random thread is replaced (write temp + rename, as editors and
  agents save) and the time until the engine publishes that thread's THREAD event with the new
  content is taken; p50 target <= 300 ms;
* baseline: the same change -> event latency when every change re-reads every file (a watcher
  that rescans all threads on each change, the naive approach), measured in the same run.

The last line is a JSON object: scan_ms, latency p50/p99, baseline latency, their ratio and
meets_targets.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import emit_result, progress, rnd, summarize_ms
from clawtui.config import EngineConfig, HostConfig, Settings
from clawtui.config.threads import ThreadsConfig
from clawtui.engine.api.models import EventKind
from clawtui.engine.core import Engine
from clawtui.engine.threads.manager import Threads

SCAN_TARGET_MS = 200.0
LATENCY_TARGET_MS = 300.0


def heartbeat_text(i: int, marker: str) -> str:
    return (
        "## Timestamps\n- Last quick: 2026-02-11T10:05:00Z\n- Last hourly: 2026-02-11T10:00:00Z\n"
        "- Last daily: 2026-02-11T00:00:00Z\n\n## Urgent Flags\n"
        f"- {marker}\n\n## Tasks\n- [ ] task one of {i}\n- [x] task two\n\n"
        "## Notes\n(agent scratch space)\n" + "note line\n" * 20
    )


def setup(root: Path, n: int) -> Path:
    home = root / "home"
    home.mkdir()
    threads = {}
    for i in range(n):
        cwd = root / f"t{i:04d}"
        cwd.mkdir()
        (cwd / "HEARTBEAT.md").write_text(heartbeat_text(i, "flag-0"))
        threads[str(i + 1)] = {"name": f"t{i}", "cwd": str(cwd), "model": "haiku",
                               "isMaster": i == 0, "lastActive": 0}  # fmt: skip
    (home / "threads.json").write_text(json.dumps(threads))
    return home


def make_engine(root: Path, home: Path) -> Engine:
    settings = Settings(
        engine=EngineConfig(state_dir=root / "state"),
        hosts=[HostConfig(name="local")],
        threads=ThreadsConfig(home=home, heartbeat=False),
    )
    return Engine(settings)


class BaselineThreads(Threads):
    """Re-reads every HEARTBEAT.md on each change (the naive watcher)."""

    def handle_changes(self, paths: set[str]) -> set[int]:
        self.scan()
        return super().handle_changes(paths)


def save(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp-editor")
    tmp.write_text(text)
    os.replace(tmp, path)


async def measure_latency(engine: Engine, threads: Threads, n: int, samples: int) -> list[float]:
    engine.bus.bind(asyncio.get_running_loop())
    sub = engine.subscribe([EventKind.THREAD])
    task = asyncio.create_task(threads._watch_loop())
    await asyncio.sleep(1.0)  # watcher up
    rng = random.Random(7)
    out: list[float] = []
    try:
        for k in range(samples):
            i = rng.randrange(n)
            marker = f"flag-{k + 1}"
            path = Path(threads._threads[i + 1].cwd or "") / "HEARTBEAT.md"
            t0 = time.perf_counter()
            save(path, heartbeat_text(i, marker))
            while True:
                event = await asyncio.wait_for(sub.get(), 10)
                data = event.data["thread"]
                if data["thread"]["id"] == i + 1 and data["heartbeat"]["urgent_flags"] == [marker]:
                    out.append(time.perf_counter() - t0)
                    break
            await asyncio.sleep(0.05)
    finally:
        threads._stop_watch.set()
        threads._restart_watch.set()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        sub.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer samples (<= 90 s)")
    parser.add_argument("--threads", type=int, default=1000)
    parser.add_argument("--samples", type=int, default=0)
    args = parser.parse_args()
    n = args.threads
    samples = args.samples or (25 if args.quick else 100)
    with tempfile.TemporaryDirectory(prefix="clawtui-bench-hb-") as tmp:
        root = Path(tmp)
        progress(f"creating {n} threads with HEARTBEAT.md files")
        home = setup(root, n)

        engine = make_engine(root, home)
        threads = engine.threads
        scans = []
        for _ in range(5):
            t0 = time.perf_counter()
            count = threads.scan()
            scans.append(time.perf_counter() - t0)
        assert count == n, count
        scan_ms = statistics.median(scans) * 1000
        progress(f"full scan of {n} threads: {scan_ms:.1f} ms (median of 5)")

        progress(f"latency: {samples} HEARTBEAT.md saves -> THREAD event (incremental watcher)")
        ours = asyncio.run(measure_latency(engine, threads, n, samples))
        ours_s = summarize_ms(ours)
        progress(f"incremental: {ours_s}")

        base_engine = make_engine(root, home)
        base = BaselineThreads(base_engine.context, base_engine.queue, base_engine.notifier)
        base.scan()
        progress(f"baseline: {samples} saves with a full re-read on every change")
        theirs = asyncio.run(measure_latency(base_engine, base, n, samples))
        theirs_s = summarize_ms(theirs)
        progress(f"baseline: {theirs_s}")

    p50, bp50 = ours_s["p50_ms"], theirs_s["p50_ms"]
    result: dict[str, Any] = {
        "benchmark": "heartbeats",
        "threads": n,
        "samples": samples,
        "scan_ms": rnd(scan_ms),
        "scan_target_ms": SCAN_TARGET_MS,
        "latency": ours_s,
        "baseline_latency": theirs_s,
        "latency_ratio": rnd(p50 / bp50, 3) if p50 and bp50 else None,
        "latency_target_ms": LATENCY_TARGET_MS,
        "meets_targets": bool(
            scan_ms <= SCAN_TARGET_MS and p50 is not None and p50 <= LATENCY_TARGET_MS
        ),
    }
    emit_result(result)


if __name__ == "__main__":
    main()
