"""Benchmark: the engine's stats sampler vs one streaming stats connection per container.

    PYTHONPATH=. .venv/bin/python benchmarks/stats.py [--quick] [--containers N] [--duration S]

Starts N (100) busybox containers labelled `clawtui.bench=stats` running `sleep 3600`, then:

  idle       no client at all, for a few seconds: what dockerd + containerd + the shims use
             anyway (context for the other two phases; not subtracted from them);
  engine     (a) clawtui's Engine with one local host and stats_interval=1.0: its sampler
             refreshes all N containers once a second (from cgroup files on this host);
  streaming  (b) the baseline of lazydocker, ctop and Dozzle: one `GET /containers/{id}/stats?
             stream=true` connection per container, decoding each JSON object as it arrives
             (json.loads + the CPU / memory math of `stats_from_api`, like those tools do).
             The client is a lean asyncio one over raw HTTP/1.1 on the Docker socket, so its own
             CPU is close to what a Go client spends; docker-py's requests stream would cost
             more and flatter the engine.

Each client runs in its own child process, warms up (connects, sees every container sampled
twice) and then is measured over the same duration. CPU is utime + stime from /proc/PID/stat
over the measured window, as % of one core: the client process (all its threads), and dockerd +
containerd + the containerd-shims of the benchmark's containers. The shims count only above
their background: 100 idle shims burn a few % of a core in bursts about every 30 s with no
client at all, which the idle windows (no client running) measure. `cpu_ratio_gross` counts
them in full; `noisy` says other users of the machine disturbed the figures.

Refresh latency:
  engine     per sampler tick: from the tick's start (STATS event `ts` minus the monitor's
             `last_sample_seconds`) until this benchmark's bus subscription received the STATS
             event, counting only ticks whose event carries all N containers.
  streaming  per dockerd collection round (dockerd's stats collector polls every subscribed
             container in one sequential pass, then sleeps 1 s): from the round's earliest
             daemon `read` timestamp until the client received the round's last sample, counting
             only rounds in which all N containers delivered one.
  Both also report `window_*`: for each 1 s window from the phase start, the time from the
  window start until every container has a sample newer than it (staleness as a viewer sees it;
  about half the interval for any 1 Hz design).

The last line of output is one JSON object. cpu_ratio = engine total CPU / streaming total CPU.
Targets: cpu_ratio <= 0.05 and engine refresh p50 <= 20 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import tempfile
import time
import types
from datetime import datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(1, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from _common import (
    BenchContainers,
    ChildChannel,
    CpuMeter,
    api_client,
    check_daemons_alive,
    emit_result,
    find_daemon_pids,
    handle_termination,
    measure_idle,
    percentile,
    progress,
    require_image,
    rnd,
    run_phase,
)

LABEL = "stats"
TARGET_CPU_RATIO = 0.05
TARGET_REFRESH_P50_MS = 20.0
DOCKER_SOCK = "/var/run/docker.sock"
SETTLE_S = 2.0
NOISY_OTHERS_PCT = 15.0  # other processes' CPU in a window, % of a core
NOISY_IDLE_DAEMON_PCT = 3.0  # daemons' CPU with no client running, % of a core


# =============================================================================================
# (a) the engine, in a child process


def make_settings(state_dir: str) -> tuple[Any, str]:
    """The real Settings when clawtui.config provides them, else a stand-in with the fields the
    Engine reads."""
    try:
        from clawtui.config import EngineConfig, HostConfig, Settings

        settings = Settings(
            engine=EngineConfig(state_dir=Path(state_dir), stats_interval=1.0),
            hosts=[HostConfig(name="local")],
        )
        return settings, "clawtui.config.Settings"
    except ImportError:
        why = "clawtui.config missing"
    except Exception as exc:  # a different signature while config.py is being written
        why = f"clawtui.config unusable here ({exc.__class__.__name__}: {str(exc)[:120]})"
    engine = types.SimpleNamespace(
        stats_interval=1.0,
        reconnect_max_backoff=5.0,
        event_log_keep_days=7,
        db_path=str(Path(state_dir) / "clawtui.db"),
    )
    host = types.SimpleNamespace(
        name="local", url=f"unix://{DOCKER_SOCK}", memory_reserve=2 << 30,
        cgroup_root="/sys/fs/cgroup", timeout=10, is_local=True,
    )  # fmt: skip
    return types.SimpleNamespace(engine=engine, hosts=[host]), f"SimpleNamespace ({why})"


async def engine_child(ids: list[str], duration: float, ch: ChildChannel) -> None:
    from clawtui.engine.api.models import EventKind
    from clawtui.engine.core import Engine

    wanted = set(ids)
    with tempfile.TemporaryDirectory(prefix="clawtui-bench-stats-") as state_dir:
        settings, settings_kind = make_settings(state_dir)
        engine = Engine(settings)
        await engine.start()
        try:
            if not await engine.wait_online(30):
                raise SystemExit(f"the engine did not get online: {engine.hosts()}")
            monitor = next(iter(engine.monitors.values()))
            sub = engine.subscribe([EventKind.STATS])
            full = 0
            warm_deadline = time.monotonic() + 30
            while full < 2:  # cgroup paths resolved and CPU marks taken for every container
                ev = await asyncio.wait_for(sub.get(), max(0.1, warm_deadline - time.monotonic()))
                if wanted <= ev.data.get("stats", {}).keys():
                    full += 1
            ch.ready({"settings": settings_kind, "direct_stats": monitor.info.direct_stats})
            await asyncio.to_thread(ch.wait_go)

            go = time.time()
            while sub.get_nowait() is not None:  # drop anything from before the window
                pass
            end = go + duration
            ticks: list[dict[str, float]] = []
            incomplete = 0
            while True:
                remaining = end - time.time()
                if remaining <= 0:
                    break
                try:
                    ev = await asyncio.wait_for(sub.get(), remaining)
                except TimeoutError:
                    break
                recv = time.time()
                tick_s = monitor.last_sample_seconds or 0.0
                if not wanted <= ev.data.get("stats", {}).keys():
                    incomplete += 1
                    continue
                ticks.append({"start": ev.ts - tick_s, "tick_s": tick_s, "recv": recv})
            ch.result(
                {"go": go, "end": time.time(), "ticks": ticks, "incomplete": incomplete,
                 "samples": monitor.samples, "dropped": sub.dropped}
            )  # fmt: skip
            sub.close()
        finally:
            await engine.stop()


# =============================================================================================
# (b) baseline: one streaming stats connection per container, in a child process


def parse_read(value: Any) -> float | None:
    """Docker's RFC 3339 `read` timestamp (ns precision, truncated to µs) as epoch seconds."""
    if not isinstance(value, str) or value.startswith("0001-"):
        return None
    try:
        return datetime.fromisoformat(value).timestamp()
    except ValueError:
        return None


