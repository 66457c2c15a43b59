"""Autoheal of agents on other machines, whatever the way there (seed 001 §3.11, issue 14).

One implementation of the decisions, two transports: `containers.py` reaches an agent's
container through the Docker API of its host, `hosts.py` a monitored host over SSH. Both give
a `Transport` (read a config file, list / read / write dated backups, replace a file, run an
argv), and `AgentHealer` decides and reports the same way for both:

* each config file in `files` must parse (JSON or TOML, by suffix or `format`) to a table with
  no forbidden key and, when `allowed_keys` is set, no unknown key. On failure a dated backup
  `<dir>/backups/<name>.backup.YYYYMMDD-HHMMSS-ffffff` of what was there is written beside it,
  the invalid keys are dropped (it parses) or the newest valid backup restored (it does not),
  and the last `keep_backups` backups are kept. A file that is a symbolic link is refused and
  reported, never followed. A failed repair is an escalation (dedupe key
  `autoheal:<where>:<path>`), resolved by a later good check.
* `gateway_process`: alive when a live process of that name exists (`PIDS_SCRIPT`, the name
  passed as an argument). Not alive → `restart_command` is run; a gateway that restarted on
  its own twice within the hour since our last restart (its PIDs changed: a crash loop) is
  restarted the same way. `max_restarts_per_hour` restarts (ours and its own) in an hour raise
  an escalation (`autoheal:gateway:<where>`), resolved once it stays up for an hour.

`<where>` is `<host>/<container>` for a container and the monitor's name for a host. Outcomes
go to the activity log and as `EventKind.INCIDENT` with `{"autoheal": AutohealOutcome,
"change": "autoheal"}`.
"""

from __future__ import annotations

import logging
import time
import tomllib
from collections import deque
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from clawtui.engine.api.escalations import AutohealOutcome, NewEscalation, Severity, Source
from clawtui.engine.autoheal.repair import dump, invalid_keys, parse, report_outcome
from clawtui.engine.tasks import BackgroundTask, every

if TYPE_CHECKING:
    from clawtui.config.escalations import AutohealAgent
    from clawtui.engine.context import Context
    from clawtui.engine.escalations.manager import Escalations

log = logging.getLogger(__name__)
MAX_BACKUPS_BYTES = 64 << 20
"""Most bytes of backups read to find a valid one."""
HOUR = 3600.0
PIDS_SCRIPT = (  # PIDs whose comm is $1, zombies (state Z: dead, not reaped) left out
    'for d in /proc/[0-9]*; do [ "$(cat "$d/comm" 2>/dev/null)" = "$1" ] || continue; st=; '
    'while read -r k v _; do [ "$k" = State: ] && st=$v && break; done < "$d/status"; '
    '[ "$st" = Z ] || echo "${d#/proc/}"; done 2>/dev/null; exit 0'
)


# -- pure ----------------------------------------------------------------------------------------
def file_format(entry: AutohealAgent, path: str) -> str:
    if entry.format != "auto":
        return entry.format
    return "toml" if path.lower().endswith(".toml") else "json"


@dataclass
class Plan:
    action: str  # healthy | dropped_keys | restored | failed
    data: bytes | None = None
    problems: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    restored_from: str | None = None


