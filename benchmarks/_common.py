"""Shared helpers of the benchmarks in this directory (not part of the clawtui package).

Run benchmarks from the repo root: `PYTHONPATH=. .venv/bin/python benchmarks/NAME.py --quick`.
Every benchmark prints progress lines while it works and, as its very last line, one JSON object
with its figures (`emit_result`).

What is here:
  * `percentile`, `summarize_ms`: latency figures;
  * `cpu_seconds`, `find_daemon_pids`, `CpuMeter`: CPU use of processes from /proc/PID/stat
    (utime + stime), for the client under test and for dockerd / containerd / containerd-shims;
  * `BenchContainers`: N labelled busybox containers created (and removed) concurrently over the
    low-level `docker.APIClient`, with leftovers of an earlier run removed first;
  * `run_phase`: one measured phase run in its own child process, so the client CPU figure only
    counts the client (READY / GO / RESULT handshake over the child's stdin/stdout);
  * `ChildChannel`: the child's side of that handshake;
  * `handle_termination`: SIGTERM behaves like Ctrl-C, so `finally:` clean-ups run.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import math
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import Any

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCKER_URL = os.environ.get("CLAWTUI_BENCH_DOCKER_URL", "unix:///var/run/docker.sock")
BUSYBOX_IMAGE = "clawtui-test/busybox:1"
BENCH_LABEL = "clawtui.bench"
CLK_TCK = os.sysconf("SC_CLK_TCK")

_T0 = time.monotonic()


# -- output ----------------------------------------------------------------------------------
def progress(message: str) -> None:
    """One progress line on stdout (the result JSON is always printed last, after these)."""
    print(f"[{time.monotonic() - _T0:6.1f}s] {message}", flush=True)


def emit_result(result: dict[str, Any]) -> None:
    """Print the benchmark's result as the last line of output: one JSON object."""
    sys.stdout.flush()
    sys.stderr.flush()
    print(json.dumps(result, separators=(", ", ": ")), flush=True)


# -- statistics ------------------------------------------------------------------------------
def percentile(values: Iterable[float], pct: float) -> float | None:
    """The pct-th percentile (0..100) with linear interpolation between closest ranks, as numpy's
    default; None for no values."""
    data = sorted(values)
    if not data:
        return None
    if len(data) == 1:
        return float(data[0])
    rank = (len(data) - 1) * min(max(pct, 0.0), 100.0) / 100.0
    lo = math.floor(rank)
    hi = math.ceil(rank)
    return float(data[lo] + (data[hi] - data[lo]) * (rank - lo))


