"""Outages a host check sees besides thresholds (seed 002 §12, issue 14).

* a container the host should be running (the monitor's Docker filters, or every container)
  that is stopped, exited or dead: signal `container:<name>`;
* a Docker daemon that does not answer (`docker ps` failing): signal `docker`;
* a process from the monitor's `agent_processes` (e.g. the build agent) not running, checked
  with `pgrep -x` in the same SSH session: signal `process:<name>`;
* host memory in use (`free`: total - available, or used when `free` has no available
  column) above `thresholds.host_memory_percent`: signal `memory:host`.

Pure functions over a `Snapshot`; what the host printed is untrusted and parsed leniently.
"""

from __future__ import annotations

import shlex
from typing import TYPE_CHECKING

from clawtui.engine.api.escalations import Report

if TYPE_CHECKING:
    from clawtui.config.escalations import Thresholds
    from clawtui.engine.health.monitors import Anomaly, Snapshot

DOWN_STATES = frozenset({"exited", "dead", "stopped"})


def process_script(names: list[str]) -> str:
    """Shell lines printing `up NAME` / `down NAME` for every name (section `@@procs`)."""
    if not names:
        return ""
    quoted = " ".join(shlex.quote(n) for n in names)
    return (
        "echo '@@procs'\n"
        f'for p in {quoted}; do if pgrep -x "$p" >/dev/null 2>&1; '
        'then echo "up $p"; else echo "down $p"; fi; done\n'
    )


def parse_processes(lines: list[str], wanted: list[str]) -> dict[str, bool]:
    """{name: running} for the wanted names the host reported on; other lines are skipped."""
    found: dict[str, bool] = {}
    for line in lines:
        state, _, name = line.strip().partition(" ")
        if name in wanted and state in ("up", "down"):
            found[name] = state == "up"
    return found


def host_memory_percent(snap: Snapshot) -> float | None:
    if not snap.mem_total or snap.mem_total <= 0:
        return None
    if snap.mem_available is not None:
        in_use = snap.mem_total - snap.mem_available
    elif snap.mem_used is not None:
        in_use = snap.mem_used
    else:
        return None
    return max(0.0, min(100.0, in_use / snap.mem_total * 100))


def evaluate_outages(
    name: str, snap: Snapshot, limits: Thresholds, processes: list[str]
) -> tuple[list[Anomaly], set[str]]:
    """Outage anomalies of one check, and every signal that was checked."""
    from clawtui.engine.health.monitors import Anomaly

    anomalies: list[Anomaly] = []
    checked: set[str] = {"docker"}
    if not snap.docker_ok:
        error = next((e for e in snap.errors if e.startswith("docker ps")), "docker ps failed")
        anomalies.append(
            Anomaly(
                "docker",
                Report(
                    summary=f"the Docker daemon on {name} does not answer",
                    severity="critical",
                    affected_services=["docker"],
                    root_cause="dockerd is stopped, hung or its socket is gone",
                    evidence=[error[:2000]],
                    immediate_action="systemctl status docker; restart it "
                    "(systemctl restart docker) and check the containers came back",
                    recommended_fix="find why dockerd stopped in `journalctl -u docker`",
                ),
            )
        )
    else:
        for c in snap.containers.values():
            signal = f"container:{c.name}"
            checked.add(signal)
            if c.status in DOWN_STATES:
                anomalies.append(
                    Anomaly(
                        signal,
                        Report(
                            summary=f"container {c.name} on {name} is {c.status}",
                            severity="critical",
                            affected_services=[c.name],
                            root_cause="the container stopped and was not restarted",
                            evidence=[f"docker ps -a: {c.name} status={c.status}"],
                            immediate_action=f"docker start {c.name}; read "
                            f"`docker logs --tail 200 {c.name}`",
                            recommended_fix="fix the exit named in the container's log and "
                            "give it a restart policy",
                        ),
                    )
                )
    for proc in processes:
        running = snap.processes.get(proc)
        if running is None:
            continue  # the host did not report on it: not checked
        signal = f"process:{proc}"
        checked.add(signal)
        if not running:
            anomalies.append(
                Anomaly(
                    signal,
                    Report(
                        summary=f"process {proc} is not running on {name}",
                        severity="high",
                        affected_services=[proc],
                        root_cause=f"{proc} exited or was killed",
                        evidence=[f"pgrep -x {proc}: no process"],
                        immediate_action=f"start {proc} again (its service unit or script)",
                        recommended_fix=f"find why {proc} stopped in its log; run it under a "
                        "supervisor that restarts it",
                    ),
                )
            )
    percent = host_memory_percent(snap)
    if percent is not None:
        checked.add("memory:host")
        if percent > limits.host_memory_percent:
            anomalies.append(
                Anomaly(
                    "memory:host",
                    Report(
                        summary=f"host memory on {name}: {percent:.0f}% in use "
                        f"(threshold {limits.host_memory_percent:.0f}%)",
                        severity="high" if percent >= 95 else "medium",
                        affected_services=[name],
                        evidence=[
                            f"free -b: total={snap.mem_total} used={snap.mem_used} "
                            f"available={snap.mem_available}"
                        ],
                        immediate_action="find the biggest processes (ps aux --sort=-rss | head) "
                        "and containers (docker stats --no-stream)",
                        recommended_fix="set memory limits on the containers or add memory",
                    ),
                )
            )
    return anomalies, checked
