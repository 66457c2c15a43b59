"""Advice `clawtui config check` gives about working with TinyClaw and Nanoclaw.

These are not errors (the settings load and run); they are setups that work against the other
project: queue files TinyClaw's user cannot read, or a relay secret shared by every agent.
"""

from __future__ import annotations

import os
from pathlib import Path

from clawtui.config.base import ConfigIssue
from clawtui.config.settings import Settings
from clawtui.config.threads import ThreadsConfig


def queue_access_problem(
    cfg: ThreadsConfig, home: Path, *, uid: int | None = None, gid: int | None = None
) -> str | None:
    """Why TinyClaw (`queue_consumer`, default: the owner of `home`) cannot read the queue
    files clawtui writes (`queue_file_mode`, owned by `queue_file_owner` or clawtui's own
    uid/gid), or None when it can or when the consumer is unknown. `uid`/`gid`: clawtui's
    effective ids (default: this process's)."""
    uid = os.geteuid() if uid is None else uid
    gid = os.getegid() if gid is None else gid
    owner = cfg.queue_file_owner or (uid, gid)
    problems: list[str] = []
    if cfg.queue_file_owner is not None and uid != 0 and owner[0] != uid:
        problems.append(
            f"clawtui runs as uid {uid} and cannot give its queue files to uid {owner[0]} "
            "([threads] queue_file_owner needs root or that same uid)"
        )
    consumer = cfg.queue_consumer
    if consumer is None:
        try:
            st = home.stat()
        except OSError:
            return "; ".join(problems) or None
        consumer = (st.st_uid, st.st_gid)
    mode = cfg.queue_file_mode
    c_uid, c_gid = consumer
    readable = (
        c_uid == 0
        or (c_uid == owner[0] and mode & 0o400)
        or (c_gid == owner[1] and mode & 0o040)
        or mode & 0o004
    )
    if not readable:
        problems.append(
            f"TinyClaw reads {home / 'queue'} as uid:gid {c_uid}:{c_gid}, but clawtui writes "
            f"its queue files as {owner[0]}:{owner[1]} with mode {mode:04o}: TinyClaw cannot "
            f'read them. Set [threads] queue_file_owner = "{c_uid}:{c_gid}" (clawtui as root '
            f'or that user), a shared gid, or queue_file_mode = "0644"'
        )
    return "; ".join(problems) or None


def interop_warnings(settings: Settings) -> list[ConfigIssue]:
    """Setups that load but work against TinyClaw or Nanoclaw (empty: none)."""
    label = str(settings.source) if settings.source is not None else "(defaults)"
    out: list[ConfigIssue] = []
    threads = settings.threads
    if threads.home is not None:
        home = threads.resolved_home(settings.engine.resolved_state_dir)
        problem = queue_access_problem(threads, home)
        if problem:
            out.append(ConfigIssue(label, "threads.queue_file_mode", problem))
    relay = settings.relay
    if getattr(relay, "shared_secret_env", None):
        out.append(
            ConfigIssue(
                label,
                "relay.shared_secret_env",
                "shared-secret mode: every agent signs with the same secret and the relay "
                "trusts `from`, so any agent holding the secret can speak as any other (the "
                "route whitelist, hop limit and rate limit still apply); per-agent secrets "
                "([relay.agents]) do not have this weakness",
            )
        )
    return out