async def stream_stats(index: int, cid: str, on_object: Any, sock: str = DOCKER_SOCK) -> None:
    """One `stats?stream=true` connection: HTTP/1.1 chunked, one JSON object per line."""
    reader, writer = await asyncio.open_unix_connection(sock, limit=1 << 20)
    try:
        writer.write(
            f"GET /containers/{cid}/stats?stream=true HTTP/1.1\r\nHost: docker\r\n\r\n".encode()
        )
        await writer.drain()
        status = await reader.readline()
        if b" 200 " not in status:
            raise RuntimeError(f"stats of {cid[:12]}: {status!r}")
        chunked = False
        while (header := await reader.readline()) not in (b"\r\n", b""):
            if header.lower().startswith(b"transfer-encoding:") and b"chunked" in header.lower():
                chunked = True
        buf = b""
        while True:
            if chunked:
                size = int((await reader.readline()).split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    return
                data = (await reader.readexactly(size + 2))[:-2]
            else:
                data = await reader.read(65536)
                if not data:
                    return
            buf += data
            while (nl := buf.find(b"\n")) >= 0:
                line, buf = buf[:nl], buf[nl + 1 :]
                if line.strip():
                    on_object(index, line)
    finally:
        writer.close()


async def streaming_child(ids: list[str], duration: float, ch: ChildChannel) -> None:
    from clawtui.engine.fleet.stats import stats_from_api

    counts = [0] * len(ids)
    samples: list[tuple[int, float | None, float]] = []
    recording = False
    warm = asyncio.Event()
    state = {"warm_left": len(ids)}

    def on_object(index: int, line: bytes) -> None:
        recv = time.time()
        payload = json.loads(line)
        stats_from_api(payload, None, now=recv)  # what a viewer computes from each sample
        counts[index] += 1
        if counts[index] == 2:
            state["warm_left"] -= 1
            if state["warm_left"] == 0:
                warm.set()
        if recording:
            samples.append((index, parse_read(payload.get("read")), recv))

    tasks = [asyncio.create_task(stream_stats(i, cid, on_object)) for i, cid in enumerate(ids)]
    try:
        waiter = asyncio.create_task(warm.wait())
        done, _ = await asyncio.wait(
            [waiter, *tasks], timeout=30, return_when=asyncio.FIRST_COMPLETED
        )
        if waiter not in done:
            for t in done:
                t.result()  # a connection failed: raise its error
            raise SystemExit("the streaming client did not see 2 samples of every container")
        ch.ready({"connections": len(tasks)})
        await asyncio.to_thread(ch.wait_go)
        go = time.time()
        recording = True
        await asyncio.sleep(max(0.0, go + duration - time.time()))
        recording = False
        ended = sum(1 for t in tasks if t.done())
        ch.result({"go": go, "end": time.time(), "samples": samples, "ended_early": ended})
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


# =============================================================================================
# analysis (in the parent, outside the measured windows)


def window_latencies(arrivals: list[list[float]], go: float, end: float) -> list[float]:
    """For each 1 s window [go + k, go + k + 1): time from its start until every container has
    a sample received after it; windows whose answer is not within the data are left out."""
    out: list[float] = []
    k = 0
    while go + k + 1 <= end:
        w = go + k
        worst = 0.0
        for times in arrivals:
            nxt = next((t for t in times if t >= w), None)
            if nxt is None:
                worst = -1.0
                break
            worst = max(worst, nxt - w)
        if worst >= 0:
            out.append(worst)
        k += 1
    return out


def analyze_engine(res: dict[str, Any]) -> dict[str, Any]:
    ticks = res["ticks"]
    refresh = [t["recv"] - t["start"] for t in ticks]
    tick_s = [t["tick_s"] for t in ticks]
    window = window_latencies([[t["recv"] for t in ticks]], res["go"], res["end"])
    return {
        "refresh_p50_ms": rnd(1000 * percentile(refresh, 50) if refresh else None),  # type: ignore[operator]
        "refresh_p99_ms": rnd(1000 * percentile(refresh, 99) if refresh else None),  # type: ignore[operator]
        "refresh_max_ms": rnd(1000 * max(refresh) if refresh else None),
        "sample_once_p50_ms": rnd(1000 * percentile(tick_s, 50) if tick_s else None),  # type: ignore[operator]
        "window_p50_ms": rnd(1000 * percentile(window, 50) if window else None),  # type: ignore[operator]
        "window_p99_ms": rnd(1000 * percentile(window, 99) if window else None),  # type: ignore[operator]
        "ticks": len(ticks),
        "refreshes_per_s": rnd(len(ticks) / (res["end"] - res["go"])),
        "incomplete_ticks": res["incomplete"],
    }


def analyze_streaming(res: dict[str, Any], n: int) -> dict[str, Any]:
    samples = res["samples"]
    per_container: list[list[float]] = [[] for _ in range(n)]
    for index, _read, recv in samples:
        per_container[index].append(recv)
    # Group samples into dockerd collection rounds by their daemon `read` timestamps.
    timed = sorted((read, recv, index) for index, read, recv in samples if read is not None)
    rounds: list[list[tuple[float, float, int]]] = []
    for item in timed:
        if rounds and item[0] - rounds[-1][-1][0] <= 0.5:
            rounds[-1].append(item)
        else:
            rounds.append([item])
    refresh: list[float] = []
    spreads: list[float] = []
    incomplete = 0
    for r in rounds:
        if len({index for _, _, index in r}) < n:
            incomplete += 1
            continue
        first_read = min(read for read, _, _ in r)
        refresh.append(max(recv for _, recv, _ in r) - first_read)
        spreads.append(max(read for read, _, _ in r) - first_read)
    window = window_latencies(per_container, res["go"], res["end"])
    return {
        "refresh_p50_ms": rnd(1000 * percentile(refresh, 50) if refresh else None),  # type: ignore[operator]
        "refresh_p99_ms": rnd(1000 * percentile(refresh, 99) if refresh else None),  # type: ignore[operator]
        "refresh_max_ms": rnd(1000 * max(refresh) if refresh else None),
        "daemon_round_p50_ms": rnd(1000 * percentile(spreads, 50) if spreads else None),  # type: ignore[operator]
        "window_p50_ms": rnd(1000 * percentile(window, 50) if window else None),  # type: ignore[operator]
        "window_p99_ms": rnd(1000 * percentile(window, 99) if window else None),  # type: ignore[operator]
        "rounds": len(refresh),
        "refreshes_per_s": rnd(len(refresh) / (res["end"] - res["go"])),
        "incomplete_rounds": incomplete,
        "samples": len(samples),
        "samples_missing_read": sum(1 for _, read, _ in samples if read is None),
    }


def cpu_figures(meter: CpuMeter, idle: dict[str, float], shim_background: float) -> dict[str, Any]:
    """CPU of one phase. `idle`: the daemons' per-group idle CPU around this phase;
    `shim_background`: the shims' idle CPU over all idle windows (they burn a few % of a core
    in bursts with no client at all, so only what exceeds that is attributable)."""
    client = meter.percent("client")
    groups = {g: meter.percent(g) for g in ("dockerd", "containerd", "shims")}
    gross = sum(groups.values())
    shims_attributable = max(0.0, groups["shims"] - shim_background)
    daemon = groups["dockerd"] + groups["containerd"] + shims_attributable
    net = max(0.0, gross - sum(idle.values()))
    slices = meter.slice_percents(["dockerd", "containerd", "shims"])
    median = percentile(slices, 50) if slices else gross
    return {
        "client_cpu_pct": rnd(client),
        "daemon_cpu_pct": rnd(daemon),
        "total_cpu_pct": rnd(client + daemon),
        "daemon_breakdown_pct": {
            "dockerd": rnd(groups["dockerd"]),
            "containerd": rnd(groups["containerd"]),
            "shims": rnd(groups["shims"]),
            "shims_background": rnd(shim_background),
            "shims_attributable": rnd(shims_attributable),
        },
        "gross_daemon_cpu_pct": rnd(gross),
        "gross_total_cpu_pct": rnd(client + gross),
        "idle_daemon_cpu_pct": rnd(sum(idle.values())),
        "net_of_idle_total_cpu_pct": rnd(client + net),
        "daemon_cpu_pct_median_1s": rnd(median),
        "measured_s": rnd(meter.wall),
        "other_processes_cpu_pct": rnd(meter.others_percent()),
        "_total": client + daemon,
        "_gross": client + gross,
        "_net_total": client + net,
        "_median_total": client + (median or 0.0),
    }


def _mean_groups(*windows: dict[str, float]) -> dict[str, float]:
    return {g: sum(w[g] for w in windows) / len(windows) for g in windows[0]}


def daemon_pct(meter: CpuMeter) -> float:
    return sum(meter.percent(g) for g in ("dockerd", "containerd", "shims"))


def run_benchmark(args: argparse.Namespace) -> dict[str, Any]:
    # Without --quick every phase spans a whole period of the shims' background bursts (~30 s)
    # and the three idle windows together span one too, so the background cancels out; the
    # 12 s phases of --quick catch a burst or not, which moves the figures by up to ~2-3% of a
    # core (see `definitions.daemon_cpu_pct`).
    duration = args.duration or (12.0 if args.quick else 30.0)
    idle_s = args.idle or (4.0 if args.quick else 10.0)
    n = args.containers
    client = api_client(pool=32)
    require_image(client, wait=args.wait_image)
    started = time.monotonic()
    with (
        tempfile.TemporaryDirectory(prefix="clawtui-bench-stats-") as tmp,
        BenchContainers(client, LABEL, n) as bench,
    ):
        ids_file = Path(tmp) / "ids.json"
        ids_file.write_text(json.dumps(bench.ids))
        daemons = find_daemon_pids(bench.ids)
        if not daemons.dockerd or not daemons.containerd:
            raise SystemExit("dockerd / containerd processes not found in /proc")
        progress(
            f"{n} containers up in {bench.create_seconds:.1f}s; daemons: dockerd "
            f"{daemons.dockerd}, containerd {daemons.containerd}, {len(daemons.shims)} shims"
        )

        def child(kind: str) -> list[str]:
            return [sys.executable, os.path.abspath(__file__), "--child", kind,
                    "--ids-file", str(ids_file), "--duration", str(duration)]  # fmt: skip

        idle_windows: list[dict[str, float | None]] = []

        def idle(when: str) -> dict[str, float]:
            progress(f"idle {when}: the daemons with no client, {idle_s:.0f}s")
            meter = measure_idle(daemons, idle_s)
            check_daemons_alive(daemons)
            per_group = {g: meter.percent(g) for g in ("dockerd", "containerd", "shims")}
            idle_windows.append(
                {
                    "daemon_cpu_pct": rnd(sum(per_group.values())),
                    "dockerd_containerd_cpu_pct": rnd(
                        per_group["dockerd"] + per_group["containerd"]
                    ),
                    "shims_cpu_pct": rnd(per_group["shims"]),
                    "other_processes_cpu_pct": rnd(meter.others_percent()),
                }
            )
            return per_group

        time.sleep(SETTLE_S)  # dockerd finishes the tail of 100 starts
        idle0 = idle("before phase a")
        progress(f"phase a: engine sampler, {n} containers at 1 Hz for {duration:.0f}s")
        a = run_phase(child("engine"), daemons, run_timeout=duration + 30)
        check_daemons_alive(daemons)
        progress(f"phase a done: client {a.meter.percent('client'):.2f}%, daemons "
                 f"{daemon_pct(a.meter):.2f}% of a core")  # fmt: skip
        idle1 = idle("between the phases")
        progress(f"phase b: {n} streaming stats connections for {duration:.0f}s")
        b = run_phase(child("streaming"), daemons, run_timeout=duration + 30)
        check_daemons_alive(daemons)
        progress(f"phase b done: client {b.meter.percent('client'):.2f}%, daemons "
                 f"{daemon_pct(b.meter):.2f}% of a core")  # fmt: skip
        idle2 = idle("after phase b")
        measured_s = time.monotonic() - started

    shim_background = _mean_groups(idle0, idle1, idle2)["shims"]
    idle_a, idle_b = _mean_groups(idle0, idle1), _mean_groups(idle1, idle2)
    engine = {**cpu_figures(a.meter, idle_a, shim_background), **analyze_engine(a.result)}
    engine["sampling"] = "cgroup files" if a.ready_info.get("direct_stats") else "API one-shot"
    engine["settings"] = a.ready_info.get("settings")
    base = {**cpu_figures(b.meter, idle_b, shim_background), **analyze_streaming(b.result, n)}
    base["streams_ended_early"] = b.result.get("ended_early", 0)
    a_total, a_net = engine.pop("_total"), engine.pop("_net_total")
    b_total, b_net = base.pop("_total"), base.pop("_net_total")
    a_med, b_med = engine.pop("_median_total"), base.pop("_median_total")
    a_gross, b_gross = engine.pop("_gross"), base.pop("_gross")
    ratio_gross = a_gross / b_gross if b_gross > 0 else None
    ratio_med = a_med / b_med if b_med > 0 else None
    ratio = a_total / b_total if b_total > 0 else None
    ratio_net = a_net / b_net if b_net > 0 else None
    p50 = engine["refresh_p50_ms"]
    targets = {
        "cpu_ratio_max": TARGET_CPU_RATIO,
        "engine_refresh_p50_ms_max": TARGET_REFRESH_P50_MS,
    }
    met = {
        "cpu_ratio": ratio is not None and ratio <= TARGET_CPU_RATIO,
        "engine_refresh_p50": p50 is not None and p50 <= TARGET_REFRESH_P50_MS,
        "cpu_ratio_gross": ratio_gross is not None and ratio_gross <= TARGET_CPU_RATIO,
        "cpu_ratio_net_of_idle": ratio_net is not None and ratio_net <= TARGET_CPU_RATIO,
    }
    others = [
        engine["other_processes_cpu_pct"] or 0.0,
        base["other_processes_cpu_pct"] or 0.0,
        *(w["other_processes_cpu_pct"] or 0.0 for w in idle_windows),
    ]
    idle_daemon = [w["dockerd_containerd_cpu_pct"] or 0.0 for w in idle_windows]
    noisy = max(others) > NOISY_OTHERS_PCT or max(idle_daemon) > NOISY_IDLE_DAEMON_PCT
    if noisy:
        progress(
            f"WARNING: the machine was busy with other work (other processes up to "
            f"{max(others):.0f}% of a core, idle dockerd + containerd up to "
            f"{max(idle_daemon):.1f}%): "
            "the CPU figures include some of it; run again on a quiet machine"
        )
    return {
        "benchmark": "stats",
        "containers": n,
        "duration_s": duration,
        "idle_window_s": idle_s,
        "quick": bool(args.quick),
        "engine": engine,
        "baseline_streaming": base,
        "idle_windows": idle_windows,
        "cpu_ratio": rnd(ratio, 4),
        "cpu_ratio_gross": rnd(ratio_gross, 4),
        "cpu_ratio_net_of_idle": rnd(ratio_net, 4),
        "cpu_ratio_median_1s": rnd(ratio_med, 4),
        "targets": targets,
        "meets": met,
        "meets_targets": met["cpu_ratio"] and met["engine_refresh_p50"],
        "noisy": noisy,
        "definitions": {
            "cpu_pct": "utime+stime from /proc/PID/stat over the measured window, % of one core",
            "daemon_cpu_pct": "dockerd + containerd + the attributable CPU of the benchmark "
            "containers' containerd-shims: what they used above their background with no client "
            "(shims_background, mean of all idle windows; 100 idle shims burn a few % of a core "
            "in bursts about every 30 s whatever the client does: each shim ~10 ms of user CPU "
            "per ~30 s, staggered by start time; phases shorter than 30 s catch more or less "
            "of it than the idle windows do)",
            "gross_daemon_cpu_pct": "dockerd + containerd + all CPU of the benchmark's shims",
            "cpu_ratio": "engine total (client + daemon) CPU / baseline total CPU over equal "
            "windows; judged",
            "cpu_ratio_gross": "the same with the shims' CPU counted in full; informational",
            "cpu_ratio_net_of_idle": "the same with each phase's daemon CPU reduced by the "
            "daemons' idle CPU (mean of the idle windows before and after the phase, no client "
            "running); informational",
            "cpu_ratio_median_1s": "the same with each phase's daemon CPU taken as the median "
            "of its 1 s slices (resists bursts of other users' Docker work); informational",
            "engine_refresh": "per sampler tick: tick start (STATS event ts - "
            "last_sample_seconds) to the STATS event, carrying all containers, received on a "
            "bus subscription",
            "baseline_refresh": "per dockerd collection round: earliest daemon `read` timestamp "
            "of the round to the client receiving the round's last container sample",
            "other_processes_cpu_pct": "busy CPU of the whole machine (/proc/stat) minus the "
            "measured processes: other users of this machine during the window (noise)",
            "noisy": f"other processes used > {NOISY_OTHERS_PCT:.0f}% of a core in a window, or "
            f"dockerd + containerd > {NOISY_IDLE_DAEMON_PCT:.0f}% with no client: CPU figures "
            "unreliable",
            "window": "per 1 s window from the phase start: window start until every container "
            "has a sample received after it",
            "baseline_client": "asyncio, raw HTTP/1.1 on the Docker socket, one connection per "
            "container, json.loads + stats_from_api per object",
        },
        "timing_s": {
            "create": rnd(bench.create_seconds, 1),
            "remove": rnd(bench.remove_seconds, 1),
            "total": rnd(time.monotonic() - started, 1),
            "until_phases_done": rnd(measured_s, 1),
        },
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help="fit in 90 s: 12 s phases, 4 s idle windows (else 30 s and 10 s)",
    )
    parser.add_argument("--containers", type=int, default=100)
    parser.add_argument("--duration", type=float, default=None, help="seconds per measured phase")
    parser.add_argument("--idle", type=float, default=None, help="seconds per idle window")
    parser.add_argument(
        "--wait-image",
        type=float,
        default=0.0,
        help="wait this long for the test image to appear (a build in progress)",
    )
    parser.add_argument("--child", choices=["engine", "streaming"], help=argparse.SUPPRESS)
    parser.add_argument("--ids-file", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        ch = ChildChannel()
        ids = json.loads(Path(args.ids_file).read_text())
        body = engine_child if args.child == "engine" else streaming_child
        try:
            asyncio.run(body(ids, args.duration, ch))
        except KeyboardInterrupt:
            return 130
        return 0

    handle_termination()
    try:
        result = run_benchmark(args)
    except KeyboardInterrupt:
        progress("interrupted; containers removed")
        return 130
    emit_result(result)
    return 0


if __name__ == "__main__":
    with contextlib.suppress(BrokenPipeError):
        sys.exit(main())
