"""`[escalations]`, `[brief]`, `[[monitors]]` and `[autoheal]`: when the human is asked.

* `[escalations]`: the stuck protocol (no progress for `stuck_after` seconds raises an
  escalation; one undecided for `brief_after` goes into the next morning brief).
* `[brief]`: the morning brief (time of day and time zone).
* `[[monitors]]`: hosts checked over SSH (and optional HTTP status pages), with the anomaly
  thresholds of seed 002 (Sam).
* `[autoheal]`: agent config files checked and repaired on an interval (seed 001 §3.11).
"""

from __future__ import annotations

import re
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator

from clawtui.config.base import ConfigPath, Section

_TIME_RE = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class EscalationsConfig(Section):
    """The stuck protocol (`[escalations]`)."""

    stuck_after: float = Field(
        default=3600.0,
        ge=1,
        le=7 * 86400,
        description="Seconds a thread may go without progress before the engine raises an "
        "escalation on its behalf (seed: 1 h).",
    )
    stuck_check_interval: float = Field(
        default=60.0,
        ge=0.05,
        le=3600,
        description="Seconds between two runs of the stuck detector.",
    )
    brief_after: float = Field(
        default=4 * 3600.0,
        ge=0,
        le=30 * 86400,
        description="Seconds an escalation may stay undecided before the morning brief lists "
        "it (seed: 4 h).",
    )
    stuck_detector: bool = Field(
        default=True, description="Raise escalations for threads without progress."
    )


class BriefConfig(Section):
    """The morning brief (`[brief]`)."""

    enabled: bool = Field(default=True, description="Build and send the morning brief.")
    time: str = Field(default="07:00", description="Time of day the brief is built, 'HH:MM'.")
    timezone: str = Field(default="UTC", description="IANA time zone of `time`, e.g. 'UTC'.")

    @field_validator("time")
    @classmethod
    def _time(cls, value: str) -> str:
        if not _TIME_RE.fullmatch(value):
            raise ValueError(f"expected a time of day like '07:00', got {value!r}")
        return value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {value!r} (use an IANA name like 'UTC' or 'Europe/Brussels')"
            ) from None
        return value

    def hour_minute(self) -> tuple[int, int]:
        hour, minute = self.time.split(":")
        return int(hour), int(minute)


class Thresholds(Section):
    """Anomaly thresholds (seed 002, Sam)."""

    cpu_percent: float = Field(default=80.0, gt=0, le=100_000, description="CPU % of a container.")
    cpu_checks: int = Field(
        default=2, ge=1, le=100, description="Consecutive checks above cpu_percent."
    )
    memory_percent: float = Field(
        default=85.0, gt=0, le=100, description="Memory % of its limit, any container."
    )
    disk_percent: float = Field(default=80.0, gt=0, le=100, description="Use % of a filesystem.")
    disk_growth_points: float = Field(
        default=5.0, gt=0, le=100, description="Growth in points between two checks."
    )
    restarts_per_hour: int = Field(
        default=3, ge=1, le=10_000, description="Restarts of one container in the last hour."
    )
    host_memory_percent: float = Field(
        default=90.0,
        gt=0,
        le=100,
        description="Memory % of the host in use (`free`: total - available); the seed gives "
        "no host figure, so 90.",
    )


