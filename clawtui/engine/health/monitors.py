"""Host health checks: `[[monitors]]` hosts over SSH and HTTP status pages (seed 002, Sam/Ryan).

Every `interval` seconds each monitor collects, in one SSH command: disk (`df -PT`), memory
(`free -b`), load (`/proc/loadavg`, `uptime`, `nproc`), containers (`docker ps -a`, restart
counts from `docker inspect`) and per-container usage (`docker stats --no-stream`); and, when
`status_url` is set, whether any service on the status page reports DOWN or DEGRADED.

The anomaly thresholds (seed 002, Sam): a service DOWN or DEGRADED; CPU above 80% for 2+
consecutive checks; memory above 85% of its limit on any container; disk above 80% or growing
5+ points between checks; a container restarted 3+ times in the last hour. Each anomaly is a
*signal* (`disk:/var`, `restarts:web`, `memory:web`, `cpu:web`, `status:api`, `ssh`) fed to
`Incidents.anomaly`; a healthy check resolves every open incident of that monitor whose
signal it checked and found fine. Healthy checks are logged silently (debug log only).

SSH goes through `clawtui.engine.sessions.ssh.connect` (host keys always checked).
Everything read from the host is untrusted text: parsers skip lines they do not understand.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import shlex
import time
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from clawtui.engine.api.escalations import Report
from clawtui.engine.api.ssh import SSHFailure, SSHTarget
from clawtui.engine.health.outages import evaluate_outages, parse_processes, process_script
from clawtui.engine.health.statuspage import parse_status_page

__all__ = [
    "Anomaly",
    "HealthMonitors",
    "HostCheck",
    "Snapshot",
    "parse_output",
    "parse_status_page",
]

if TYPE_CHECKING:  # aiohttp and asyncssh are imported when a check runs (start-up time)
    import aiohttp

    from clawtui.config.escalations import MonitorConfig, Thresholds
    from clawtui.engine.context import Context
    from clawtui.engine.escalations.incidents import Incidents

log = logging.getLogger(__name__)

MAX_OUTPUT = 4 << 20
_PSEUDO_FS = {
    "proc", "sysfs", "devtmpfs", "devpts", "cgroup", "cgroup2", "mqueue", "securityfs",
    "debugfs", "tracefs", "pstore", "bpf", "autofs", "squashfs", "nsfs", "fusectl",
    "configfs", "hugetlbfs", "binfmt_misc", "shm",
}  # fmt: skip
_PSEUDO_MOUNT = re.compile(r"^/(proc|sys|dev)(/|$)")


# -- parsing (pure) ----------------------------------------------------------------------------
@dataclass
class Disk:
    mount: str
    fstype: str
    size_kb: int
    used_kb: int
    percent: float


@dataclass
class ContainerState:
    id: str
    name: str
    status: str
    restart_count: int = 0
    created: str = ""
    cpu_percent: float | None = None
    mem_percent: float | None = None


@dataclass
class Snapshot:
    """What one check collected."""

    ts: float
    disks: list[Disk] = field(default_factory=list)
    mem_total: int | None = None
    mem_used: int | None = None
    mem_available: int | None = None
    load1: float | None = None
    ncpu: int | None = None
    uptime: str = ""
    containers: dict[str, ContainerState] = field(default_factory=dict)
    docker_ok: bool = False
    processes: dict[str, bool] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)


SCRIPT = r"""
echo '@@df'; df -PT -k 2>/dev/null
echo '@@free'; free -b 2>/dev/null
echo '@@nproc'; nproc 2>/dev/null
echo '@@load'; cat /proc/loadavg 2>/dev/null
echo '@@uptime'; uptime 2>/dev/null
echo '@@ps'; docker ps -a --no-trunc __FILTERS__ --format '{{.ID}}' 2>&1 || echo '@@dockerfail'
ids=$(docker ps -a -q --no-trunc __FILTERS__ 2>/dev/null)
run=$(docker ps -q --no-trunc __FILTERS__ 2>/dev/null)
echo '@@inspect'
[ -n "$ids" ] && docker inspect --format \
  '{{.Id}}|{{.Name}}|{{.State.Status}}|{{.RestartCount}}|{{.Created}}' $ids 2>/dev/null