def plan_repair(
    data: bytes, fmt: str, entry: AutohealAgent, backups: list[tuple[str, bytes]]
) -> Plan:
    """What to do with a file's bytes; `backups` newest first."""
    problems: list[str] = []
    value: dict[str, Any] | None = None
    try:
        value = parse(data, fmt)
    except (ValueError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        problems.append(f"does not parse as {fmt.upper()}: {str(exc)[:300]}")
    if value is not None:
        bad = invalid_keys(value, entry)
        if not bad:
            return Plan("healthy")
        problems += [f"invalid key {k!r}" for k in bad]
        try:
            fixed = dump({k: v for k, v in value.items() if k not in bad}, fmt)
        except ValueError as exc:  # then restore a backup, as for a broken file
            problems.append(f"cannot drop the invalid keys: {exc}")
        else:
            return Plan("dropped_keys", fixed, problems, bad)
    for name, candidate in backups:
        try:
            cvalue = parse(candidate, fmt)
        except (ValueError, UnicodeDecodeError, tomllib.TOMLDecodeError):
            continue
        if not invalid_keys(cvalue, entry):
            return Plan("restored", candidate, problems, restored_from=name)
    return Plan("failed", None, [*problems, "no valid backup to restore"])


def backup_name(name: str) -> str:
    return f"{name}.backup.{datetime.now(UTC).strftime('%Y%m%d-%H%M%S-%f')}"


# -- the transport -------------------------------------------------------------------------------
class Transport(Protocol):
    """How autoheal reaches one agent's files and processes (a container, a host)."""

    async def read(self, path: str) -> bytes:
        """The file's bytes (at most MAX_CONFIG). FileNotFoundError when it does not exist;
        ValueError when it is a link (never followed), not a regular file, or too large."""
        ...

    async def backups(self, folder: str, prefix: str) -> list[tuple[str, bytes]]:
        """(name, bytes) of the regular files in `folder` whose names start with `prefix`."""
        ...

    async def write_backup(self, folder: str, name: str, data: bytes) -> None:
        """Write `folder/name` (0600), creating `folder` (0700) when missing."""
        ...

    async def replace(self, path: str, data: bytes) -> None:
        """Replace the file with `data` (readers see the old or the new file)."""
        ...

    async def names(self, folder: str) -> list[str] | None:
        """Names in `folder`; None when it cannot be listed."""
        ...

    async def remove(self, paths: Sequence[str]) -> None: ...

    async def run(self, argv: Sequence[str]) -> tuple[int, str]:
        """Run a program (argv, no shell interpretation of its words); (exit code, output)."""
        ...


@dataclass
class GatewayState:
    pids: set[str] = field(default_factory=set)
    restarts: deque[tuple[float, str]] = field(default_factory=deque)  # (ts, "ours" | "own")
    last_ours: float = 0.0


E = TypeVar("E", bound="AutohealAgent")


class AgentHealer(Generic[E]):
    """Checks the files and gateways of one kind of autoheal entry (an engine component)."""

    task_name = "escalations:autoheal-agents"

    def __init__(self, ctx: Context, escalations: Escalations) -> None:
        self.ctx = ctx
        self.escalations = escalations
        self.gateways: dict[str, GatewayState] = {}
        self._task = BackgroundTask(self.task_name)

    @property
    def cfg(self) -> Any:
        return self.ctx.settings.autoheal

    # -- what a transport kind provides ---------------------------------------------------------
    def entries(self) -> list[E]:
        raise NotImplementedError

    def where(self, entry: E) -> str:
        """`<host>/<container>` or the monitor's name: what outcomes and keys name."""
        raise NotImplementedError

    def transport(self, entry: E) -> AbstractAsyncContextManager[Transport]:
        raise NotImplementedError

    def errors(self) -> tuple[type[BaseException], ...]:
        """What the transport raises when the other side fails (a check fails, no crash)."""
        return (ConnectionError, OSError, ValueError, TimeoutError)

    # -- files -------------------------------------------------------------------------------
    async def check_file(self, entry: E, path: str) -> AutohealOutcome:
        """Check one file and repair it when needed (its own connection)."""
        try:
            async with self.transport(entry) as transport:
                return await self.heal_file(transport, entry, path)
        except self.errors() as exc:
            return self._failed(entry, path, exc)

    def _failed(self, entry: E, path: str, exc: BaseException) -> AutohealOutcome:
        return AutohealOutcome(
            path=f"{self.where(entry)}:{path}",
            ok=False,
            action="failed",
            problems=[f"{type(exc).__name__}: {str(exc)[:500]}"],
        )

    async def heal_file(self, transport: Transport, entry: E, path: str) -> AutohealOutcome:
        where = f"{self.where(entry)}:{path}"
        try:
            data = await transport.read(path)
            fmt = file_format(entry, path)
            plan = plan_repair(data, fmt, entry, [])
            if plan.action == "healthy":
                return AutohealOutcome(path=where, ok=True, action="healthy")
            parent, _, name = path.rpartition("/")
            folder = f"{parent}/backups"
            if plan.action == "failed":  # it does not parse: look for a valid backup
                found = await transport.backups(folder, f"{name}.backup.")
                plan = plan_repair(data, fmt, entry, sorted(found, reverse=True))
            backup = f"{folder}/{backup_name(name)}"
            await transport.write_backup(folder, backup.rsplit("/", 1)[1], data)
            if plan.data is not None:
                await transport.replace(path, plan.data)
            await self._prune(transport, folder, name)
            return AutohealOutcome(
                path=where,
                ok=plan.data is not None,
                action=plan.action,
                problems=plan.problems,
                dropped=plan.dropped,
                backup=backup,
                restored_from=f"{folder}/{plan.restored_from}" if plan.restored_from else None,
            )
        except self.errors() as exc:
            return self._failed(entry, path, exc)

    async def _prune(self, transport: Transport, folder: str, name: str) -> None:
        found = await transport.names(folder)
        if found is None:
            return
        prefix = f"{name}.backup."
        mine = sorted((n for n in found if n.startswith(prefix) and "/" not in n), reverse=True)
        old = [f"{folder}/{n}" for n in mine[self.cfg.keep_backups :]]
        if old:
            await transport.remove(old)

    async def report_file(self, entry: E, outcome: AutohealOutcome) -> None:
        await report_outcome(
            self.ctx,
            self.escalations,
            outcome,
            key=f"autoheal:{outcome.path}"[:256],
            agent=entry.agent,
            fix_by_hand=f"fix the file by hand (the broken copy is in {outcome.backup}), then "
            "restart the agent"
            if outcome.backup
            else f"check that {self.where(entry)} is reachable and the path is a regular file "
            "(not a link)",
        )

    # -- gateway ------------------------------------------------------------------------------
    async def check_gateway(self, entry: E) -> str:
        """healthy | restarted | looping | failed: what this check found or did."""
        try:
            async with self.transport(entry) as transport:
                return await self.heal_gateway(transport, entry)
        except self.errors() as exc:
            where = self.where(entry)
            self.ctx.log_activity("error", f"autoheal: cannot check the gateway of {where}: {exc}")
            return "failed"

    async def heal_gateway(self, transport: Transport, entry: E) -> str:
        assert entry.gateway_process is not None
        label = self.where(entry)
        state = self.gateways.setdefault(label, GatewayState())
        now = time.time()
        try:
            argv = ["sh", "-c", PIDS_SCRIPT, "sh", entry.gateway_process]
            code, out = await transport.run(argv)
            if code != 0:
                raise ValueError(f"cannot list processes (exit {code}): {out[:200]}")
            pids = {p for p in out.split() if p.isdigit()}
            if pids and state.pids and not pids & state.pids:
                state.restarts.append((now, "own"))
            state.pids = pids
            while state.restarts and state.restarts[0][0] <= now - HOUR:
                state.restarts.popleft()
            own_since_ours = sum(
                1 for ts, kind in state.restarts if kind == "own" and ts > state.last_ours
            )
            result = "healthy"
            if not pids or own_since_ours >= 2:
                why = "not running" if not pids else f"restarted {own_since_ours} times on its own"
                code, out = await transport.run(list(entry.restart_command))
                state.restarts.append((now, "ours"))
                state.last_ours = now
                state.pids = set()
                level = "warning" if code == 0 else "error"
                self.ctx.log_activity(
                    level,
                    f"autoheal: gateway {entry.gateway_process} in {label} {why}; ran "
                    f"{' '.join(entry.restart_command)} (exit {code})",
                )
                result = "restarted" if not pids else "looping"
        except self.errors() as exc:
            self.ctx.log_activity("error", f"autoheal: cannot check the gateway of {label}: {exc}")
            return "failed"
        key = f"autoheal:gateway:{label}"[:256]
        if len(state.restarts) >= entry.max_restarts_per_hour:
            kinds = [k for _, k in state.restarts]
            await self.escalations.raise_(
                NewEscalation(
                    agent=entry.agent,
                    doing=f"keeping the gateway {entry.gateway_process} in {label} up (autoheal)",
                    tried=[
                        f"restarted it {kinds.count('ours')} times in the last hour "
                        f"({' '.join(entry.restart_command)})",
                        f"it restarted on its own {kinds.count('own')} times",
                    ],
                    need="a person to find why the gateway keeps dying (its log, its config)",
                    proposed_fix=f"read the gateway log in {label} "
                    "(repeated 'exit status 1' means a config it rejects)",
                    severity=Severity.HIGH,
                    source=Source.AUTOHEAL,
                    dedupe_key=key,
                )
            )
        elif result == "healthy" and not state.restarts:
            await self.escalations.resolve_key(key, note="the gateway stayed up for an hour")
        return result

    # -- loop ---------------------------------------------------------------------------------
    async def check_all(self) -> list[AutohealOutcome]:
        """Every entry over one connection; one that cannot be reached does not stop the rest."""
        outcomes: list[AutohealOutcome] = []
        for entry in self.entries():
            done: list[AutohealOutcome] = []
            try:
                async with self.transport(entry) as transport:
                    for path in entry.files:
                        outcome = await self.heal_file(transport, entry, path)
                        await self.report_file(entry, outcome)
                        done.append(outcome)
                    if entry.gateway_process:
                        await self.heal_gateway(transport, entry)
            except self.errors() as exc:
                for path in entry.files[len(done) :]:
                    outcome = self._failed(entry, path, exc)
                    await self.report_file(entry, outcome)
                    done.append(outcome)
                if entry.gateway_process:
                    self.ctx.log_activity(
                        "error", f"autoheal: cannot check the gateway of {self.where(entry)}: {exc}"
                    )
            outcomes += done
        return outcomes

    async def start(self) -> None:
        if self.entries():
            self._task.start(
                every(lambda: self.cfg.interval, self.check_all, what=f"{self.task_name} pass")
            )

    async def stop(self) -> None:
        await self._task.stop()