class MonitorConfig(Section):
    """One monitored host (`[[monitors]]`)."""

    name: str = Field(description="Name shown in incidents, e.g. 'staging'.")
    host: str | None = Field(default=None, description="SSH host; absent: status page only.")
    port: int = Field(default=22, ge=1, le=65535, description="SSH port.")
    username: str = Field(default="root", min_length=1, description="SSH user.")
    identity_file: ConfigPath | None = Field(
        default=None, description="Private key; absent: the ssh-agent."
    )
    known_hosts: ConfigPath | None = Field(
        default=None,
        description="known_hosts file the host key is checked against; absent: clawtui's own "
        "(<state_dir>/known_hosts).",
    )
    status_url: str | None = Field(
        default=None,
        description="An HTTP status page; any service on it reported DOWN or DEGRADED is an "
        "anomaly.",
    )
    disk_mounts: list[str] | None = Field(
        default=None,
        description="Mount points whose use is checked; absent: every real filesystem.",
    )
    docker_filters: list[str] = Field(
        default_factory=list,
        description="`docker ps --filter` values limiting the containers checked, e.g. "
        "['label=com.example.stack=staging'].",
    )
    agent_processes: list[str] = Field(
        default_factory=list,
        description="Process names (as `pgrep -x` sees them) that must be running on the host, "
        "e.g. the build agent ['Agent.Listener']; one not running is an anomaly.",
    )
    fix_thread_id: int | None = Field(
        default=None,
        ge=0,
        description="TinyClaw thread of the dev agent that gets fixes (the seed's Cody): an "
        "incident's diagnostic report is put into its queue.",
    )
    hand_off_on_detect: bool = Field(
        default=True,
        description="Hand the report to fix_thread_id when an incident is detected or recurs; "
        "false: only when asked (`clawtui incidents hand-off ID`).",
    )
    interval: float = Field(
        default=3600.0, ge=0.2, le=86400, description="Seconds between two checks (seed: 1 h)."
    )
    timeout: float = Field(default=30.0, ge=1, le=600, description="Seconds one check may take.")
    thresholds: Thresholds = Field(default_factory=Thresholds, description="Anomaly thresholds.")

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _NAME_RE.fullmatch(value):
            raise ValueError(f"monitor name {value!r}: use 1-64 letters, digits, '.', '_', '-'")
        return value

    @field_validator("docker_filters")
    @classmethod
    def _filters(cls, value: list[str]) -> list[str]:
        for item in value:
            if not re.fullmatch(r"[A-Za-z_]+=[\x21-\x7e]{1,200}", item):
                raise ValueError(
                    f"docker filter {item[:80]!r}: expected KEY=VALUE without spaces, "
                    "e.g. 'label=stack=staging'"
                )
        return value

    @field_validator("agent_processes")
    @classmethod
    def _processes(cls, value: list[str]) -> list[str]:
        for item in value:
            if not re.fullmatch(r"[A-Za-z0-9._:+@-]{1,15}", item):
                raise ValueError(
                    f"agent process {item[:80]!r}: expected a process name of 1-15 letters, "
                    "digits or ._:+@- (the kernel keeps 15 characters of a name)"
                )
        return value

    @field_validator("status_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https?://[^\s/]+", value):
            raise ValueError(f"status_url must be an http(s) URL, got {value[:80]!r}")
        return value


class AutohealFile(Section):
    """One agent config file autoheal watches."""

    path: ConfigPath = Field(description="The config file (JSON or TOML).")
    format: Literal["json", "toml", "auto"] = Field(
        default="auto", description="File format; 'auto' goes by the file suffix."
    )
    agent: str = Field(default="autoheal", min_length=1, description="Agent the file belongs to.")
    allowed_keys: list[str] | None = Field(
        default=None,
        description="Top-level keys allowed; any other is unknown and dropped. Absent: any.",
    )
    forbidden_keys: list[str] = Field(
        default_factory=lambda: ["meta"],
        description="Top-level keys that are always dropped (seed: the stale 'meta' block).",
    )


