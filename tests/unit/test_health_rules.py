"""Parsing what a monitored host answers and the anomaly thresholds of seed 002 (Sam)."""

from __future__ import annotations

import json

from clawtui.config.escalations import Thresholds
from clawtui.engine.health.monitors import (
    MonitorMemory,
    Snapshot,
    build_script,
    evaluate,
    parse_output,
    parse_status_page,
)

OUTPUT = """@@df
Filesystem     Type     1024-blocks    Used Available Capacity Mounted on
overlay        overlay    264212084 24595892  81795020      24% /
tmpfs          tmpfs           1024      904       120      89% /mnt/small
proc           proc               0        0         0       -  /proc
garbage line
@@free
               total        used        free      shared  buff/cache   available
Mem:      8000000000  2000000000  6000000000           0           0  6000000000
@@nproc
2
@@load
1.90 0.50 0.20 1/100 42
@@uptime
 13:00:00 up 1 day,  load average: 1.90, 0.50, 0.20
@@ps
aaa
bbb
@@inspect
aaa|/web|running|0|2020-01-01T00:00:00.000000000Z
bbb|/worker|restarting|7|2020-01-01T00:00:00Z
not|enough
@@stats
aaa|91.5%|88.0%
zzz|1%|1%
@@end
"""


def test_parse_output_skips_what_it_does_not_understand() -> None:
    snap = parse_output(OUTPUT, ts=1000.0)
    assert [(d.mount, d.percent) for d in snap.disks] == [("/", 24.0), ("/mnt/small", 89.0)]
    assert snap.mem_total == 8_000_000_000 and snap.ncpu == 2 and snap.load1 == 1.9
    assert snap.docker_ok
    assert set(snap.containers) == {"aaa", "bbb"}
    assert snap.containers["aaa"].cpu_percent == 91.5
    assert snap.containers["aaa"].mem_percent == 88.0
    assert snap.containers["bbb"].restart_count == 7
    assert not parse_output("@@ps\nboom\n@@dockerfail\n").docker_ok


def test_thresholds() -> None:
    limits = Thresholds()
    memory = MonitorMemory()
    snap = parse_output(OUTPUT, ts=1000.0)
    found, checked = evaluate("staging", snap, memory, limits)
    signals = {a.signal for a in found}
    assert "disk:/mnt/small" in signals and "disk:/" not in signals
    assert "memory:web" in signals
    assert "cpu:web" not in signals  # one check above 80% is not enough
    assert "cpu:host" not in signals  # 95% load once
    assert "restarts:worker" not in signals  # restarts before the first check don't count
    assert {"disk:/", "restarts:web", "memory:web", "cpu:web"} <= checked
    assert "disk:/proc" not in checked

    second = parse_output(OUTPUT.replace("bbb|/worker|restarting|7", "bbb|/worker|restarting|10"))
    second.ts = 1060.0
    found, _ = evaluate("staging", second, memory, limits)
    signals = {a.signal for a in found}
    assert {"cpu:web", "cpu:host", "restarts:worker"} <= signals  # 2 checks; +3 restarts
    report = next(a.report for a in found if a.signal == "restarts:worker")
    assert "restarted 3 times" in report.summary and report.recommended_fix


def test_disk_growth_between_checks() -> None:
    limits = Thresholds()
    memory = MonitorMemory()
    grow = OUTPUT.replace("24% /\n", "40% /\n")
    evaluate("h", parse_output(OUTPUT), memory, limits, disk_mounts=["/"])
    found, _ = evaluate("h", parse_output(grow), memory, limits, disk_mounts=["/"])
    assert [a.signal for a in found if a.signal.startswith("disk:")] == ["disk:/"]
    assert "grew 16 points" in found[0].report.summary


def test_restart_window_is_one_hour() -> None:
    limits = Thresholds()
    memory = MonitorMemory()
    base = OUTPUT.replace("|7|", "|0|")
    evaluate("h", parse_output(base, ts=0.0), memory, limits)
    later = parse_output(base.replace("bbb|/worker|restarting|0", "bbb|/worker|running|5"))
    later.ts = 4000.0  # more than an hour after the first sample
    found, _ = evaluate("h", later, memory, limits)
    assert "restarts:worker" in {a.signal for a in found}  # 5 since the newest sample in window
    quiet = parse_output(base.replace("bbb|/worker|restarting|0", "bbb|/worker|running|5"))
    quiet.ts = 8000.0
    found, _ = evaluate("h", quiet, memory, limits)
    assert "restarts:worker" not in {a.signal for a in found}


def test_status_page() -> None:
    page = {"services": [{"name": "api", "status": "UP"}, {"name": "db", "status": "DEGRADED"}]}
    assert parse_status_page(json.dumps(page)) == [("db", "DEGRADED")]
    assert parse_status_page('{"api": "down", "web": "up"}') == [("api", "DOWN")]
    assert parse_status_page("api  OK\nworker  DOWN since 10:00\n") == [("worker", "DOWN")]
    assert parse_status_page("all good") == []


def test_script_quotes_filters() -> None:
    script = build_script(["label=a=b;rm -rf /"])
    assert "--filter 'label=a=b;rm -rf /'" in script


def test_empty_snapshot_is_quiet() -> None:
    found, checked = evaluate("h", Snapshot(ts=0.0), MonitorMemory(), Thresholds())
    assert found == [] and checked == set()


def test_outages_stopped_container_dead_process_host_memory_and_docker() -> None:
    from clawtui.engine.health.outages import evaluate_outages

    text = OUTPUT.replace("bbb|/worker|restarting|7", "bbb|/worker|exited|7").replace(
        "@@end", "@@procs\nup sshd\ndown buildagent\nup notwanted\nbogus\n@@end"
    )
    snap = parse_output(text, ts=1000.0, processes=["sshd", "buildagent"])
    assert snap.processes == {"sshd": True, "buildagent": False}
    assert snap.mem_available == 6_000_000_000
    limits = Thresholds(host_memory_percent=20.0)  # 25 % in use (total - available)
    found, checked = evaluate_outages("staging", snap, limits, ["sshd", "buildagent"])
    assert {a.signal for a in found} == {"container:worker", "process:buildagent", "memory:host"}
    assert {"docker", "container:web", "process:sshd", "memory:host"} <= checked
    found, _ = evaluate_outages("staging", snap, Thresholds(), ["sshd"])
    assert {a.signal for a in found} == {"container:worker"}  # 25 % < 90 %

    broken = parse_output("@@ps\nCannot connect to the Docker daemon\n@@dockerfail\n@@end\n")
    found, checked = evaluate_outages("staging", broken, Thresholds(), [])
    assert [a.signal for a in found] == ["docker"] and checked == {"docker"}
    assert "Cannot connect" in found[0].report.evidence[0]


def test_process_names_are_quoted_in_the_script() -> None:
    script = build_script([], ["Agent.Listener", "a'b"])
    assert "pgrep -x" in script and "'a'\"'\"'b'" in script
    assert "@@procs" not in build_script([], [])
