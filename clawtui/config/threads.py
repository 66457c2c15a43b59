"""`[threads]`: the agents' threads, their TinyClaw home, the heartbeat and the knowledge base.

[threads]
home = "~/tinyclaw/.borg"           # threads.json + queue/ (TinyClaw's layout; .tinyclaw before)
queue_file_mode = "0640"            # mode of the queue files clawtui writes
queue_file_owner = "1000:1000"      # optional uid[:gid] they are given (needs the right to chown)
queue_consumer = "1000:1000"        # optional uid[:gid] TinyClaw reads as (default: owner of home)
heartbeat_interval = "8m"           # one beat per thread per interval, staggered
hourly_after = "60m"                # hourly tier due after this age
daily_after = "24h"                 # daily tier due after this age
runner = "builtin"                  # or "command" (then `command` is required), or "tinyclaw"
tinyclaw_timeout = "4m"             # runner = "tinyclaw": wait this long for the reply
command = ["claude", "-p"]          # prompt is appended as the last argument
timezone = "Europe/Berlin"
master = 1                          # master thread id (else isMaster / thread 1)
kb_dir = "~/knowledge-base"
nanoclaw_db = "~/nanoclaw/data/v2.db"   # Nanoclaw v2; v1: ~/nanoclaw/store/messages.db
nanoclaw_assistant = "Andy"          # v1: ASSISTANT_NAME, the default @trigger of a group

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
        description="A TinyClaw home folder (the one holding threads.json and queue/): "
        "`.borg` in TinyClaw's checkout (`.tinyclaw` in older ones); the checkout itself works "
        "too (its .borg, else .tinyclaw, is used). Unset: <state_dir>/tinyclaw, created on "
        "first use.",
    )
    queue_file_mode: int = Field(
        default=0o640,
        ge=0,
        le=0o777,
        description='Mode of the queue files clawtui writes, e.g. "0640" or "0644".',
    )
    queue_file_owner: tuple[int, int] | None = Field(
        default=None,
        description='"uid" or "uid:gid" the queue files are given before they appear (clawtui '
        "must be allowed to chown: root, or the same uid). Unset: whoever runs clawtui.",
    )
    queue_consumer: tuple[int, int] | None = Field(
        default=None,
        description='"uid" or "uid:gid" TinyClaw reads the queue as (its container runs as '
        "1000). Unset: the owner of the home folder. `clawtui config check` and the Threads "
        "panel say when it cannot read the files clawtui writes.",
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
        description="Nanoclaw's database: data/v2.db (v2: rows go into each session's "
        "inbound.db messages_in) or store/messages.db (v1: its messages table), detected from "
        "the tables; or the Nanoclaw checkout. Deliveries to threads with a nanoclaw_jid are "
        "also written there.",
    )
    nanoclaw_assistant: str = Field(
        default="Andy",
        min_length=1,
        max_length=100,
        description="Nanoclaw v1's ASSISTANT_NAME: messages to a non-main group that requires "
        "a trigger start with its trigger_pattern, or @<this> when that is empty.",
    )
    stale_branch_days: float = Field(
        default=7.0, gt=0, description="Branches without commits this long are flagged."
    )

    @field_validator("queue_file_mode", mode="before")
    @classmethod
    def _mode(cls, value: Any) -> Any:
        if isinstance(value, str):
            text = value.strip().lower().removeprefix("0o")
            if not re.fullmatch(r"[0-7]{3,4}", text):
                raise ValueError(f'expected an octal file mode like "0640", got {value!r}')
            return int(text, 8)
        return value

    @field_validator("queue_file_owner", "queue_consumer", mode="before")
    @classmethod
    def _uid_gid(cls, value: Any) -> Any:
        if isinstance(value, bool):
            raise ValueError(f'expected "uid" or "uid:gid", got {value!r}')
        if isinstance(value, int):
            return (value, value)
        if isinstance(value, str):
            match = re.fullmatch(r"\s*(\d{1,10})\s*(?::\s*(\d{1,10})\s*)?", value)
            if not match:
                raise ValueError(f'expected "uid" or "uid:gid" (numbers), got {value!r}')
            uid = int(match.group(1))
            return (uid, int(match.group(2)) if match.group(2) else uid)
        return value

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
        """`home`, or `<state_dir>/tinyclaw` when it is not set. A TinyClaw checkout (a folder
        with `.borg/` or, before the rename, `.tinyclaw/` but no threads.json or queue/ of its
        own) stands for that home folder."""
        if self.home is None:
            return state_dir / "tinyclaw"
        return tinyclaw_home(Path(self.home))


def tinyclaw_home(path: Path) -> Path:
    """`path`, or its `.borg` / `.tinyclaw` when `path` is a TinyClaw checkout."""
    if (path / "threads.json").exists() or (path / "queue").is_dir():
        return path
    for name in (".borg", ".tinyclaw"):
        if (path / name).is_dir():
            return path / name
    return path
