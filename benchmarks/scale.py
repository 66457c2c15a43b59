"""Benchmark (TUI part of the scale figures): the control room with 3 hosts x 100 containers.

    PYTHONPATH=. .venv/bin/python benchmarks/scale.py [--quick] [--per-host N] [--ticks T]

The clawtui TUI (`ClawApp`, headless through Textual's test driver, 160x50) over the TUI test
fake engine (tests/tui/fakes.py) holding 3 hosts x N (100) containers. Each stats tick
publishes a sample for every running container of every host (new CPU and memory values for
all of them, as a 1 Hz sampler does) and is timed from the publish to the app being idle again
with the screen refreshed (`pilot.pause()`): that is the render cost per stats tick (target
p99 <= 30 ms). Baseline in the same run: a bare Textual app with one DataTable of the same
rows and columns, updating the same cells per tick with `update_cell`.
Idle: the process CPU of the app left alone (no events; its own 1 s uptime tick still runs)
over a few seconds, in % of one core (target <= 2 %), against the bare app's idle.

Not measured here (not done yet): the engine side of the scale figures (3 real hosts x 100
containers, engine CPU for 1 Hz stats against 300 streaming stats connections); see
benchmarks/stats.py for that figure on one host. The last line of output is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(1, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from _common import emit_result, progress, rnd, summarize_ms

SIZE = (160, 50)
HOSTS = ("local", "build-1", "gpu-box")
TARGET_TICK_P99_MS = 30.0
TARGET_IDLE_PERCENT = 2.0
MIB = 1024 * 1024


def _samples(ids: list[str], tick: int) -> dict[str, Any]:
    from clawtui.engine.api.models import ContainerStats

    return {
        cid: ContainerStats(
            cpu_percent=float((tick * 7 + i) % 100) + 0.5,
            mem_used=(64 + (tick + i) % 50) * MIB,
            mem_limit=512 * MIB,
            sampled_at=time.time(),
        )
        for i, cid in enumerate(ids)
    }


class TickTimer:
    """Times one stats tick from the start of its application to the end of the repaint that
    shows it: wall time (`perf_counter`) and the process's CPU time (`process_time`) over that
    span. `begin` at the start, `end` from a `call_after_refresh` callback (run by Textual
    right after the screen's next refresh)."""

    def __init__(self) -> None:
        self.done = asyncio.Event()
        self.active = False
        self.wall: list[float] = []
        self.cpu: list[float] = []
        self._t0 = self._c0 = 0.0

    def begin(self) -> None:
        if not self.active:
            return
        self._t0, self._c0 = time.perf_counter(), time.process_time()

    def end(self) -> None:
        if not self.active:
            return
        self.wall.append(time.perf_counter() - self._t0)
        self.cpu.append(time.process_time() - self._c0)
        self.done.set()

    async def wait(self, timeout: float = 30.0) -> None:
        await asyncio.wait_for(self.done.wait(), timeout)

    def figures(self) -> dict[str, Any]:
        return {"tick": summarize_ms(self.wall), "tick_cpu": summarize_ms(self.cpu)}


def _profiler() -> Any:
    """A running cProfile.Profile when SCALE_PROFILE names an output file (for development)."""
    if not os.environ.get("SCALE_PROFILE"):
        return None
    import cProfile

    profiler = cProfile.Profile()
    profiler.enable()
    return profiler


async def _idle_percent(seconds: float, during: Any = None) -> float:
    """The process's CPU over `seconds`, % of one core; `during(i)` runs once a second."""
    cpu0, t0 = time.process_time(), time.perf_counter()
    for i in range(max(1, round(seconds))):
        if during is not None:
            during(i)
        await asyncio.sleep(max(0.0, t0 + i + 1 - time.perf_counter()))
    return (time.process_time() - cpu0) / (time.perf_counter() - t0) * 100


async def measure_clawtui(per_host: int, ticks: int, idle_seconds: float) -> dict[str, Any]:
    from clawtui.config import Settings
    from clawtui.tui.app import ClawApp
    from clawtui.tui.widgets.container_table import ContainerTable
    from tests.tui.fakes import FakeEngine, container, host

    engine = FakeEngine()
    ids: dict[str, list[str]] = {}
    for h in HOSTS:
        engine.put_host(host(h, containers=per_host, running=per_host), publish=False)
        ids[h] = []
        for i in range(per_host):
            info = container(f"{HOSTS.index(h)}{i:04x}", f"agent-{h}-{i:03d}", host=h)
            engine.put_container(info, publish=False)
            ids[h].append(info.id)
    app = ClawApp(engine, Settings(), clock=time.time)  # a real clock: uptimes move
    timer = TickTimer()
    flush = app._flush_stats

    def timed_flush() -> None:  # the app's stats flush (all pending hosts), timed to the repaint
        timer.begin()
        flush()
        app.screen.call_after_refresh(timer.end)

    app._flush_stats = timed_flush  # type: ignore[method-assign]
    async with app.run_test(size=SIZE) as pilot:
        table = app.screen.query_one("#fleet-table", ContainerTable)
        deadline = time.monotonic() + 60
        while table.row_count < len(HOSTS) * per_host:
            if time.monotonic() > deadline:
                raise RuntimeError(f"the Fleet table shows {table.row_count} rows")
            await pilot.pause(0.05)
        await pilot.pause(0.5)
        first = f"{HOSTS[0]}/{ids[HOSTS[0]][0]}"
        timer.active = True
        profiler = _profiler()
        for tick in range(ticks):
            timer.done.clear()
            for h in HOSTS:  # one 1 Hz tick of every host, flushed together by the app
                engine.stats(h, _samples(ids[h], tick))
            await timer.wait()
            expected = f"{(tick * 7) % 100 + 0.5:.1f}"
            if table.get_cell(first, "cpu").plain != expected:
                raise RuntimeError(f"tick {tick} not shown: {table.get_cell(first, 'cpu')}")
        shown = table.get_cell(first, "cpu").plain
        timer.active = False
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(os.environ["SCALE_PROFILE"])
        await pilot.pause(0.5)
        idle = await _idle_percent(idle_seconds)
        live_ticks = [
            {h: _samples(ids[h], ticks + i) for h in HOSTS} for i in range(round(idle_seconds))
        ]

        def live(i: int) -> None:
            for h in HOSTS:
                engine.stats(h, live_ticks[i][h])

        idle_live = await _idle_percent(idle_seconds, live)
    return {
        **timer.figures(),
        "idle_percent_of_core": rnd(idle, 2),
        "idle_with_stats_percent_of_core": rnd(idle_live, 2),
        "cell": shown,
    }


async def measure_bare(per_host: int, ticks: int, idle_seconds: float) -> dict[str, Any]:
    from rich.text import Text
    from textual.app import App, ComposeResult
    from textual.widgets import DataTable

    rows = [(h, f"{HOSTS.index(h)}{i:04x}") for h in HOSTS for i in range(per_host)]

    class Bare(App[None]):
        def compose(self) -> ComposeResult:
            yield DataTable[Text](id="t")

        def on_mount(self) -> None:
            table = self.query_one(DataTable)
            for key in ("mark", "name", "host", "image", "state", "cpu", "mem", "uptime"):
                table.add_column(key, key=key)
            for h, cid in rows:
                table.add_row(
                    *(Text(x) for x in (" ", f"agent-{cid}", h, "busybox", "running", "", "", "")),
                    key=f"{h}/{cid}",
                )

    app = Bare()
    timer = TickTimer()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(0.5)
        table = app.query_one(DataTable)

        def update(tick: int) -> None:
            for i, (h, cid) in enumerate(rows):
                table.update_cell(f"{h}/{cid}", "cpu", Text(f"{(tick * 7 + i) % 100 + 0.5:.1f}"))
                table.update_cell(f"{h}/{cid}", "mem", Text(f"{64 + (tick + i) % 50} / 512"))

        timer.active = True
        for tick in range(ticks):
            timer.done.clear()
            timer.begin()
            update(tick)
            app.screen.call_after_refresh(timer.end)
            await timer.wait()
            await asyncio.sleep(0.05)
        await pilot.pause(0.5)
        idle = await _idle_percent(idle_seconds)
        idle_live = await _idle_percent(idle_seconds, lambda i: update(ticks + i))
    return {
        **timer.figures(),
        "idle_percent_of_core": rnd(idle, 2),
        "idle_with_stats_percent_of_core": rnd(idle_live, 2),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer ticks (well under 90 s)")
    parser.add_argument("--per-host", type=int, default=100)
    parser.add_argument("--ticks", type=int, default=None)
    parser.add_argument("--idle-seconds", type=float, default=None)
    args = parser.parse_args()
    ticks = args.ticks or (30 if args.quick else 100)
    idle_seconds = args.idle_seconds or (5.0 if args.quick else 20.0)
    started = time.monotonic()
    load = os.getloadavg()
    progress(f"clawtui TUI: {len(HOSTS)} x {args.per_host} rows, {ticks} stats ticks")
    claw = asyncio.run(measure_clawtui(args.per_host, ticks, idle_seconds))
    progress("bare Textual DataTable, same rows and ticks")
    bare = asyncio.run(measure_bare(args.per_host, ticks, idle_seconds))
    p99, base = claw["tick"]["p99_ms"], bare["tick"]["p99_ms"]
    cpu99, cpu_base = claw["tick_cpu"]["p99_ms"], bare["tick_cpu"]["p99_ms"]
    emit_result(
        {
            "benchmark": "scale",
            "part": "tui",
            "rows": len(HOSTS) * args.per_host,
            "ticks": ticks,
            "load_average_at_start": [round(x, 2) for x in load],
            "clawtui": claw,
            "bare_datatable": bare,
            "tick_p99_vs_bare": rnd(p99 / base, 2) if p99 and base else None,
            "tick_cpu_p99_vs_bare": rnd(cpu99 / cpu_base, 2) if cpu99 and cpu_base else None,
            "targets": {
                "tick_p99_ms": TARGET_TICK_P99_MS,
                "tick_cpu_p99_ms": TARGET_TICK_P99_MS,
                "idle_percent_of_core": TARGET_IDLE_PERCENT,
                "idle_with_stats_percent_of_core": TARGET_IDLE_PERCENT,
            },
            "meets_targets": {
                "tick_p99_ms": p99 is not None and p99 <= TARGET_TICK_P99_MS,
                "tick_cpu_p99_ms": cpu99 is not None and cpu99 <= TARGET_TICK_P99_MS,
                "idle_percent_of_core": claw["idle_percent_of_core"] <= TARGET_IDLE_PERCENT,
                "idle_with_stats_percent_of_core": claw["idle_with_stats_percent_of_core"]
                <= TARGET_IDLE_PERCENT,
            },
            "seconds": rnd(time.monotonic() - started, 1),
        }
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
