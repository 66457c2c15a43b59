"""Stats math from recorded Docker replies (cgroup v1 from this machine, v2 from Docker's format)
and from cgroup files laid out in a temp dir."""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path

import pytest

from clawtui.engine.fleet.stats import (
    CgroupFiles,
    CpuMark,
    cpu_percent,
    detect_cgroup_version,
    resolve_cgroup_paths,
    sample_cgroup,
    stats_from_api,
)

DATA = Path(__file__).parent / "data"


def load(name: str) -> dict:
    return json.loads((DATA / name).read_text())


def test_v1_first_oneshot_has_no_cpu_but_memory() -> None:
    payload = load("stats_v1_oneshot.json")
    stats, mark = stats_from_api(payload, None)
    assert stats is not None and mark is not None
    assert stats.cpu_percent is None  # one-shot: precpu is empty and we have no previous mark
    assert (
        stats.mem_used
        == payload["memory_stats"]["usage"] - payload["memory_stats"]["stats"]["total_cache"]
    )
    assert stats.mem_limit == 64 * 1024 * 1024
    assert stats.pids == 1
    assert mark.online_cpus == 2


def test_v1_second_oneshot_uses_kept_mark() -> None:
    first, second = load("stats_v1_oneshot.json"), load("stats_v1_oneshot_next.json")
    _, mark = stats_from_api(first, None)
    stats, _ = stats_from_api(second, mark)
    assert stats is not None
    d_cpu = (
        second["cpu_stats"]["cpu_usage"]["total_usage"]
        - first["cpu_stats"]["cpu_usage"]["total_usage"]
    )
    d_sys = second["cpu_stats"]["system_cpu_usage"] - first["cpu_stats"]["system_cpu_usage"]
    assert stats.cpu_percent == pytest.approx(d_cpu / d_sys * 2 * 100, abs=0.01)
    # the recorded container spins one core: about 100%
    assert 50 < stats.cpu_percent < 150


def test_v1_streaming_reply_uses_precpu() -> None:
    payload = load("stats_v1_stream_pair.json")
    stats, _ = stats_from_api(payload, CpuMark(1, 1, 2))  # precpu wins over a kept mark
    cpu, pre = payload["cpu_stats"], payload["precpu_stats"]
    d_cpu = cpu["cpu_usage"]["total_usage"] - pre["cpu_usage"]["total_usage"]
    d_sys = cpu["system_cpu_usage"] - pre["system_cpu_usage"]
    assert stats is not None
    assert stats.cpu_percent == pytest.approx(d_cpu / d_sys * cpu["online_cpus"] * 100, abs=0.01)


def test_v1_cache_is_subtracted() -> None:
    payload = copy.deepcopy(load("stats_v1_oneshot.json"))
    payload["memory_stats"]["usage"] = 50_000_000
    payload["memory_stats"]["stats"]["total_cache"] = 20_000_000
    payload["memory_stats"]["stats"]["cache"] = 20_000_000
    stats, _ = stats_from_api(payload, None)
    assert stats is not None and stats.mem_used == 30_000_000


def test_v2_uses_inactive_file() -> None:
    payload = load("stats_v2_oneshot.json")
    stats, mark = stats_from_api(payload, None)
    assert stats is not None and mark is not None
    assert stats.mem_used == 104857600 - 33554432
    assert stats.mem_limit == 536870912
    assert stats.cpu_percent is None
    later = copy.deepcopy(payload)
    later["cpu_stats"]["cpu_usage"]["total_usage"] += 2_000_000_000
    later["cpu_stats"]["system_cpu_usage"] += 4_000_000_000
    stats2, _ = stats_from_api(later, mark)
    assert stats2 is not None and stats2.cpu_percent == pytest.approx(200.0)


def test_stopped_container_reply() -> None:
    stats, mark = stats_from_api(load("stats_stopped.json"), CpuMark(1, 1, 1))
    assert stats is None
    assert mark == CpuMark(1, 1, 1)  # the kept mark is not thrown away by a useless reply


@pytest.mark.parametrize(
    "payload",
    [
        None,
        [],
        "text",
        {},
        {"memory_stats": "x", "cpu_stats": 3},
        {"memory_stats": {"usage": "12"}, "cpu_stats": {"cpu_usage": {"total_usage": True}}},
        {"memory_stats": {"usage": 10, "stats": None, "limit": None}},
        {"cpu_stats": {"cpu_usage": {"total_usage": 10}, "system_cpu_usage": 20}},
    ],
)
def test_missing_and_wrong_fields_never_raise(payload: object) -> None:
    stats, _ = stats_from_api(payload, None)
    if stats is not None:
        assert stats.cpu_percent is None


def test_cpu_percent_guards() -> None:
    assert cpu_percent(None, CpuMark(10, 10)) is None
    assert cpu_percent(CpuMark(10, 10), CpuMark(5, 20)) is None  # counter went back (restart)
    assert cpu_percent(CpuMark(10, 10), CpuMark(20, 10)) is None  # no time passed
    assert cpu_percent(CpuMark(0, 0), CpuMark(50, 100)) == 50.0


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_cgroup_v1_files(tmp_path: Path) -> None:
    cid = "a" * 64
    mem = tmp_path / "memory" / "docker" / cid
    _write(mem / "memory.usage_in_bytes", "10485760\n")
    _write(
        mem / "memory.stat", "cache 1048576\nrss 9437184\ntotal_cache 2097152\ntotal_rss 8388608\n"
    )
    _write(mem / "memory.limit_in_bytes", "9223372036854771712\n")
    _write(tmp_path / "cpuacct" / "docker" / cid / "cpuacct.usage", "1000000000\n")
    _write(tmp_path / "pids" / "docker" / cid / "pids.current", "4\n")
    assert detect_cgroup_version(tmp_path) == 1
    paths = resolve_cgroup_paths(tmp_path, 1, cid, pid=0)
    assert paths is not None
    s1, mark = sample_cgroup(paths, None, now_ns=0)
    assert s1 is not None
    assert s1.mem_used == 10485760 - 2097152  # total_cache preferred
    assert s1.mem_limit is None  # unlimited
    assert s1.pids == 4
    assert s1.cpu_percent is None
    _write(tmp_path / "cpuacct" / "docker" / cid / "cpuacct.usage", "1500000000\n")
    s2, _ = sample_cgroup(paths, mark, now_ns=1_000_000_000)
    assert s2 is not None and s2.cpu_percent == pytest.approx(50.0)


