"""Benchmark: `clawtui serve` over three Docker hosts: the container list under load, SSE fan-out.

    PYTHONPATH=. .venv/bin/python benchmarks/api.py [--quick] [--per-host N] [--clients C]

Starts two extra dockerd on this machine (tests/integration/engines.py: their own data root,
socket and bridge; needs root), N (100) busybox containers on each of the three engines (the
system one and the two extra), and `clawtui serve` as a subprocess with the three hosts.

  list      `GET /api/v1/containers` (every container of the three hosts, 3N+) at a fixed rate
            (200 requests/s for 10 s, open loop: each request is sent at its scheduled time from
            a pool of keep-alive connections), latency from send to the last body byte;
            target p99 <= 10 ms. Baseline, same run, same rate and client: `GET /api/v1/hosts`
            (a small body: what the HTTP path and the client cost alone).
  fan-out   C (20) SSE clients on `/api/v1/events?kinds=container`; the benchmark pauses and
            unpauses E containers of one extra engine (real Docker events); every client must
            see every event (the same event ids, in the same order). Service CPU per client
            per event (service CPU over the phase / (C x events)), against the same events
            with one client in the same run (`fanout_vs_one_client`: that figure with C
            clients over the one with one client). The service's CPU per event includes the
            engine's own work for it (the Docker event, an inspect), which does not grow with
            clients: `service_cpu_us_per_extra_client_per_event` is the difference per event
            between the two phases over the C - 1 extra clients (what one more client costs).
  Both list phases also report the service's CPU per request and the load generator's CPU
  (process CPU varies less than latency with other users of the machine; a generator near
  100 % of a core would be the bottleneck), and what every other process used meanwhile
  (`other_cpu_percent_of_core`). Each list phase starts once the CPUs were at most 25 % busy
  over 2 s (`--settle-cap`, 60 s, bounds the wait): creating the containers and the service's
  first look at them leave the machine loaded for a while after the list shows them all; each
  phase reports its wait, whether it settled, the busy cores and the load average at its start.
On this shared 2-core machine, creating the 300 containers dominates the run (over 90 s under
load); the measured phases take about 30 s. The last line of output is one JSON object.
Containers, engines and bridges are removed at the end, even on error.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(1, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from _common import (
    BUSYBOX_IMAGE,
    BenchContainers,
    api_client,
    cpu_seconds,
    emit_result,
    handle_termination,
    progress,
    require_image,
    rnd,
    start_serve,
    summarize_ms,
    system_busy_seconds,
)

LABEL = "api"
TOKEN = "bench-token-0123456789abcdef0123"
TARGET_LIST_P99_MS = 10.0
SETTLED_BUSY_FRACTION = 0.25
"""A list phase starts once the machine's CPUs were at most this busy (all users together) over
the last `SETTLE_WINDOW_S`: creating the containers (and the service's first listing and
inspect of all of them) leaves the machine loaded for a while, which is not what is measured."""
SETTLE_WINDOW_S = 2.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _start_serve(tmp: Path, port: int, hosts: list[tuple[str, str]]) -> subprocess.Popen[str]:
    config = f'[engine]\nstate_dir = "{tmp}/state"\n[service]\nlisten = "127.0.0.1:{port}"\n'
    for name, url in hosts:
        config += f'[[hosts]]\nname = "{name}"\nurl = "{url}"\n'
    (tmp / "config.toml").write_text(config)
    return start_serve(str(tmp), TOKEN)


def _get(conn: http.client.HTTPConnection, path: str) -> tuple[int, bytes]:
    conn.request("GET", path, headers={"Authorization": f"Bearer {TOKEN}"})
    response = conn.getresponse()
    return response.status, response.read()


def _count_bench(port: int) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        status, body = _get(conn, "/api/v1/containers")
    finally:
        conn.close()
    if status != 200:
        return -1
    data = json.loads(body)
    items = data["containers"] if isinstance(data, dict) else data
    return sum(1 for c in items if (c.get("labels") or {}).get("clawtui.bench") == LABEL)


def paced_load(port: int, path: str, rate: float, seconds: float, workers: int) -> dict[str, Any]:
    """`rate` requests/s of GET `path` for `seconds`, each sent at its scheduled time (open loop)
    from `workers` keep-alive connections; latencies from send to the last body byte."""
    total = int(rate * seconds)
    latencies: list[float] = []
    late: list[float] = []
    errors: list[str] = []
    sizes: list[int] = []
    lock = threading.Lock()
    counter = iter(range(total))
    start = time.perf_counter() + 0.2

    def worker() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            while True:
                with lock:
                    i = next(counter, None)
                if i is None:
                    return
                due = start + i / rate
                now = time.perf_counter()
                if due > now:
                    time.sleep(due - now)
                t0 = time.perf_counter()
                try:
                    status, body = _get(conn, path)
                except (OSError, http.client.HTTPException) as exc:
                    with lock:
                        errors.append(str(exc)[:100])
                    conn.close()
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                    continue
                t1 = time.perf_counter()
                with lock:
                    if status != 200:
                        errors.append(f"HTTP {status}")
                    latencies.append(t1 - t0)
                    late.append(max(0.0, t0 - due))
                    sizes.append(len(body))
        finally:
            conn.close()

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    return {
        **summarize_ms(latencies),
        "achieved_rps": rnd(len(latencies) / wall, 1),
        "send_late_p99_ms": summarize_ms(late)["p99_ms"],
        "errors": len(errors),
        "body_kb": rnd(sum(sizes) / max(1, len(sizes)) / 1024, 1),
    }


def wait_settled(cap: float) -> dict[str, Any]:
    """Wait (at most `cap` seconds) until the CPUs were at most SETTLED_BUSY_FRACTION busy over
    the last SETTLE_WINDOW_S (/proc/stat: every process on the machine); what it found."""
    cores = os.cpu_count() or 1
    started = time.monotonic()
    samples = [(started, system_busy_seconds())]
    busy = float("nan")
    while True:
        time.sleep(0.25)
        now = time.monotonic()
        samples.append((now, system_busy_seconds()))
        while len(samples) > 2 and now - samples[1][0] >= SETTLE_WINDOW_S:
            samples.pop(0)
        t_first, b_first = samples[0]
        if now - t_first >= SETTLE_WINDOW_S:
            busy = (samples[-1][1] - b_first) / (now - t_first)
            if busy <= SETTLED_BUSY_FRACTION * cores or now - started >= cap:
                break
    return {
        "settle_wait_s": rnd(time.monotonic() - started, 1),
        "settled": busy <= SETTLED_BUSY_FRACTION * cores,
        "busy_cores_at_start": rnd(busy, 2),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def measured_load(
    serve_pid: int, port: int, path: str, args: argparse.Namespace, settle_cap: float = 0.0
) -> dict[str, Any]:
    """`paced_load` plus the CPU the service and this load generator used meanwhile (process
    CPU is less sensitive than latency to other users of a shared machine): per request, and
    the generator's in % of one core (near 100 % would mean the generator is the bottleneck).
    With `settle_cap`, first waits (that long at most) for the machine to settle
    (`wait_settled`); `other_cpu_percent_of_core` is what every other process on the machine
    used during the phase (another user of a shared machine shows there)."""
    settle = wait_settled(settle_cap) if settle_cap > 0 else {}
    busy0 = system_busy_seconds()
    serve0, own0, t0 = cpu_seconds(serve_pid) or 0.0, time.process_time(), time.perf_counter()
    out = paced_load(port, path, args.rate, args.seconds, args.workers)
    wall = time.perf_counter() - t0
    busy = system_busy_seconds() - busy0
    served = max(1, out["n"])
    out["service_cpu_ms_per_request"] = rnd(
        ((cpu_seconds(serve_pid) or 0.0) - serve0) * 1000 / served, 3
    )
    out["service_cpu_percent_of_core"] = rnd(
        ((cpu_seconds(serve_pid) or 0.0) - serve0) * 100 / wall, 1
    )
    out["load_generator_cpu_percent_of_core"] = rnd((time.process_time() - own0) * 100 / wall, 1)
    served_cpu = (cpu_seconds(serve_pid) or 0.0) - serve0
    out["other_cpu_percent_of_core"] = rnd(
        max(0.0, busy - served_cpu - (time.process_time() - own0)) * 100 / wall, 1
    )
    out["load_average"] = [round(x, 2) for x in os.getloadavg()]
    out.update(settle)
    return out


class SseClient(threading.Thread):
    """One SSE connection; keeps the ids of the container events it reads."""

    def __init__(self, port: int) -> None:
        super().__init__(daemon=True)
        self.port = port
        self.ids: list[int] = []
        self.ready = threading.Event()
        self.conn: http.client.HTTPConnection | None = None

    def run(self) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        self.conn.request(
            "GET",
            "/api/v1/events?kinds=container",
            headers={"Authorization": f"Bearer {TOKEN}", "Accept": "text/event-stream"},
        )
        response = self.conn.getresponse()
        with contextlib.suppress(OSError, ValueError, AttributeError):
            while True:
                line = response.fp.readline()
                if not line:
                    return
                if line.startswith(b"retry:"):
                    self.ready.set()
                elif line.startswith(b"id: "):
                    self.ids.append(int(line[4:].strip()))

    def close(self) -> None:
        if self.conn is not None:
            with contextlib.suppress(OSError):
                if self.conn.sock is not None:
                    self.conn.sock.shutdown(socket.SHUT_RDWR)
            self.conn.close()


def fanout(
    port: int, serve_pid: int, client: Any, targets: list[str], n_clients: int
) -> dict[str, Any]:
    """n_clients SSE clients; pause + unpause each target; service CPU and who saw what."""
    clients = [SseClient(port) for _ in range(n_clients)]
    for c in clients:
        c.start()
    for c in clients:
        if not c.ready.wait(30):
            raise RuntimeError("an SSE client never got the stream's first line")
    time.sleep(0.5)  # let the subscriptions settle (no event is produced meanwhile)
    cpu0 = cpu_seconds(serve_pid) or 0.0
    t0 = time.perf_counter()
    for cid in targets:
        client.pause(cid)
        client.unpause(cid)
    # Wait until every client has as many events as the most-served one, and it stopped growing.
    deadline = time.monotonic() + 30
    last, stable_since = -1, time.monotonic()
    while time.monotonic() < deadline:
        top = max(len(c.ids) for c in clients)
        if top != last:
            last, stable_since = top, time.monotonic()
        elif all(len(c.ids) == top for c in clients) and time.monotonic() - stable_since > 1.0:
            break
        time.sleep(0.05)
    wall = time.perf_counter() - t0
    cpu = (cpu_seconds(serve_pid) or 0.0) - cpu0
    for c in clients:
        c.close()
    reference = clients[0].ids
    events = len(reference)
    return {
        "clients": n_clients,
        "events": events,
        "every_client_saw_every_event": all(c.ids == reference for c in clients),
        "min_events_seen": min(len(c.ids) for c in clients),
        "service_cpu_ms": rnd(cpu * 1000, 1),
        "service_cpu_us_per_client_per_event": rnd(cpu * 1e6 / max(1, n_clients * events), 1),
        "_cpu_per_event_us": cpu * 1e6 / max(1, events),
        "wall_s": rnd(wall, 2),
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    from tests.integration.engines import ExtraEngine

    client = api_client(pool=32)
    require_image(client)
    with contextlib.ExitStack() as stack:
        engines = []
        for name in ("b", "c"):
            engine = ExtraEngine(f"api{name}")
            stack.callback(engine.close)
            progress(f"starting dockerd {name} (its own data root, socket and bridge)")
            engine.start()
            engine.load_image(BUSYBOX_IMAGE)
            engines.append((name, engine))
        benches = [stack.enter_context(BenchContainers(client, LABEL, args.per_host))]
        extra_clients = []
        for _, engine in engines:
            api = engine.api()
            extra_clients.append(api)
            benches.append(stack.enter_context(BenchContainers(api, LABEL, args.per_host)))
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="clawtui-bench-api-")))
        port = _free_port()
        hosts = [("local", "unix:///var/run/docker.sock")]
        hosts += [(name, engine.url) for name, engine in engines]
        progress("starting clawtui serve with three hosts")
        proc = _start_serve(tmp, port, hosts)

        def stop_serve() -> None:
            proc.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=15)
            if proc.poll() is None:
                proc.kill()

        stack.callback(stop_serve)
        expected = 3 * args.per_host
        deadline = time.monotonic() + 60
        while (seen := _count_bench(port)) < expected:
            if time.monotonic() > deadline:
                raise RuntimeError(f"the service lists {seen} of {expected} bench containers")
            time.sleep(0.2)
        loadavg = os.getloadavg()
        progress(
            f"{expected} containers listed; waiting for the CPUs to settle, then "
            f"GET /api/v1/hosts at {args.rate:g}/s (baseline)"
        )
        baseline = measured_load(proc.pid, port, "/api/v1/hosts", args, args.settle_cap)
        progress(f"GET /api/v1/containers at {args.rate:g}/s for {args.seconds:g}s")
        listing = measured_load(proc.pid, port, "/api/v1/containers", args, args.settle_cap)
        # Events from containers on an engine only this benchmark uses (engine b).
        targets, events_client = benches[1].ids[: args.events], extra_clients[0]
        progress(f"SSE: 1 client, then {args.clients}, {len(targets)} pause+unpause each")
        one = fanout(port, proc.pid, events_client, targets, 1)
        many = fanout(port, proc.pid, events_client, targets, args.clients)
        for api in extra_clients:
            api.close()
    p99 = listing["p99_ms"]
    for phase in (one, many):
        phase["service_cpu_us_per_event"] = rnd(phase["_cpu_per_event_us"], 1)
    per_one = one["service_cpu_us_per_client_per_event"] or 0.0
    per_many = many["service_cpu_us_per_client_per_event"] or 0.0
    return {
        "benchmark": "api",
        "containers": expected,
        "hosts": 3,
        "rate_rps": args.rate,
        "seconds": args.seconds,
        "load_average_at_start": [round(x, 2) for x in loadavg],
        "list_phases_waited_to_settle_s": [baseline["settle_wait_s"], listing["settle_wait_s"]],
        "list_containers": listing,
        "baseline_list_hosts": baseline,
        "list_vs_hosts_p99": rnd(p99 / baseline["p99_ms"], 2)
        if p99 and baseline["p99_ms"]
        else None,
        "sse_one_client": one,
        "sse_fanout": many,
        "fanout_vs_one_client": rnd(per_many / per_one, 3) if per_one else None,
        # The service's CPU per event includes the engine's own work for it (Docker event,
        # inspect), which does not grow with clients: the cost of one more client per event
        # is the difference between the two phases, spread over the extra clients.
        "service_cpu_us_per_extra_client_per_event": rnd(
            (many["_cpu_per_event_us"] - one["_cpu_per_event_us"]) / max(1, args.clients - 1), 1
        ),
        "targets": {"list_p99_ms": TARGET_LIST_P99_MS, "sse_no_loss": True},
        "meets_targets": {
            "list_p99_ms": p99 is not None and p99 <= TARGET_LIST_P99_MS,
            "sse_no_loss": bool(many["every_client_saw_every_event"]) and many["events"] > 0,
        },
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="the default sizes (under 90 s)")
    parser.add_argument("--per-host", type=int, default=100)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--events", type=int, default=10, help="containers paused + unpaused")
    parser.add_argument(
        "--settle-cap",
        type=float,
        default=60.0,
        help="longest wait for the CPUs to settle before each list phase (0: no wait)",
    )
    args = parser.parse_args()
    if args.quick:
        args.seconds = min(args.seconds, 10.0)
    if not 1 <= args.per_host <= 300 or args.rate <= 0 or args.seconds <= 0:
        parser.error("--per-host must be 1-300, --rate and --seconds positive")
    handle_termination()
    started = time.monotonic()
    result = run(args)
    for phase in ("sse_one_client", "sse_fanout"):
        result[phase].pop("_cpu_per_event_us", None)
    result["wall_seconds"] = rnd(time.monotonic() - started, 1)
    emit_result(result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