echo '@@stats'
[ -n "$run" ] && docker stats --no-stream --no-trunc --format \
  '{{.ID}}|{{.CPUPerc}}|{{.MemPerc}}' $run 2>/dev/null
__PROCS__echo '@@end'
"""


def build_script(filters: list[str], processes: list[str] | None = None) -> str:
    args = " ".join(f"--filter {shlex.quote(f)}" for f in filters)
    return SCRIPT.replace("__FILTERS__", args).replace("__PROCS__", process_script(processes or []))


def _sections(text: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    current: str | None = None
    for line in text.splitlines():
        if line.startswith("@@"):
            current = line[2:].strip()
            out.setdefault(current, [])
        elif current is not None:
            out[current].append(line)
    return out


def _pct(text: str) -> float | None:
    try:
        return float(text.strip().rstrip("%"))
    except ValueError:
        return None


def parse_output(
    text: str, ts: float | None = None, processes: list[str] | None = None
) -> Snapshot:
    """Parse the output of `SCRIPT`; lines that do not parse are skipped."""
    snap = Snapshot(ts=ts if ts is not None else time.time())
    sec = _sections(text)
    snap.processes = parse_processes(sec.get("procs", []), processes or [])
    for line in sec.get("df", [])[1:]:
        parts = line.split()
        if len(parts) < 7:
            continue
        try:
            size, used = int(parts[2]), int(parts[3])
        except ValueError:
            continue
        mount = " ".join(parts[6:])
        if size <= 0:
            continue
        percent = _pct(parts[5])
        snap.disks.append(
            Disk(mount, parts[1], size, used, percent if percent is not None else 0.0)
        )
    for line in sec.get("free", []):
        parts = line.split()
        if parts and parts[0] == "Mem:" and len(parts) >= 3:
            with contextlib.suppress(ValueError):
                snap.mem_total, snap.mem_used = int(parts[1]), int(parts[2])
            if len(parts) >= 7:
                with contextlib.suppress(ValueError):
                    snap.mem_available = int(parts[6])
    for line in sec.get("nproc", [])[:1]:
        with contextlib.suppress(ValueError):
            snap.ncpu = int(line.strip())
    for line in sec.get("load", [])[:1]:
        with contextlib.suppress(ValueError, IndexError):
            snap.load1 = float(line.split()[0])
    snap.uptime = " ".join(sec.get("uptime", [])[:1]).strip()[:200]
    snap.docker_ok = "dockerfail" not in sec and "ps" in sec
    if not snap.docker_ok:
        snap.errors.append("docker ps failed: " + " ".join(sec.get("ps", []))[:300])
    for line in sec.get("inspect", []):
        parts = line.split("|")
        if len(parts) != 5:
            continue
        cid, name, status, restarts, created = parts
        try:
            count = int(restarts)
        except ValueError:
            continue
        snap.containers[cid] = ContainerState(cid, name.lstrip("/"), status, count, created)
    for line in sec.get("stats", []):
        parts = line.split("|")
        if len(parts) != 3:
            continue
        state = snap.containers.get(parts[0])
        if state is None:
            state = next((c for c in snap.containers.values() if c.id.startswith(parts[0])), None)
        if state is not None:
            state.cpu_percent = _pct(parts[1])
            state.mem_percent = _pct(parts[2])
    return snap


# -- evaluation (pure, with memory between checks) ---------------------------------------------
@dataclass
class Anomaly:
    signal: str
    report: Report


@dataclass
class MonitorMemory:
    """What thresholds need from earlier checks."""

    disk_percent: dict[str, float] = field(default_factory=dict)
    cpu_streak: dict[str, int] = field(default_factory=dict)
    restarts: dict[str, deque[tuple[float, int]]] = field(default_factory=dict)


def _created_ts(text: str) -> float | None:
    from datetime import datetime

    match = re.match(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?Z", text)
    if not match:
        return None
    return datetime.fromisoformat(match.group(1) + "+00:00").timestamp()


def evaluate(
    name: str,
    snap: Snapshot,
    memory: MonitorMemory,
    limits: Thresholds,
    disk_mounts: list[str] | None = None,
) -> tuple[list[Anomaly], set[str]]:
    """Anomalies of one check, and every signal that was checked (to resolve the healthy ones)."""
    anomalies: list[Anomaly] = []
    checked: set[str] = set()
    for disk in snap.disks:
        if disk_mounts is not None:
            if disk.mount not in disk_mounts:
                continue
        elif disk.fstype in _PSEUDO_FS or _PSEUDO_MOUNT.match(disk.mount):
            continue
        signal = f"disk:{disk.mount}"
        checked.add(signal)
        before = memory.disk_percent.get(disk.mount)
        memory.disk_percent[disk.mount] = disk.percent
        grew = before is not None and disk.percent - before >= limits.disk_growth_points
        if disk.percent > limits.disk_percent or grew:
            why = (
                f"{disk.percent:.0f}% used (threshold {limits.disk_percent:.0f}%)"
                if disk.percent > limits.disk_percent
                else f"grew {disk.percent - (before or 0):.0f} points since the last check"
            )
            anomalies.append(
                Anomaly(
                    signal,
                    Report(
                        summary=f"disk {disk.mount} on {name}: {why}",
                        severity="high" if disk.percent >= 95 else "medium",
                        affected_services=[disk.mount],
                        evidence=[
                            f"df: {disk.mount} ({disk.fstype}) {disk.used_kb} of "
                            f"{disk.size_kb} KiB used ({disk.percent:.0f}%)"
                        ],
                        immediate_action="find what grew (du -xh --max-depth=2), clear logs "
                        "or old artifacts (docker system prune -f)",
                        recommended_fix=f"add log rotation / cleanup for {disk.mount}, or "
                        "grow the volume",
                    ),
                )
            )
    if snap.load1 is not None and snap.ncpu:
        host_cpu = snap.load1 / snap.ncpu * 100
        _cpu(name, "cpu:host", "host load", host_cpu, memory, limits, anomalies, checked)
    if snap.docker_ok:
        now = snap.ts
        seen: set[str] = set()
        for c in snap.containers.values():
            seen.add(c.id)
            history = memory.restarts.setdefault(c.id, deque())
            if not history:
                created = _created_ts(c.created)
                if created is not None and 0 <= now - created < 3600:
                    history.append((created, 0))
            history.append((now, c.restart_count))
            while len(history) > 1 and history[1][0] <= now - 3600:
                history.popleft()
            recent = c.restart_count - history[0][1]
            signal = f"restarts:{c.name}"
            checked.add(signal)
            if recent >= limits.restarts_per_hour:
                anomalies.append(
                    Anomaly(
                        signal,
                        Report(
                            summary=f"container {c.name} on {name} restarted {recent} times "
                            "in the last hour",
                            severity="high",
                            affected_services=[c.name],
                            root_cause="the container exits soon after starting (crash loop)",
                            evidence=[
                                f"docker inspect: RestartCount={c.restart_count}, status={c.status}"
                            ],
                            immediate_action=f"read `docker logs --tail 200 {c.name}`",
                            recommended_fix="fix the crash named in the container's log",
                        ),
                    )
                )
            if c.status == "running" and c.mem_percent is not None:
                signal = f"memory:{c.name}"
                checked.add(signal)
                if c.mem_percent > limits.memory_percent:
                    anomalies.append(
                        Anomaly(
                            signal,
                            Report(
                                summary=f"container {c.name} on {name} uses "
                                f"{c.mem_percent:.0f}% of its memory limit",
                                severity="high" if c.mem_percent >= 95 else "medium",
                                affected_services=[c.name],
                                evidence=[f"docker stats: MemPerc={c.mem_percent:.1f}%"],
                                immediate_action="restart the container if it stops answering",
                                recommended_fix=f"raise {c.name}'s memory limit or find the leak",
                            ),
                        )
                    )
            if c.status == "running" and c.cpu_percent is not None:
                _cpu(
                    name,
                    f"cpu:{c.name}",
                    f"container {c.name}",
                    c.cpu_percent,
                    memory,
                    limits,
                    anomalies,
                    checked,
                )
        for gone in set(memory.restarts) - seen:
            del memory.restarts[gone]
    return anomalies, checked


def _cpu(
    name: str,
    signal: str,
    what: str,
    percent: float,
    memory: MonitorMemory,
    limits: Thresholds,
    anomalies: list[Anomaly],
    checked: set[str],
) -> None:
    checked.add(signal)
    if percent > limits.cpu_percent:
        memory.cpu_streak[signal] = memory.cpu_streak.get(signal, 0) + 1
    else:
        memory.cpu_streak[signal] = 0
    streak = memory.cpu_streak[signal]
    if streak >= limits.cpu_checks:
        anomalies.append(
            Anomaly(
                signal,
                Report(
                    summary=f"{what} on {name}: CPU {percent:.0f}% for {streak} checks",
                    severity="medium",
                    affected_services=[what],
                    evidence=[f"CPU {percent:.1f}% (threshold {limits.cpu_percent:.0f}%)"],
                    immediate_action="look for runaway processes (top -b -n1), e.g. miners",
                    recommended_fix="limit the CPU of the busy container or scale out",
                ),
            )
        )


# -- the component ------------------------------------------------------------------------------
class HostCheck:
    """One `[[monitors]]` entry: its SSH target, memory between checks, last result."""

    def __init__(self, ctx: Context, incidents: Incidents, cfg: MonitorConfig) -> None:
        self.ctx = ctx
        self.incidents = incidents
        self.cfg = cfg
        self.memory = MonitorMemory()
        self.last: Snapshot | None = None
        self.last_ok: float | None = None
        self.checks = 0

    def target(self) -> SSHTarget:
        from clawtui.engine.sessions.ssh import monitor_target

        return monitor_target(self.cfg, self.ctx.settings.engine.resolved_state_dir)

    async def collect(self) -> Snapshot:
        """Run the collection script over SSH; raises SSHFailure or TimeoutError."""
        from clawtui.engine.sessions.ssh import connect

        conn = await connect(self.target())
        try:
            result = await asyncio.wait_for(
                conn.run(
                    build_script(self.cfg.docker_filters, self.cfg.agent_processes), check=False
                ),
                self.cfg.timeout,
            )
        finally:
            conn.close()
        out = result.stdout if isinstance(result.stdout, str) else ""
        return parse_output(out[:MAX_OUTPUT], processes=self.cfg.agent_processes)

    async def status_page(self, session: aiohttp.ClientSession) -> list[tuple[str, str]]:
        import aiohttp

        assert self.cfg.status_url is not None
        timeout = aiohttp.ClientTimeout(total=self.cfg.timeout)
        async with session.get(self.cfg.status_url, timeout=timeout) as resp:
            body = (await resp.content.read(MAX_OUTPUT)).decode("utf-8", errors="replace")
            if resp.status >= 400 and not parse_status_page(body):
                return [("status-page", f"DOWN (HTTP {resp.status})")]
            return parse_status_page(body)

    async def check_once(self, session: aiohttp.ClientSession | None = None) -> list[Anomaly]:
        """One check: collect, evaluate, open / update / resolve incidents."""
        import aiohttp

        incidents = self.incidents
        name = self.cfg.name
        anomalies: list[Anomaly] = []
        checked: set[str] = set()
        docker_ok = False
        self.checks += 1
        if self.cfg.host is not None:
            checked.add("ssh")
            try:
                snap = await self.collect()
            except (SSHFailure, TimeoutError, OSError) as exc:
                anomalies.append(
                    Anomaly(
                        "ssh",
                        Report(
                            summary=f"cannot check {name} over SSH: "
                            f"{str(exc)[:300] or type(exc).__name__}",
                            severity="high",
                            affected_services=[name],
                            evidence=[str(exc)[:2000]],
                            immediate_action="check that the host is up and sshd answers",
                            recommended_fix="see the error: host key, key or network",
                        ),
                    )
                )
            else:
                self.last = snap
                found, seen = evaluate(
                    name, snap, self.memory, self.cfg.thresholds, self.cfg.disk_mounts
                )
                anomalies += found
                checked |= seen
                found, seen = evaluate_outages(
                    name, snap, self.cfg.thresholds, self.cfg.agent_processes
                )
                anomalies += found
                checked |= seen
                docker_ok = snap.docker_ok
        if self.cfg.status_url is not None and session is not None:
            checked.add("status-page")
            try:
                bad = await self.status_page(session)
            except (aiohttp.ClientError, TimeoutError, OSError, ValueError) as exc:
                bad = [("status-page", f"unreachable ({str(exc)[:200] or type(exc).__name__})")]
            for service, state in bad:
                signal = "status-page" if service == "status-page" else f"status:{service}"
                checked.add(signal)
                anomalies.append(
                    Anomaly(
                        signal,
                        Report(
                            summary=f"{service} on {name} reports {state}",
                            severity="high" if state.startswith("DOWN") else "medium",
                            affected_services=[service],
                            evidence=[f"status page {self.cfg.status_url}: {service} {state}"],
                            immediate_action=f"restart {service} if it stays {state}",
                            recommended_fix="fix the cause named in the service's log",
                        ),
                    )
                )
            for incident in await incidents.find(open_only=True, monitor=name):
                if incident.signal.startswith("status:"):
                    checked.add(incident.signal)
        bad_signals = {a.signal for a in anomalies}
        for anomaly in anomalies:
            await incidents.anomaly(name, anomaly.signal, anomaly.report)
        open_now = await incidents.find(open_only=True, monitor=name)
        gone = {i.signal for i in open_now if i.signal not in bad_signals}
        # A signal is healthy when it was checked and fine, or when its subject disappeared
        # (a removed container, an unmounted disk) while the SSH collection itself worked.
        collected = "ssh" in checked and "ssh" not in bad_signals
        kinds = ("disk", "cpu") + (("restarts", "memory", "container") if docker_ok else ())
        healthy = {
            s
            for s in gone
            if s in checked or (collected and s != "memory:host" and s.split(":", 1)[0] in kinds)
        }
        if healthy:
            await incidents.healthy(name, healthy)
        if not anomalies:
            self.last_ok = time.time()
            log.debug("health check of %s: healthy", name)
        return anomalies


class HealthMonitors:
    """Runs every `[[monitors]]` check on its interval (an engine component)."""

    def __init__(self, ctx: Context, incidents: Incidents) -> None:
        self.ctx = ctx
        self.checks = [HostCheck(ctx, incidents, cfg) for cfg in ctx.settings.monitors]
        self._tasks: list[asyncio.Task[None]] = []
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        if not self.checks:
            return
        import aiohttp

        self._session = aiohttp.ClientSession()
        for check in self.checks:
            self._tasks.append(
                asyncio.create_task(self._loop(check), name=f"health:{check.cfg.name}")
            )

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _loop(self, check: HostCheck) -> None:
        while True:
            started = time.monotonic()
            try:
                await check.check_once(self._session)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a bug or a broken reply must not end the monitor
                log.exception("health check of %s failed", check.cfg.name)
                self.ctx.log_activity("error", f"health check of {check.cfg.name} failed: {exc}")
            elapsed = time.monotonic() - started
            await asyncio.sleep(max(0.05, check.cfg.interval - elapsed))