class AutohealAgent(Section):
    """What `[[autoheal.containers]]` and `[[autoheal.hosts]]` entries share: the agent's config
    files (dated backups in `backups/` beside each file) and its gateway process."""

    files: list[str] = Field(default_factory=list, description="Absolute paths of config files.")
    format: Literal["json", "toml", "auto"] = Field(
        default="auto", description="File format; 'auto' goes by each file's suffix."
    )
    agent: str = Field(default="autoheal", min_length=1, description="Agent the files belong to.")
    allowed_keys: list[str] | None = Field(
        default=None, description="Top-level keys allowed; absent: any."
    )
    forbidden_keys: list[str] = Field(
        default_factory=lambda: ["meta"], description="Top-level keys that are always dropped."
    )
    gateway_process: str | None = Field(
        default=None,
        max_length=15,
        description="Process name (/proc/<pid>/comm) of the gateway; absent: not watched.",
    )
    restart_command: list[str] = Field(
        default_factory=lambda: ["supervisorctl", "restart", "clawdbot-gateway"],
        min_length=1,
        description="Run where the gateway runs (argv: no shell in a container, each word "
        "quoted over SSH) when the gateway is not alive or restarts in a loop.",
    )
    max_restarts_per_hour: int = Field(
        default=3,
        ge=1,
        le=1000,
        description="Gateway restarts (ours and its own) in an hour that raise an escalation.",
    )

    @field_validator("files")
    @classmethod
    def _absolute(cls, value: list[str]) -> list[str]:
        for item in value:
            if (
                not item.startswith("/")
                or "/../" in item + "/"
                or item.endswith("/")
                or any(ord(c) < 32 for c in item)
            ):
                raise ValueError(f"config file {item[:80]!r}: expected an absolute file path")
        return value


class AutohealContainer(AutohealAgent):
    """An agent container autoheal watches (`[[autoheal.containers]]`, seed 001 §3.11): config
    files inside it (Docker archive API) and its gateway process."""

    container: str = Field(min_length=1, max_length=128, description="Container name or id.")
    host: str | None = Field(
        default=None, description="Docker host (a [[hosts]] name); absent: the first host."
    )


class AutohealHost(AutohealAgent):
    """An agent on a monitored host (`[[autoheal.hosts]]`, seed 001 §3.11): config files and its
    gateway process, reached over the SSH connection of a `[[monitors]]` entry (host key
    checked; SFTP for the files, argv-quoted commands)."""

    monitor: str = Field(description="The [[monitors]] entry (by name) whose host this is.")


class AutohealConfig(Section):
    """Agent config files checked and repaired on an interval (`[autoheal]`)."""

    interval: float = Field(
        default=900.0, ge=0.05, le=86400, description="Seconds between checks (seed: 15 min)."
    )
    keep_backups: int = Field(default=20, ge=1, le=1000, description="Dated backups kept.")
    backup_dir: ConfigPath | None = Field(
        default=None, description="Backups folder; absent: 'backups/' next to each file."
    )
    files: list[AutohealFile] = Field(default_factory=list, description="Files to watch.")
    containers: list[AutohealContainer] = Field(
        default_factory=list, description="Agent containers: config files inside, gateway."
    )
    hosts: list[AutohealHost] = Field(
        default_factory=list,
        description="Agents on [[monitors]] hosts, over SSH: config files, gateway.",
    )


def check_autoheal(
    autoheal: AutohealConfig, monitors: list[MonitorConfig], hosts: list[str]
) -> list[str]:
    """Cross-section problems of `[autoheal]` (known monitor and host names), as messages."""
    problems: list[str] = []
    by_name = {m.name: m for m in monitors}
    for index, entry in enumerate(autoheal.hosts):
        monitor = by_name.get(entry.monitor)
        if monitor is None:
            problems.append(
                f"autoheal.hosts[{index}]: unknown monitor {entry.monitor!r} "
                f"(known: {', '.join(sorted(by_name)) or 'none'})"
            )
        elif monitor.host is None:
            problems.append(
                f"autoheal.hosts[{index}]: monitor {entry.monitor!r} has no SSH host "
                "(a status page only)"
            )
    for index, box in enumerate(autoheal.containers):
        if box.host is not None and box.host not in hosts:
            problems.append(
                f"autoheal.containers[{index}] ({box.container}): unknown host {box.host!r}"
            )
    return problems
