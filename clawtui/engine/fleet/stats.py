"""Container stats: reading cgroup files directly, and the math for Docker's stats replies.

On a host whose cgroup files the engine can read (the local host) a sample costs a handful of
small file reads and no Docker round trip. Elsewhere the sampler asks Docker for one-shot stats
(`stats?stream=false&one-shot=true`), whose replies carry no previous CPU sample: the engine keeps
the last sample per container and computes CPU % from the delta itself. Both paths produce the
same figures: memory used = usage - cache (cgroup v1) or usage - inactive_file (v2), and CPU %
where 100 means one full core.
"""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from clawtui.engine.api.models import ContainerStats

# cgroup v1 reports "no limit" as a huge page-aligned number.
_UNLIMITED_FLOOR = 1 << 60


@dataclass(frozen=True, slots=True)
class CpuMark:
    """What a CPU % computation needs of the previous sample."""

    container_ns: int  # cumulative CPU time of the container, ns
    system_ns: int  # cumulative system CPU time (API) or wall clock (cgroup), ns
    online_cpus: int = 1  # API only: CPUs the system figure is summed over


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value == value:  # not NaN
        return int(value)
    return None


def _limit_or_none(value: int | None) -> int | None:
    if value is None or value <= 0 or value >= _UNLIMITED_FLOOR:
        return None
    return value


def cpu_percent(prev: CpuMark | None, cur: CpuMark) -> float | None:
    """CPU % between two marks, None if there is no usable previous mark."""
    if prev is None:
        return None
    d_cpu = cur.container_ns - prev.container_ns
    d_sys = cur.system_ns - prev.system_ns
    if d_cpu < 0 or d_sys <= 0:
        return None
    return round(d_cpu / d_sys * cur.online_cpus * 100.0, 2)


def stats_from_api(
    payload: Any, prev: CpuMark | None, *, now: float | None = None
) -> tuple[ContainerStats | None, CpuMark | None]:
    """Turn one Docker stats reply into a sample; `prev` is the last mark kept for this container.

    Tolerates a stopped container (empty `memory_stats`/`cpu_stats`), missing fields and wrong
    types: whatever is missing is None. Uses `precpu_stats` when Docker filled it (streaming
    replies) and `prev` otherwise (one-shot replies).
    """
    if not isinstance(payload, dict):
        return None, prev
    mem = payload.get("memory_stats")
    mem = mem if isinstance(mem, dict) else {}
    cpu = payload.get("cpu_stats")
    cpu = cpu if isinstance(cpu, dict) else {}

    mem_used: int | None = None
    usage = _as_int(mem.get("usage"))
    if usage is not None:
        inner = mem.get("stats")
        inner = inner if isinstance(inner, dict) else {}
        if "inactive_file" in inner and "total_cache" not in inner and "cache" not in inner:
            cached = _as_int(inner.get("inactive_file"))  # cgroup v2
        else:
            cached = _as_int(inner.get("total_cache", inner.get("cache")))  # cgroup v1
        mem_used = max(0, usage - (cached or 0))
    mem_limit = _limit_or_none(_as_int(mem.get("limit")))

    mark: CpuMark | None = None
    usage_block = cpu.get("cpu_usage")
    total = _as_int(usage_block.get("total_usage")) if isinstance(usage_block, dict) else None
    system = _as_int(cpu.get("system_cpu_usage"))
    if total is not None and system is not None:
        online = _as_int(cpu.get("online_cpus"))
        if not online:
            percpu = usage_block.get("percpu_usage") if isinstance(usage_block, dict) else None
            online = len(percpu) if isinstance(percpu, list) and percpu else 1
        mark = CpuMark(total, system, online)

    previous = prev
    pre = payload.get("precpu_stats")
    if isinstance(pre, dict):
        pre_usage = pre.get("cpu_usage")
        pre_total = _as_int(pre_usage.get("total_usage")) if isinstance(pre_usage, dict) else None
        pre_system = _as_int(pre.get("system_cpu_usage"))
        if pre_total is not None and pre_system:
            previous = CpuMark(pre_total, pre_system, mark.online_cpus if mark else 1)

    pids_block = payload.get("pids_stats")
    pids = _as_int(pids_block.get("current")) if isinstance(pids_block, dict) else None

    if mark is None and mem_used is None:
        return None, prev
    stats = ContainerStats(
        cpu_percent=cpu_percent(previous, mark) if mark else None,
        mem_used=mem_used,
        mem_limit=mem_limit,
        pids=pids,
        sampled_at=now if now is not None else time.time(),
    )
    return stats, mark or prev


