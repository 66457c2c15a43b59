"""Benchmark: one engine batch of N memory-limit changes vs N sequential Docker updates.

    PYTHONPATH=. .venv/bin/python benchmarks/memory.py [--quick] [--containers N] [--rounds R]

Starts N (10) busybox containers labelled `clawtui.bench=memory` and `clawtui.role=devbox`
(256 MiB, no swap) and an Engine on the local host. Each round runs three phases, each of which
really changes every limit (the value flips between 256 MiB and 320 MiB at every phase, so the
direction of each phase rotates from round to round):

  batch       `engine.memory.apply` of N changes: resolve, fresh inspect + cgroup reads,
              validation, the flock, N concurrent updates over the host's thread pool, the
              history write, the bus event and the (log-only) notification;
  sequential  the baseline: N `update_container` calls one after the other on a plain
              docker-py client (Memory and MemorySwap, like the engine sends); the slowest of
              those N single calls is the second baseline ("slowest single update");
  parallel    for diagnosis only: the same N SDK calls from a thread pool, without the engine
              (what the concurrency itself buys, before any validation cost).

It also times `engine.memory.plan` (validation only) per round, reports how often a batch read
its containers' limits from cgroup files (the fast path) rather than `inspect`, and measures CPU
over every phase: the whole machine (/proc/stat: how many cores were busy) and per process
(dockerd, containerd, the benchmark containers' shims including their `runc update` children,
and this process with its engine), per update. That tells whether a batch is limited by the
cores (each update makes dockerd -> containerd -> shim exec `runc update`) or by something
serialising updates.

Medians over the rounds (after warm-up rounds) give:
  batch_vs_sequential      = batch / sequential                          target <= 0.6
  batch_vs_parallel_sdk    = batch / the same N updates, concurrent SDK  target <= 1.1
  batch_vs_cpu_floor       = batch / (N x machine CPU per update / cores) target <= 1.25
  batch_vs_slowest_single  = batch / slowest single                      no target
The CPU floor is what the machine needs to do N updates at all: each `docker update` costs
CPU in dockerd, containerd, the shim and `runc update`, plus the client's share (measured per
process in the sequential phase, where one update runs at a time, so load from elsewhere on the
machine does not count), and N of them cannot finish faster than that work spread over every
core. The slowest single update is kept for diagnosis only: a batch reaches it only with about N
free cores, so it judges the machine rather than the engine.

With `--hosts 2` the benchmark also starts one extra dockerd on this machine (its own data root,
exec root, socket and bridge: tests/integration/engines.py, the harness the multi-host tests
use), puts N more containers on it, and adds two phases per round over both hosts (2N changes):

  batch_2h     one `engine.memory.apply` of the 2N changes: split into one batch per host,
               the two run at once (each under its host's lock, validated against that host's
               budget, its updates concurrent, all or nothing on that host);
  parallel_2h  the baseline: the same 2N SDK updates at once from a thread pool, N per engine.

  two_hosts.batch_vs_parallel_sdk = batch_2h / parallel_2h               target <= 1.1
Both engines share this machine's cores, so two hosts do not halve the wall time here.
The last line of output is one JSON object. Containers are removed at the end, even on error.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, ClassVar

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(1, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from _common import (
    BENCH_LABEL,
    BUSYBOX_IMAGE,
    CLK_TCK,
    BenchContainers,
    api_client,
    emit_result,
    find_daemon_pids,
    handle_termination,
    progress,
    require_image,
    rnd,
)

LABEL = "memory"
MIB = 1024 * 1024
LOW, HIGH = 256 * MIB, 320 * MIB
TARGET_BATCH_VS_SEQUENTIAL = 0.6
TARGET_BATCH_VS_PARALLEL_SDK = 1.1
TARGET_BATCH_VS_CPU_FLOOR = 1.25


class DevboxBenchContainers(BenchContainers):
    """BenchContainers that are also adjustable devboxes with a 256 MiB limit and no swap."""

    def _one(self, index: int) -> str:
        client = self.client
        host_config = client.create_host_config(
            network_mode=self.network_mode, mem_limit=LOW, memswap_limit=LOW
        )
        created = client.create_container(
            self.image,
            command=self.command,
            name=f"clawtui-bench-{self.label_value}-{index:03d}",
            labels={BENCH_LABEL: self.label_value, "clawtui.role": "devbox"},
            host_config=host_config,
        )
        cid: str = created["Id"]
        with self._lock:
            self.ids.append(cid)
        client.start(cid)
        return cid


def cpu_busy_seconds() -> tuple[float, int]:
    """(busy CPU seconds of the whole machine, number of CPUs) from /proc/stat."""
    with open("/proc/stat") as f:
        lines = f.read().splitlines()
    fields = [int(v) for v in lines[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    ncpu = sum(1 for line in lines if line.startswith("cpu") and line[3:4].isdigit())
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK"), ncpu


def process_cpu(pid: int) -> float:
    """utime + stime + cutime + cstime of a process, in seconds (0 when it is gone).

    The children's part matters: every update makes a containerd-shim run `runc update`, a
    short-lived child whose CPU lands in the shim's cutime/cstime once reaped.
    """
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            raw = f.read()
    except OSError:
        return 0.0
    fields = raw[raw.rfind(b")") + 2 :].split()
    return sum(int(v) for v in fields[11:15]) / CLK_TCK


class Phase:
    """Wall time, machine CPU and CPU per process group of one timed phase."""

    groups: ClassVar[dict[str, list[int]]] = {}

    def __init__(self) -> None:
        self.wall = 0.0
        self.cpu = 0.0
        self.by_group: dict[str, float] = {}

    def _groups(self) -> dict[str, float]:
        return {name: sum(process_cpu(p) for p in pids) for name, pids in self.groups.items()}

    def __enter__(self) -> Phase:
        self._g0 = self._groups()
        self._cpu0, _ = cpu_busy_seconds()
        self._t0 = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self._t0
        self.cpu = cpu_busy_seconds()[0] - self._cpu0
        self.by_group = {k: v - self._g0[k] for k, v in self._groups().items()}


def sequential(client: Any, ids: list[str], value: int) -> list[float]:
    singles = []
    for cid in ids:
        t = time.perf_counter()
        client.update_container(cid, mem_limit=value, memswap_limit=value)
        singles.append(time.perf_counter() - t)
    return singles


def parallel(client: Any, pool: ThreadPoolExecutor, ids: list[str], value: int) -> None:
    futures = [
        pool.submit(client.update_container, cid, mem_limit=value, memswap_limit=value)
        for cid in ids
    ]
    for fut in futures:
        fut.result()


async def run(args: argparse.Namespace) -> dict[str, Any]:
    from clawtui.config import EngineConfig, HostConfig, Settings
    from clawtui.engine.core import Engine

    client = api_client(pool=max(32, args.containers))
    require_image(client)
    results: dict[str, list[float]] = {
        "batch": [], "sequential": [], "slowest_single": [], "single": [], "parallel": [],
        "plan": [],
    }  # fmt: skip
    cpu: dict[str, list[float]] = {"batch": [], "sequential": [], "parallel": []}
    group_cpu: dict[str, dict[str, list[float]]] = {k: {} for k in cpu}
    fast_path: list[float] = []
    two: dict[str, list[float]] = {"batch_2h": [], "parallel_2h": []}
    with contextlib.ExitStack() as stack:
        second: Any = None
        ids_b: list[str] = []
        client_b: Any = None
        if args.hosts == 2:
            from tests.integration.engines import ExtraEngine

            second = ExtraEngine("bench")
            stack.callback(second.close)
            progress("starting a second dockerd (its own data root, socket and bridge)")
            second.start()
            second.load_image(BUSYBOX_IMAGE)
            client_b = second.api()
            bench_b = stack.enter_context(DevboxBenchContainers(client_b, LABEL, args.containers))
            ids_b = list(bench_b.ids)
        bench = stack.enter_context(DevboxBenchContainers(client, LABEL, args.containers))
        state = stack.enter_context(tempfile.TemporaryDirectory(prefix="clawtui-bench-memory-"))
        pool = stack.enter_context(ThreadPoolExecutor(max_workers=2 * args.containers))
        ids = list(bench.ids)
        daemons = find_daemon_pids(ids)
        Phase.groups = {
            "dockerd": daemons.dockerd,
            "containerd": daemons.containerd,
            "shims_and_runc": daemons.shims,
            "benchmark_process": [os.getpid()],
        }
        hosts = [HostConfig(name="local")]
        if second is not None:
            hosts.append(HostConfig(name="b", url=second.url, cgroup_root="/sys/fs/cgroup"))
        settings = Settings(engine=EngineConfig(state_dir=Path(state)), hosts=hosts)
        engine = Engine(settings)
        await engine.start()
        try:
            if not await engine.wait_online(15):
                raise SystemExit("the engine could not reach the local Docker engine")
            deadline = time.monotonic() + 15
            while not all(engine.container(f"local/{cid}") for cid in ids) or not all(
                engine.container(f"b/{cid}") for cid in ids_b
            ):
                if time.monotonic() > deadline:
                    raise SystemExit("the engine did not list the benchmark containers")
                await asyncio.sleep(0.05)
            value = value_b = LOW
            total = args.rounds + args.warmup
            for round_no in range(total):
                measured = round_no >= args.warmup
                for phase in ("batch", "sequential", "parallel"):
                    value = HIGH if value == LOW else LOW
                    if phase == "batch":
                        changes = {f"local/{cid}": value for cid in ids}
                        with Phase() as p:
                            result = await engine.memory.apply(changes, who="bench")
                        if not result.ok:
                            raise RuntimeError(f"batch not applied: {result.summary()}")
                        if measured:
                            checks = result.plan.checks
                            fast_path.append(
                                sum(c.limits_source == "cgroup" for c in checks) / len(checks)
                            )
                    elif phase == "sequential":
                        with Phase() as p:
                            singles = await asyncio.to_thread(sequential, client, ids, value)
                        if measured:
                            results["slowest_single"].append(max(singles))
                            results["single"].extend(singles)
                    else:
                        with Phase() as p:
                            await asyncio.to_thread(parallel, client, pool, ids, value)
                    if measured:
                        results[phase].append(p.wall)
                        cpu[phase].append(p.cpu)
                        for group, seconds in p.by_group.items():
                            group_cpu[phase].setdefault(group, []).append(seconds)
                if second is not None:
                    # Every limit changes in each phase: the two engines' containers flip
                    # each on their own (value for local, value_b for b).
                    value = HIGH if value == LOW else LOW
                    value_b = HIGH if value_b == LOW else LOW
                    changes = {f"local/{cid}": value for cid in ids}
                    changes.update({f"b/{cid}": value_b for cid in ids_b})
                    t = time.perf_counter()
                    result = await engine.memory.apply(changes, who="bench")
                    wall = time.perf_counter() - t
                    if not result.ok:
                        raise RuntimeError(f"two-host batch not applied: {result.summary()}")
                    value = HIGH if value == LOW else LOW
                    value_b = HIGH if value_b == LOW else LOW
                    t = time.perf_counter()
                    await asyncio.gather(
                        asyncio.to_thread(parallel, client, pool, ids, value),
                        asyncio.to_thread(parallel, client_b, pool, ids_b, value_b),
                    )
                    if measured:
                        two["batch_2h"].append(wall)
                        two["parallel_2h"].append(time.perf_counter() - t)
                t = time.perf_counter()
                plan = await engine.memory.plan({f"local/{cid}": LOW for cid in ids}, who="bench")
                if measured:
                    results["plan"].append(time.perf_counter() - t)
                if not plan.ok:
                    raise RuntimeError(f"plan not ok: {plan.summary()}")
                if measured and (round_no - args.warmup + 1) % 5 == 0:
                    progress(
                        f"round {round_no - args.warmup + 1}/{args.rounds}: batch "
                        f"{results['batch'][-1] * 1000:.0f} ms, sequential "
                        f"{results['sequential'][-1] * 1000:.0f} ms"
                    )
            history = await engine.memory.history(10_000)
        finally:
            await engine.stop()
        expected = total * args.containers * (3 if second is not None else 1)
        if len(history) != expected:
            raise RuntimeError(f"history has {len(history)} rows, expected {expected}")

    _, ncpu = cpu_busy_seconds()
    med = {k: statistics.median(v) for k, v in results.items()}
    batch_vs_seq = med["batch"] / med["sequential"]
    batch_vs_slowest = med["batch"] / med["slowest_single"]
    batch_vs_parallel = med["batch"] / med["parallel"]
    # N updates cannot take less wall time than the CPU Docker spends on them (dockerd,
    # containerd, the shims and their `runc update` children, counted per process so that other
    # load on the machine does not inflate it) plus the client's own share, spread over every core.
    floor_groups = ("dockerd", "containerd", "shims_and_runc", "benchmark_process")
    cpu_floor = sum(statistics.median(group_cpu["sequential"][g]) for g in floor_groups) / ncpu
    batch_vs_floor = med["batch"] / cpu_floor
    cores_busy = {
        k: rnd(statistics.median(c / w for c, w in zip(cpu[k], results[k], strict=True)), 2)
        for k in cpu
    }
    cpu_per_update_ms = {k: rnd(statistics.median(cpu[k]) / args.containers * 1000, 1) for k in cpu}
    per_update_by_group = {
        phase: {
            group: rnd(statistics.median(values) / args.containers * 1000, 2)
            for group, values in groups.items()
        }
        for phase, groups in group_cpu.items()
    }
    out: dict[str, Any] = {
        "benchmark": "memory",
        "containers": args.containers,
        "rounds": args.rounds,
        "cpus": ncpu,
        "batch_ms_p50": rnd(med["batch"] * 1000),
        "sequential_ms_p50": rnd(med["sequential"] * 1000),
        "slowest_single_ms_p50": rnd(med["slowest_single"] * 1000),
        "single_ms_p50": rnd(med["single"] * 1000),
        "parallel_sdk_ms_p50": rnd(med["parallel"] * 1000),
        "plan_ms_p50": rnd(med["plan"] * 1000),
        "batch_limits_read_from_cgroup": rnd(statistics.mean(fast_path), 3),
        "batch_vs_sequential": rnd(batch_vs_seq, 3),
        "batch_vs_slowest_single": rnd(batch_vs_slowest, 3),
        "batch_vs_parallel_sdk": rnd(batch_vs_parallel, 3),
        "cpu_floor_ms": rnd(cpu_floor * 1000),
        "batch_vs_cpu_floor": rnd(batch_vs_floor, 3),
        "parallel_sdk_vs_sequential": rnd(med["parallel"] / med["sequential"], 3),
        "parallel_sdk_vs_slowest_single": rnd(med["parallel"] / med["slowest_single"], 3),
        "machine_cores_busy_p50": cores_busy,
        "machine_cpu_ms_per_update_p50": cpu_per_update_ms,
        "cpu_ms_per_update_by_process_p50": per_update_by_group,
        "targets": {
            "batch_vs_sequential": TARGET_BATCH_VS_SEQUENTIAL,
            "batch_vs_parallel_sdk": TARGET_BATCH_VS_PARALLEL_SDK,
            "batch_vs_cpu_floor": TARGET_BATCH_VS_CPU_FLOOR,
        },
        "meets_targets": {
            "batch_vs_sequential": batch_vs_seq <= TARGET_BATCH_VS_SEQUENTIAL,
            "batch_vs_parallel_sdk": batch_vs_parallel <= TARGET_BATCH_VS_PARALLEL_SDK,
            "batch_vs_cpu_floor": batch_vs_floor <= TARGET_BATCH_VS_CPU_FLOOR,
        },
    }
    if two["batch_2h"]:
        b2, p2 = statistics.median(two["batch_2h"]), statistics.median(two["parallel_2h"])
        out["two_hosts"] = {
            "containers": 2 * args.containers,
            "batch_ms_p50": rnd(b2 * 1000),
            "parallel_sdk_ms_p50": rnd(p2 * 1000),
            "batch_vs_parallel_sdk": rnd(b2 / p2, 3),
            "target": TARGET_BATCH_VS_PARALLEL_SDK,
            "meets_target": b2 / p2 <= TARGET_BATCH_VS_PARALLEL_SDK,
        }
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds (well under 90 s)")
    parser.add_argument("--containers", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument(
        "--hosts",
        type=int,
        choices=(1, 2),
        default=1,
        help="2: also time a batch over two hosts (starts one extra dockerd; needs root)",
    )
    args = parser.parse_args()
    if args.rounds is None:
        args.rounds = 15 if args.quick else 40
    if not 1 <= args.containers <= 200 or args.rounds < 1:
        parser.error("--containers must be 1-200 and --rounds at least 1")
    handle_termination()
    started = time.monotonic()
    result = asyncio.run(run(args))
    result["seconds"] = rnd(time.monotonic() - started, 1)
    emit_result(result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