def test_cgroup_v2_files(tmp_path: Path) -> None:
    cid = "b" * 64
    (tmp_path / "cgroup.controllers").write_text("cpu memory pids\n")
    base = tmp_path / "system.slice" / f"docker-{cid}.scope"
    _write(base / "memory.current", "20971520\n")
    _write(base / "memory.stat", "anon 10485760\nfile 10485760\ninactive_file 4194304\n")
    _write(base / "memory.max", "max\n")
    _write(base / "cpu.stat", "usage_usec 2000000\nuser_usec 1500000\nsystem_usec 500000\n")
    _write(base / "pids.current", "2\n")
    assert detect_cgroup_version(tmp_path) == 2
    paths = resolve_cgroup_paths(tmp_path, 2, cid, pid=0)
    assert paths is not None
    s1, mark = sample_cgroup(paths, None, now_ns=0)
    assert s1 is not None and s1.mem_used == 20971520 - 4194304 and s1.mem_limit is None
    _write(base / "cpu.stat", "usage_usec 2250000\n")
    s2, _ = sample_cgroup(paths, mark, now_ns=500_000_000)
    assert s2 is not None and s2.cpu_percent == pytest.approx(50.0)


def test_cgroup_gone_returns_none(tmp_path: Path) -> None:
    assert resolve_cgroup_paths(tmp_path, 1, "c" * 64, pid=0) is None


@pytest.mark.parametrize("version", [1, 2])
def test_open_files_match_path_reads(tmp_path: Path, version: int) -> None:
    """The sampler's hot path (files kept open, pread) gives what a fresh read gives."""
    cid = "d" * 64
    if version == 1:
        base = tmp_path / "memory" / "docker" / cid
        _write(base / "memory.usage_in_bytes", "10485760\n")
        _write(base / "memory.stat", "total_cache 1048576\n")
        _write(base / "memory.limit_in_bytes", "268435456\n")
        cpu_file = tmp_path / "cpuacct" / "docker" / cid / "cpuacct.usage"
        _write(cpu_file, "1000000000\n")
        later = "1250000000\n"
    else:
        (tmp_path / "cgroup.controllers").write_text("memory\n")
        base = tmp_path / "docker" / cid
        _write(base / "memory.current", "10485760\n")
        _write(base / "memory.stat", "inactive_file 1048576\n")
        _write(base / "memory.max", "268435456\n")
        cpu_file = base / "cpu.stat"
        _write(cpu_file, "usage_usec 1000000\n")
        later = "usage_usec 1250000\n"
    paths = resolve_cgroup_paths(tmp_path, version, cid, pid=0)
    assert paths is not None
    files = CgroupFiles(paths)
    try:
        a, mark_a = files.sample(None, now_ns=0)
        b, _ = sample_cgroup(paths, None, now_ns=0)
        assert a is not None
        assert b is not None
        assert a == b.model_copy(update={"sampled_at": a.sampled_at})
        cpu_file.write_text(later)  # same inode: the open fd sees the new value
        a2, _ = files.sample(mark_a, now_ns=500_000_000)
        assert a2 is not None and a2.cpu_percent == pytest.approx(50.0)
        assert a2.mem_limit == 268435456 and a2.mem_used == 10485760 - 1048576
    finally:
        files.close()


@pytest.mark.parametrize("version", [1, 2])
def test_a_pid_whose_cgroup_does_not_name_the_container_is_not_followed(
    tmp_path: Path, version: int
) -> None:
    """A unix socket forwarded from another machine reports that machine's pids: here such a
    pid is an unrelated process (this test's own), whose cgroup must not be read as the
    container's. Its cgroup directories exist in the fake root; the container's do not."""
    cid = "d" * 64
    own = {}
    for line in Path(f"/proc/{os.getpid()}/cgroup").read_text().splitlines():
        _, controllers, rel = line.split(":", 2)
        for controller in controllers.split(",") if controllers else [""]:
            own[controller] = rel.lstrip("/")
    if version == 2:
        (tmp_path / "cgroup.controllers").write_text("cpu memory pids\n")
        _write(tmp_path / own[""] / "memory.current", "1\n")
    else:
        _write(tmp_path / "memory" / own.get("memory", "") / "memory.usage_in_bytes", "1\n")
        _write(tmp_path / "cpuacct" / own.get("cpuacct", "") / "cpuacct.usage", "1\n")
    assert resolve_cgroup_paths(tmp_path, version, cid, pid=os.getpid()) is None
    # The container's own directory (Docker's cgroupfs layout) is still found.
    if version == 2:
        _write(tmp_path / "docker" / cid / "memory.current", "1\n")
    else:
        _write(tmp_path / "memory" / "docker" / cid / "memory.usage_in_bytes", "1\n")
        _write(tmp_path / "cpuacct" / "docker" / cid / "cpuacct.usage", "1\n")
    found = resolve_cgroup_paths(tmp_path, version, cid, pid=os.getpid())
    assert found is not None and cid in found.memory