# ---------------------------------------------------------------------------------------------
# Direct cgroup reads


def _read(path: str) -> bytes | None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        return os.read(fd, 65536)
    except OSError:
        return None
    finally:
        os.close(fd)


def _read_int(path: str) -> int | None:
    raw = _read(path)
    if raw is None:
        return None
    raw = raw.strip()
    if raw == b"max":
        return None
    try:
        return int(raw)
    except ValueError:
        return None


def _stat_field(raw: bytes | None, name: bytes) -> int | None:
    """A field of memory.stat / cpu.stat ("name value" lines) without parsing the whole file."""
    if raw is None:
        return None
    start = raw.find(b"\n" + name + b" ")
    if start < 0:
        if not raw.startswith(name + b" "):
            return None
        start = 0
    else:
        start += 1
    end = raw.find(b"\n", start)
    try:
        return int(raw[start + len(name) + 1 : end if end >= 0 else None])
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class CgroupPaths:
    """Where one container's cgroup files are (absolute, as strings for os.open)."""

    version: int  # 1 or 2
    memory: str
    cpu: str
    pids: str | None


def detect_cgroup_version(root: Path) -> int | None:
    """2 for a unified hierarchy, 1 for a v1 layout with a memory controller, None if unreadable."""
    if (root / "cgroup.controllers").exists():
        return 2
    if (root / "memory").is_dir():
        return 1
    return None


def _v1_dir(root: Path, controller: str) -> Path | None:
    for name in (controller, f"cpu,{controller}", f"{controller},cpu", "cpu,cpuacct"):
        candidate = root / name
        if candidate.is_dir():
            return candidate
    return None


def resolve_cgroup_paths(
    root: Path, version: int, container_id: str, pid: int
) -> CgroupPaths | None:
    """Find a container's cgroup directories: from /proc/PID/cgroup when readable, else the
    layouts of Docker's cgroupfs and systemd drivers. None when no candidate exists.

    A path from /proc/PID/cgroup counts only if it names the container (Docker's cgroup paths
    always hold its full id): a unix socket forwarded from another machine reports pids of that
    machine, which here belong to unrelated processes."""
    rel_by_controller: dict[str, str] = {}
    if pid > 0:
        raw = _read(f"/proc/{pid}/cgroup")
        for line in (raw or b"").decode(errors="replace").splitlines():
            parts = line.split(":", 2)
            if len(parts) != 3 or container_id not in parts[2]:
                continue
            for controller in parts[1].split(",") if parts[1] else [""]:
                rel_by_controller[controller] = parts[2].lstrip("/")
    guesses = [f"docker/{container_id}", f"system.slice/docker-{container_id}.scope"]
    if version == 2:
        rels = [rel_by_controller[""]] if "" in rel_by_controller else []
        for rel in [*rels, *guesses]:
            base = root / rel
            if (base / "memory.current").exists():
                s = str(base)
                pids = str(base / "pids.current") if (base / "pids.current").exists() else None
                return CgroupPaths(2, s, s, pids)
        return None
    mem_root = root / "memory"
    cpu_root = _v1_dir(root, "cpuacct")
    if cpu_root is None:
        return None
    candidates: list[tuple[str, str, str]] = []
    if "memory" in rel_by_controller:
        mem_rel = rel_by_controller["memory"]
        candidates.append(
            (
                mem_rel,
                rel_by_controller.get("cpuacct", mem_rel),
                rel_by_controller.get("pids", mem_rel),
            )
        )
    candidates += [(rel, rel, rel) for rel in guesses]
    for mem_rel, cpu_rel, pids_rel in candidates:
        mem_dir, cpu_dir = mem_root / mem_rel, cpu_root / cpu_rel
        if (mem_dir / "memory.usage_in_bytes").exists() and (cpu_dir / "cpuacct.usage").exists():
            pids_file = root / "pids" / pids_rel / "pids.current"
            pids = str(pids_file) if pids_file.exists() else None
            return CgroupPaths(1, str(mem_dir), str(cpu_dir), pids)
    return None


