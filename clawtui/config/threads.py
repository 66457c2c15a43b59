"""`[threads]`: the agents' threads, their TinyClaw home, the heartbeat and the knowledge base.

[threads]
home = "~/tinyclaw/.tinyclaw"        # threads.json + queue/ (TinyClaw's layout)
heartbeat_interval = "8m"           # one beat per thread per interval, staggered
hourly_after = "60m"                # hourly tier due after this age
daily_after = "24h"                 # daily tier due after this age
runner = "builtin"                  # or "command" (then `command` is required), or "tinyclaw"
tinyclaw_timeout = "4m"             # runner = "tinyclaw": wait this long for the reply
command = ["claude", "-p"]          # prompt is appended as the last argument
timezone = "Europe/Berlin"
master = 1                          # master thread id (else isMaster / thread 1)
kb_dir = "~/knowledge-base"
nanoclaw_db = "~/nanoclaw/store/messages.db"

[[threads.threads]]
id = 2
name = "api"
cwd = "~/src/api"
container = "agent-api"   # optional: where the agent runs
host = "local"            # optional
nanoclaw_jid = "120363@g.us"  # optional: chat of this thread in Nanoclaw's messages table
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BeforeValidator, Field, field_validator, model_validator

from clawtui.config.base import ConfigPath, Section

_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$", re.IGNORECASE)
_UNIT = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(value: Any) -> float:
    """Seconds from a number (seconds) or text like '8m', '90s', '24h', '1d'."""
    if isinstance(value, bool):
        raise ValueError(f"expected a duration like '8m' or seconds, got {value!r}")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, str):
        match = _DURATION_RE.match(value)
        if match:
            return float(match.group(1)) * _UNIT[(match.group(2) or "s").lower()]
    raise ValueError(f"expected a duration like '8m', '90s', '24h' or seconds, got {value!r}")


Duration = Annotated[float, BeforeValidator(parse_duration)]


class ThreadEntry(Section):
    """One `[[threads.threads]]` entry: a thread defined in config."""

    id: int = Field(ge=0, description="TinyClaw threadId (a number).")
    name: str = Field(default="", max_length=200, description="Shown name (default: 'Thread N').")
    cwd: ConfigPath | None = Field(default=None, description="The thread's working directory.")
    container: str | None = Field(
        default=None, max_length=128, description="Container the agent runs in (optional)."
    )
    host: str | None = Field(default=None, max_length=128, description="Host of that container.")
    nanoclaw_jid: str | None = Field(
        default=None,
        max_length=256,
        description="chat_jid of this thread in Nanoclaw's messages table (second sink).",
    )
    is_master: bool = Field(default=False, description="This is the master thread.")


class ThreadsConfig(Section):
    """The TinyClaw home shared with agents, the threads and their heartbeat (`[threads]`)."""

    home: ConfigPath | None = Field(
        default=None,
        description="A TinyClaw home folder (the one holding threads.json and queue/). "
        "Unset: <state_dir>/tinyclaw, created on first use.",
    )
    threads: list[ThreadEntry] = Field(
        default_factory=list,
        description="Threads defined here; merged with threads.json (config wins per field).",
    )
    heartbeat: bool = Field(default=True, description="Run the heartbeat scheduler.")
    heartbeat_interval: Duration = Field(
        default=480.0,
        ge=1.0,
        le=86400.0,
        description="One heartbeat per thread per interval, staggered (default 8m).",
    )
    hourly_after: Duration = Field(
        default=3600.0, ge=1.0, description="Age after which the hourly tier is due (60m)."
    )
    daily_after: Duration = Field(
        default=86400.0, ge=1.0, description="Age after which the daily tier is due (24h)."
    )
    stale_fraction: float = Field(
        default=0.8,
        gt=0.0,
        le=1.0,
        description="A beat that waited longer than this fraction of the interval is skipped.",
    )
    runner: Literal["builtin", "command", "tinyclaw"] = Field(
        default="builtin",
        description="builtin: deterministic git checks, no model; command: run `command`; "
        "tinyclaw: put the heartbeat into the thread's TinyClaw queue and wait for its reply.",
    )
    command: list[str] = Field(
        default_factory=list,
        description="External runner: argv; the tier-aware prompt is appended as the last "
        "argument and also given on stdin; cwd is the thread's cwd.",
    )
    command_timeout: Duration = Field(
        default=600.0, ge=1.0, description="Seconds an external runner may take."
    )
    tinyclaw_timeout: Duration = Field(
        default=240.0,
        ge=1.0,
        description='runner = "tinyclaw": how long to wait for the reply in queue/outgoing.',
    )
    timezone: str = Field(default="UTC", description="IANA zone shown in heartbeat prompts.")
    master: int | None = Field(
        default=None, ge=0, description="Master thread id (default: isMaster, else thread 1)."
    )
    kb_dir: ConfigPath | None = Field(
        default=None, description="The master knowledge base (a local-only git repo)."
    )
    nanoclaw_db: ConfigPath | None = Field(
        default=None,
        description="Nanoclaw's store/messages.db: deliveries to threads with a nanoclaw_jid "
        "are also inserted into its messages table.",
    )
    stale_branch_days: float = Field(
        default=7.0, gt=0, description="Branches without commits this long are flagged."
    )

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {value!r}: use an IANA name like 'UTC' or 'Europe/Berlin'"
            ) from None
        return value

    @model_validator(mode="after")
    def _check(self) -> ThreadsConfig:
        seen: set[int] = set()
        for entry in self.threads:
            if entry.id in seen:
                raise ValueError(f"thread id {entry.id} appears twice in [[threads.threads]]")
            seen.add(entry.id)
        if self.runner == "command" and not self.command:
            raise ValueError('runner = "command" needs command = ["program", "arg", ...]')
        return self

    def resolved_home(self, state_dir: Path) -> Path:
        """`home`, or `<state_dir>/tinyclaw` when it is not set."""
        return self.home if self.home is not None else state_dir / "tinyclaw"