def rnd(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(value, digits)


def summarize_ms(seconds: Sequence[float]) -> dict[str, Any]:
    """p50 / p99 / max / n of latencies given in seconds, as milliseconds."""
    return {
        "p50_ms": rnd(None if not seconds else percentile(seconds, 50) * 1000),  # type: ignore[operator]
        "p99_ms": rnd(None if not seconds else percentile(seconds, 99) * 1000),  # type: ignore[operator]
        "max_ms": rnd(max(seconds) * 1000 if seconds else None),
        "n": len(seconds),
    }


# -- process CPU -----------------------------------------------------------------------------
def cpu_seconds(pid: int) -> float | None:
    """utime + stime of a process (all its threads) in seconds; None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            raw = f.read()
    except OSError:
        return None
    # comm (field 2) may hold spaces and parentheses: fields are counted after the last ')'.
    fields = raw[raw.rfind(b")") + 2 :].split()
    # fields[0] is field 3 (state); utime and stime are fields 14 and 15.
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def system_busy_seconds() -> float:
    """CPU seconds all cores spent busy since boot (the `cpu` line of /proc/stat, minus idle and
    iowait): with the processes measured, tells how much else ran on the machine meanwhile."""
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:9]]
    return (sum(values) - values[3] - values[4]) / CLK_TCK


def _comm(pid: str) -> str | None:
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return None


def _cmdline(pid: str) -> list[str]:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return [a.decode(errors="replace") for a in f.read().split(b"\0") if a]
    except OSError:
        return []


@dataclass
class DaemonPids:
    dockerd: list[int] = field(default_factory=list)
    containerd: list[int] = field(default_factory=list)
    shims: list[int] = field(default_factory=list)
    """containerd-shim processes (of `container_ids` only when those were given)."""

    def all(self) -> list[int]:
        return [*self.dockerd, *self.containerd, *self.shims]


def find_daemon_pids(container_ids: Iterable[str] | None = None) -> DaemonPids:
    """PIDs of dockerd, containerd and the containerd-shims. With `container_ids`, only the shims
    serving those containers (matched on the shim's `-id` argument, so other containers' shims on
    a shared machine do not count)."""
    wanted = set(container_ids) if container_ids is not None else None
    out = DaemonPids()
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        comm = _comm(pid)
        if comm is None:
            continue
        if comm == "dockerd":
            out.dockerd.append(int(pid))
        elif comm == "containerd":
            out.containerd.append(int(pid))
        elif comm.startswith("containerd-shim"):  # comm is cut at 15 characters
            if wanted is None:
                out.shims.append(int(pid))
                continue
            args = _cmdline(pid)
            shim_id = args[args.index("-id") + 1] if "-id" in args[:-1] else None
            if shim_id in wanted:
                out.shims.append(int(pid))
    return out


class CpuMeter:
    """CPU seconds used by named groups of processes between `start()` and `stop()`.

    A process that exits in between counts what it used until its last reading (call `sample()`
    to take intermediate readings for short-lived processes)."""

    def __init__(self, groups: dict[str, Sequence[int]]) -> None:
        self.groups = {name: list(pids) for name, pids in groups.items()}
        self._first: dict[int, float] = {}
        self._last: dict[int, float] = {}
        self.t_start = self.t_stop = 0.0
        self._busy_start = self._busy_stop = 0.0
        self._series: list[tuple[float, dict[int, float]]] = []

    def _read_all(self) -> dict[int, float]:
        out: dict[int, float] = {}
        for pids in self.groups.values():
            for pid in pids:
                value = cpu_seconds(pid)
                if value is not None:
                    out[pid] = value
        return out

    def start(self) -> None:
        self._busy_start = system_busy_seconds()
        self._first = self._read_all()
        self._last = dict(self._first)
        self.t_start = time.monotonic()
        self._series = [(self.t_start, dict(self._first))]

    def sample(self) -> None:
        """An intermediate reading (kept for `slice_percents`)."""
        now = self._read_all()
        self._last.update(now)
        self._series.append((time.monotonic(), dict(self._last)))

    def slice_percents(self, groups: Sequence[str]) -> list[float]:
        """CPU of `groups` together in each interval between readings, % of one core. The
        median of these resists bursts of other users' work better than the window total."""
        pids = [pid for g in groups for pid in self.groups[g] if pid in self._first]
        out: list[float] = []
        for (t0, v0), (t1, v1) in itertools.pairwise(self._series):
            if t1 - t0 >= 0.2:
                used = sum(v1.get(pid, 0.0) - v0.get(pid, 0.0) for pid in pids)
                out.append(100.0 * used / (t1 - t0))
        return out

    def stop(self) -> None:
        self.sample()
        self.t_stop = time.monotonic()
        self._busy_stop = system_busy_seconds()

    def system_percent(self) -> float:
        """Busy CPU of the whole machine over the window, % of one core."""
        busy = self._busy_stop - self._busy_start
        return 100.0 * busy / self.wall if self.wall > 0 else 0.0

    def others_percent(self) -> float:
        """Busy CPU of everything not measured here (other users of the machine), % of a core."""
        mine = sum(self.percent(group) for group in self.groups)
        return max(0.0, self.system_percent() - mine)

    @property
    def wall(self) -> float:
        return self.t_stop - self.t_start

    def vanished(self) -> list[int]:
        """Processes that were measured at start but are gone now (a daemon restarted?)."""
        return [pid for pid in self._first if cpu_seconds(pid) is None]

    def seconds(self, group: str) -> float:
        return sum(
            self._last.get(pid, 0.0) - self._first[pid]
            for pid in self.groups[group]
            if pid in self._first
        )

    def percent(self, group: str) -> float:
        """CPU of a group as % of one core over the measured wall time."""
        return 100.0 * self.seconds(group) / self.wall if self.wall > 0 else 0.0


# -- containers ------------------------------------------------------------------------------
def api_client(pool: int = 32, timeout: int = 120) -> Any:
    import docker

    return docker.APIClient(  # type: ignore[attr-defined]
        base_url=DOCKER_URL, version="auto", timeout=timeout, max_pool_size=pool
    )


def require_image(client: Any, image: str = BUSYBOX_IMAGE, wait: float = 0.0) -> None:
    """Fail with the fix when the test image is missing (never pulls); optionally wait for a
    build in progress."""
    import docker.errors

    deadline = time.monotonic() + wait
    while True:
        try:
            client.inspect_image(image)
            return
        except docker.errors.ImageNotFound:
            if time.monotonic() >= deadline:
                raise SystemExit(
                    f"the test image {image} is missing: build it with scripts/build-test-images"
                ) from None
            time.sleep(2)


def remove_labelled(client: Any, label_value: str, *, workers: int = 16) -> int:
    """Force-remove every container labelled `clawtui.bench=<label_value>`; returns how many."""
    import docker.errors

    listed = client.containers(all=True, filters={"label": f"{BENCH_LABEL}={label_value}"})
    ids = [c["Id"] for c in listed]
    if not ids:
        return 0

    def rm(cid: str) -> None:
        with contextlib.suppress(docker.errors.NotFound):
            client.remove_container(cid, force=True, v=True)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        for fut in as_completed([pool.submit(rm, cid) for cid in ids]):
            with contextlib.suppress(docker.errors.APIError):  # e.g. removal already under way
                fut.result()
    return len(ids)


def remove_labelled_retrying(
    client: Any,
    label_value: str,
    *,
    workers: int = 16,
    wait: float = 90.0,
    report: Callable[[str], None] | None = None,
) -> int:
    """`remove_labelled` until nothing with the label is left, riding out a Docker engine that is
    briefly unreachable (restarted by someone else) for up to `wait` seconds. Raises with the
    manual clean-up command when that does not work."""
    deadline = time.monotonic() + wait
    removed = 0
    last: BaseException | None = None
    while True:
        try:
            removed += remove_labelled(client, label_value, workers=workers)
            left = client.containers(all=True, filters={"label": f"{BENCH_LABEL}={label_value}"})
            if not left:
                return removed
            last = RuntimeError(f"{len(left)} containers still there")
        except Exception as exc:  # connection refused / socket missing / API errors
            last = exc
        if time.monotonic() >= deadline:
            raise RuntimeError(
                f"could not remove the containers labelled {BENCH_LABEL}={label_value} ({last}); "
                f"remove them with: docker rm -f $(docker ps -aq --filter "
                f"label={BENCH_LABEL}={label_value})"
            ) from last
        if report is not None:
            report(f"clean-up failed ({str(last)[:120]}); retrying")
        time.sleep(2.0)


class BenchContainers:
    """N running busybox containers labelled `clawtui.bench=<label_value>`.

        with BenchContainers(client, "stats", 100) as bench:
            ...bench.ids...

    On enter: removes leftovers with the same label, then creates and starts the containers
    concurrently (a thread pool over the low-level API), printing `creating containers: n/N`.
    On exit (normal, error or Ctrl-C): removes them all, ignoring a second Ctrl-C meanwhile.
    """

    def __init__(
        self,
        client: Any,
        label_value: str,
        count: int,
        *,
        image: str = BUSYBOX_IMAGE,
        command: Sequence[str] = ("sleep", "3600"),
        workers: int = 16,
        network_mode: str | None = None,
        report: Callable[[str], None] = progress,
    ) -> None:
        self.client = client
        self.label_value = label_value
        self.count = count
        self.image = image
        self.command = list(command)
        self.workers = workers
        self.network_mode = network_mode
        self.report = report
        self.ids: list[str] = []
        self.create_seconds = 0.0
        self.remove_seconds = 0.0
        self._lock = threading.Lock()

    def _one(self, index: int) -> str:
        client = self.client
        host_config = client.create_host_config(
            network_mode=self.network_mode, auto_remove=False, init=False
        )
        created = client.create_container(
            self.image,
            command=self.command,
            name=f"clawtui-bench-{self.label_value}-{index:03d}",
            labels={BENCH_LABEL: self.label_value},
            host_config=host_config,
        )
        cid: str = created["Id"]
        with self._lock:
            self.ids.append(cid)  # recorded before start: removed even if start fails
        client.start(cid)
        return cid

    def create(self) -> list[str]:
        leftovers = remove_labelled(self.client, self.label_value, workers=self.workers)
        if leftovers:
            self.report(
                f"removed {leftovers} leftover containers labelled {BENCH_LABEL}={self.label_value}"
            )
        started = time.monotonic()
        done = 0
        step = max(1, self.count // 10)
        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            futures = [pool.submit(self._one, i) for i in range(self.count)]
            try:
                for fut in as_completed(futures):
                    fut.result()
                    done += 1
                    if done % step == 0 or done == self.count:
                        self.report(f"creating containers: {done}/{self.count}")
            except BaseException:
                for f in futures:
                    f.cancel()
                raise
        self.create_seconds = time.monotonic() - started
        return list(self.ids)

    def remove(self) -> None:
        previous = None
        with contextlib.suppress(ValueError):  # not the main thread
            previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            started = time.monotonic()
            self.report(f"removing {self.label_value} containers")
            n = remove_labelled_retrying(
                self.client, self.label_value, workers=self.workers, report=self.report
            )
            self.remove_seconds = time.monotonic() - started
            self.report(f"removed {n} containers in {self.remove_seconds:.1f}s")
        finally:
            if previous is not None:
                signal.signal(signal.SIGINT, previous)

    def __enter__(self) -> BenchContainers:
        try:
            self.create()
        except BaseException:
            self.remove()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()


def handle_termination() -> None:
    """Make SIGTERM raise KeyboardInterrupt, so `finally:` clean-ups run as on Ctrl-C."""

    def raise_interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, raise_interrupt)


# -- child-process phases --------------------------------------------------------------------
class ChildChannel:
    """The child's side of `run_phase`: `ready()` after warming up, `wait_go()` to block until the
    measured window opens, `result(obj)` to close it. Logs go to stderr (passed through)."""

    def __init__(self) -> None:
        self._out = sys.stdout
        sys.stdout = sys.stderr  # stray prints must not break the protocol

    def log(self, message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    def ready(self, info: dict[str, Any] | None = None) -> None:
        self._out.write("READY " + json.dumps(info or {}) + "\n")
        self._out.flush()

    def wait_go(self) -> None:
        line = sys.stdin.readline()
        if line.strip() != "GO":
            raise SystemExit(f"expected GO from the parent, got {line!r}")

    def result(self, obj: dict[str, Any]) -> None:
        self._out.write("RESULT " + json.dumps(obj) + "\n")
        self._out.flush()


def measure_idle(daemons: DaemonPids, seconds: float) -> CpuMeter:
    """CPU of the daemons over `seconds` with no benchmark client running (their background:
    Go runtimes of dockerd, containerd and every shim, plus anything other users do)."""
    meter = CpuMeter(
        {"dockerd": daemons.dockerd, "containerd": daemons.containerd, "shims": daemons.shims}
    )
    meter.start()
    time.sleep(seconds)
    meter.stop()
    return meter


def check_daemons_alive(daemons: DaemonPids) -> None:
    """Raise when dockerd or containerd is not the process it was when the benchmark began."""
    gone = [pid for pid in [*daemons.dockerd, *daemons.containerd] if cpu_seconds(pid) is None]
    if gone:
        raise RuntimeError(
            f"dockerd/containerd process(es) {gone} went away during the run (restarted by "
            "someone else?): the CPU figures are not valid; run the benchmark again"
        )


@dataclass
class PhaseRun:
    result: dict[str, Any]
    ready_info: dict[str, Any]
    meter: CpuMeter
    child_pid: int


def run_phase(
    argv: Sequence[str],
    daemons: DaemonPids,
    *,
    ready_timeout: float = 60.0,
    run_timeout: float = 120.0,
    env: dict[str, str] | None = None,
    sample_every: float = 1.0,
) -> PhaseRun:
    """Run a child (`argv`) that speaks the ChildChannel protocol and measure CPU over its
    measured window: from just before GO is sent to the moment its RESULT line arrives.
    CPU groups: client (the child), dockerd, containerd, shims. The child is killed if it
    misbehaves or on Ctrl-C."""
    child_env = dict(os.environ if env is None else env)
    child_env.setdefault("PYTHONPATH", REPO)
    proc = subprocess.Popen(
        list(argv), stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=child_env,
        cwd=REPO,
    )  # fmt: skip
    assert proc.stdin is not None and proc.stdout is not None
    try:
        line = _readline_timeout(proc, ready_timeout)
        if not line.startswith("READY"):
            raise RuntimeError(f"phase child did not get ready: {line!r}")
        ready_info = json.loads(line[len("READY") :].strip() or "{}")
        meter = CpuMeter(
            {
                "client": [proc.pid],
                "dockerd": daemons.dockerd,
                "containerd": daemons.containerd,
                "shims": daemons.shims,
            }
        )
        meter.start()
        proc.stdin.write("GO\n")
        proc.stdin.flush()
        line = _readline_timeout(proc, run_timeout, every=sample_every, tick=meter.sample)
        meter.stop()
        if not line.startswith("RESULT"):
            raise RuntimeError(f"phase child failed: {line!r}")
        result = json.loads(line[len("RESULT") :])
        proc.stdin.close()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        return PhaseRun(result, ready_info, meter, proc.pid)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _readline_timeout(
    proc: subprocess.Popen[str],
    timeout: float,
    *,
    every: float | None = None,
    tick: Callable[[], None] | None = None,
) -> str:
    """The child's next stdout line, or a RuntimeError after `timeout` / when it exits; calls
    `tick` every `every` seconds meanwhile."""
    assert proc.stdout is not None
    box: list[str] = []
    reader = threading.Thread(target=lambda: box.append(proc.stdout.readline()), daemon=True)  # type: ignore[union-attr]
    reader.start()
    deadline = time.monotonic() + timeout
    while reader.is_alive() and time.monotonic() < deadline:
        reader.join(min(every or timeout, max(0.0, deadline - time.monotonic())))
        if reader.is_alive() and tick is not None:
            tick()
    if reader.is_alive():
        proc.kill()
        raise RuntimeError(f"phase child sent nothing for {timeout:.0f}s; killed it")
    if not box or not box[0]:
        code = proc.wait()
        raise RuntimeError(f"phase child exited (code {code}) before finishing")
    return box[0].rstrip("\n")


@contextlib.contextmanager
def timed(label: str) -> Iterator[None]:
    started = time.monotonic()
    yield
    progress(f"{label}: {time.monotonic() - started:.1f}s")


def start_serve(state: str, token: str) -> subprocess.Popen[str]:
    """`clawtui serve --config <state>/config.toml` (written by the caller) as a subprocess,
    returned once it says it listens; its state under `state`."""
    env = {
        **os.environ,
        "CLAWTUI_API_TOKEN": token,
        "XDG_STATE_HOME": os.path.join(state, "xdg"),
        "CLAWTUI_LOG": "WARNING",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "clawtui", "serve", "--config", os.path.join(state, "config.toml")],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if "listening" not in line:
        proc.kill()
        raise RuntimeError(f"clawtui serve did not start: {line}")
    return proc