def _build_sample(
    version: int,
    usage: int | None,
    stat: bytes | None,
    cpu_raw: bytes | int | None,
    limit: int | None,
    pids: int | None,
    prev: CpuMark | None,
    wall_ns: int,
) -> tuple[ContainerStats | None, CpuMark | None]:
    """One sample from raw cgroup readings (v1: cpu_raw = cpuacct.usage as int; v2: cpu.stat)."""
    if usage is None:
        return None, prev
    if version == 1:
        cache = _stat_field(stat, b"total_cache")
        if cache is None:
            cache = _stat_field(stat, b"cache")
        cpu_ns = cpu_raw if isinstance(cpu_raw, int) else None
    else:
        cache = _stat_field(stat, b"inactive_file")
        usec = _stat_field(cpu_raw, b"usage_usec") if isinstance(cpu_raw, bytes) else None
        cpu_ns = usec * 1000 if usec is not None else None
    mark = CpuMark(cpu_ns, wall_ns, 1) if cpu_ns is not None else None
    stats = ContainerStats(
        cpu_percent=cpu_percent(prev, mark) if mark else None,
        mem_used=max(0, usage - (cache or 0)),
        mem_limit=limit,
        pids=pids,
    )
    return stats, mark or prev


def sample_cgroup(
    paths: CgroupPaths, prev: CpuMark | None, *, now_ns: int | None = None
) -> tuple[ContainerStats | None, CpuMark | None]:
    """Read one sample from cgroup files by path (opens each file). None when the cgroup is gone."""
    wall = now_ns if now_ns is not None else time.monotonic_ns()
    if paths.version == 1:
        usage = _read_int(paths.memory + "/memory.usage_in_bytes")
        limit = _read_int(paths.memory + "/memory.limit_in_bytes")
        cpu_raw: bytes | int | None = _read_int(paths.cpu + "/cpuacct.usage")
    else:
        usage = _read_int(paths.memory + "/memory.current")
        limit = _read_int(paths.memory + "/memory.max")
        cpu_raw = _read(paths.cpu + "/cpu.stat")
    if usage is None:
        return None, prev
    stat = _read(paths.memory + "/memory.stat")
    pids = _read_int(paths.pids) if paths.pids else None
    return _build_sample(
        paths.version, usage, stat, cpu_raw, _limit_or_none(limit), pids, prev, wall
    )


# ---------------------------------------------------------------------------------------------
# Cgroup files kept open: one pread() per file per tick (the sampler's hot path).


def _pread_int(fd: int) -> int | None:
    try:
        raw = os.pread(fd, 64, 0)
    except OSError:  # ENODEV: the cgroup is gone
        return None
    raw = raw.strip()
    if raw == b"max":
        return None
    try:
        return int(raw)
    except ValueError:
        return None


def _pread(fd: int) -> bytes | None:
    try:
        return os.pread(fd, 8192, 0)
    except OSError:
        return None


class CgroupFiles:
    """A container's cgroup files opened once: a sample is 3-4 pread() calls and no path lookups
    (open + close of the same files was ~70% of the sampler's CPU). The memory limit is read once:
    the monitor drops this object when inspect shows a new limit (`docker update`). Close only
    from the sampler's thread: an fd closed elsewhere may be reused under a running pread."""

    __slots__ = ("cpu", "limit", "paths", "pids", "stat", "usage")

    def __init__(self, paths: CgroupPaths) -> None:
        self.paths = paths
        opened: list[int] = []

        def o(path: str) -> int:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            opened.append(fd)
            return fd

        try:
            if paths.version == 1:
                self.usage = o(paths.memory + "/memory.usage_in_bytes")
                self.stat = o(paths.memory + "/memory.stat")
                self.cpu = o(paths.cpu + "/cpuacct.usage")
                self.limit = _limit_or_none(_read_int(paths.memory + "/memory.limit_in_bytes"))
            else:
                self.usage = o(paths.memory + "/memory.current")
                self.stat = o(paths.memory + "/memory.stat")
                self.cpu = o(paths.cpu + "/cpu.stat")
                self.limit = _limit_or_none(_read_int(paths.memory + "/memory.max"))
            self.pids = o(paths.pids) if paths.pids else -1
        except OSError:
            for fd in opened:
                os.close(fd)
            raise

    def close(self) -> None:
        for fd in (self.usage, self.stat, self.cpu, self.pids):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self.usage = self.stat = self.cpu = self.pids = -1

    def sample(
        self, prev: CpuMark | None, *, now_ns: int | None = None
    ) -> tuple[ContainerStats | None, CpuMark | None]:
        wall = now_ns if now_ns is not None else time.monotonic_ns()
        usage = _pread_int(self.usage)
        if usage is None:
            return None, prev
        v1 = self.paths.version == 1
        cpu_raw = _pread_int(self.cpu) if v1 else _pread(self.cpu)
        pids = _pread_int(self.pids) if self.pids >= 0 else None
        stat = _pread(self.stat)
        return _build_sample(self.paths.version, usage, stat, cpu_raw, self.limit, pids, prev, wall)
