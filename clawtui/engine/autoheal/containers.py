"""Autoheal inside agent containers (seed 001 §3.11, issue 14): `[[autoheal.containers]]`.

Every `[autoheal] interval` seconds, for each entry:

* each config file in `files` is read through the Docker archive API (`GET /containers/{id}/
  archive`, capped) and checked as `repair.py` checks local files (parses to a table, no
  forbidden key, no unknown key when `allowed_keys` is set). On failure a dated backup
  `<dir>/backups/<name>.backup.YYYYMMDD-HHMMSS-ffffff` is written beside it (`PUT .../archive`),
  the invalid keys are dropped or the newest valid backup restored, the last `keep_backups`
  backups are kept (older ones removed with `rm -f --` by exec, argv only). A failed repair is
  an escalation (dedupe key `autoheal:<host>/<container>:<path>`), resolved by a good check.
* `gateway_process`: alive when a process of that name is in the container's /proc (read by
  exec, the name passed as an argument, never in a shell string). Not alive → `restart_command`
  (argv) is run in it; a gateway that restarted on its own twice within the hour since our last
  restart (its PIDs changed: a crash loop) is restarted the same way. `max_restarts_per_hour`
  restarts (ours and its own) in an hour raise an escalation (`autoheal:gateway:<host>/<name>`),
  resolved once it stays up for an hour.

What the container returns is untrusted: sizes are capped, tar members other than the one
regular file are ignored. Outcomes go to the activity log and as `EventKind.INCIDENT` with
`{"autoheal": AutohealOutcome, "change": "autoheal"}` (`path` is `<host>/<container>:<path>`).
"""

from __future__ import annotations

import io
import logging
import posixpath
import tarfile
import time
import tomllib
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from clawtui.engine.api.escalations import AutohealOutcome, NewEscalation, Severity, Source
from clawtui.engine.api.models import EventKind
from clawtui.engine.autoheal.repair import MAX_CONFIG, dump, parse
from clawtui.engine.tasks import BackgroundTask, every

if TYPE_CHECKING:
    from clawtui.config.escalations import AutohealContainer
    from clawtui.engine.context import Context
    from clawtui.engine.escalations.manager import Escalations
    from clawtui.engine.fleet.hosts import HostMonitor

log = logging.getLogger(__name__)
MAX_BACKUPS_ARCHIVE = 64 << 20
HOUR = 3600.0
PIDS_SCRIPT = (  # PIDs whose comm is $1, zombies (state Z: dead, not reaped) left out
    'for d in /proc/[0-9]*; do [ "$(cat "$d/comm" 2>/dev/null)" = "$1" ] || continue; st=; '
    'while read -r k v _; do [ "$k" = State: ] && st=$v && break; done < "$d/status"; '
    '[ "$st" = Z ] || echo "${d#/proc/}"; done 2>/dev/null; exit 0'
)


# -- pure ----------------------------------------------------------------------------------------
def file_format(entry: AutohealContainer, path: str) -> str:
    if entry.format != "auto":
        return entry.format
    return "toml" if path.lower().endswith(".toml") else "json"


def bad_keys(value: dict[str, Any], entry: AutohealContainer) -> list[str]:
    bad = [k for k in value if k in entry.forbidden_keys]
    if entry.allowed_keys is not None:
        bad += [k for k in value if k not in entry.allowed_keys and k not in bad]
    return bad


@dataclass
class Plan:
    action: str  # healthy | dropped_keys | restored | failed
    data: bytes | None = None
    problems: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    restored_from: str | None = None


def plan_repair(
    data: bytes, fmt: str, entry: AutohealContainer, backups: list[tuple[str, bytes]]
) -> Plan:
    """What to do with a file's bytes; `backups` newest first."""
    problems: list[str] = []
    value: dict[str, Any] | None = None
    try:
        value = parse(data, fmt)
    except (ValueError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        problems.append(f"does not parse as {fmt.upper()}: {str(exc)[:300]}")
    if value is not None:
        bad = bad_keys(value, entry)
        if not bad:
            return Plan("healthy")
        fixed = {k: v for k, v in value.items() if k not in bad}
        problems += [f"invalid key {k!r}" for k in bad]
        return Plan("dropped_keys", dump(fixed, fmt), problems, bad)
    for name, candidate in backups:
        try:
            cvalue = parse(candidate, fmt)
        except (ValueError, UnicodeDecodeError, tomllib.TOMLDecodeError):
            continue
        if not bad_keys(cvalue, entry):
            return Plan("restored", candidate, problems, restored_from=name)
    return Plan("failed", None, [*problems, "no valid backup to restore"])


def _tar(members: list[tuple[str, bytes | None]]) -> bytes:
    """A tar of directories (data None) and 0600 files."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.mtime = int(time.time())
            if data is None:
                info.type, info.mode = tarfile.DIRTYPE, 0o700
                tar.addfile(info)
            else:
                info.size, info.mode = len(data), 0o600
                tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _files_of(raw: bytes, limit: int) -> dict[str, bytes]:
    """Regular files in a tar from Docker (basename -> bytes), each at most `limit` bytes."""
    out: dict[str, bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(raw)) as tar:
        for member in tar.getmembers():
            if member.isfile() and member.size <= limit:
                handle = tar.extractfile(member)
                if handle is not None:
                    out[posixpath.basename(member.name)] = handle.read(limit + 1)
    return out


# -- Docker calls (blocking; run through the host's pool) ----------------------------------------
def _get_archive(client: Any, container: str, path: str, cap: int) -> bytes | None:
    import docker

    try:
        stream, _stat = client.get_archive(container, path)
    except docker.errors.NotFound:
        return None
    data = bytearray()
    for chunk in stream:
        data += chunk
        if len(data) > cap:
            raise ValueError(f"{path} in {container} is larger than {cap} bytes")
    return bytes(data)


def _exec(client: Any, container: str, argv: list[str]) -> tuple[int, str]:
    exec_id = client.exec_create(container, argv, stdout=True, stderr=True)["Id"]
    out: bytes = client.exec_start(exec_id)
    code = client.exec_inspect(exec_id).get("ExitCode")
    return int(code if code is not None else -1), out[:65536].decode("utf-8", "replace")


@dataclass
class GatewayState:
    pids: set[str] = field(default_factory=set)
    restarts: deque[tuple[float, str]] = field(default_factory=deque)  # (ts, "ours" | "own")
    last_ours: float = 0.0


class ContainerAutoheal:
    """Checks the files and gateways of `[[autoheal.containers]]` (an engine component)."""

    def __init__(self, ctx: Context, escalations: Escalations) -> None:
        self.ctx = ctx
        self.escalations = escalations
        self.gateways: dict[str, GatewayState] = {}
        self._task = BackgroundTask("escalations:autoheal-containers")

    @property
    def cfg(self) -> Any:
        return self.ctx.settings.autoheal

    def _monitor(self, entry: AutohealContainer) -> HostMonitor:
        name = entry.host or next(iter(self.ctx.monitors), "")
        monitor = self.ctx.monitors.get(name)
        if monitor is None or monitor.client is None:
            raise ConnectionError(f"Docker host {name!r} is not connected")
        return monitor

    # -- files -------------------------------------------------------------------------------
    async def check_file(self, entry: AutohealContainer, path: str) -> AutohealOutcome:
        import docker

        where = f"{entry.host or next(iter(self.ctx.monitors), '?')}/{entry.container}:{path}"
        try:
            monitor = self._monitor(entry)
            client = monitor.client
            assert client is not None
            raw = await monitor.call(_get_archive, client, entry.container, path, MAX_CONFIG + 4096)
            if raw is None:
                raise FileNotFoundError(f"no {path} in {entry.container}")
            name = posixpath.basename(path)
            data = _files_of(raw, MAX_CONFIG).get(name)
            if data is None:
                raise ValueError(f"{path} is not a regular file of at most {MAX_CONFIG} bytes")
            plan = plan_repair(data, file_format(entry, path), entry, [])
            if plan.action == "healthy":
                return AutohealOutcome(path=where, ok=True, action="healthy")
            folder = posixpath.join(posixpath.dirname(path), "backups")
            backups: list[tuple[str, bytes]] = []
            if plan.action == "failed":  # it does not parse: look for a valid backup
                backups = await self._backups(monitor, entry, folder, name)
                plan = plan_repair(data, file_format(entry, path), entry, backups)
            stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S-%f")
            backup_name = f"{name}.backup.{stamp}"
            backup = f"{folder}/{backup_name}"
            tar = _tar([("backups", None), (f"backups/{backup_name}", data)])
            await monitor.call(client.put_archive, entry.container, posixpath.dirname(path), tar)
            if plan.data is not None:
                await monitor.call(
                    client.put_archive, entry.container, posixpath.dirname(path),
                    _tar([(name, plan.data)]),
                )  # fmt: skip
            await self._prune(monitor, entry, folder, name)
            return AutohealOutcome(
                path=where,
                ok=plan.data is not None,
                action=plan.action,
                problems=plan.problems,
                dropped=plan.dropped,
                backup=backup,
                restored_from=f"{folder}/{plan.restored_from}" if plan.restored_from else None,
            )
        except (docker.errors.DockerException, ConnectionError, OSError, ValueError) as exc:
            return AutohealOutcome(
                path=where, ok=False, action="failed", problems=[f"{type(exc).__name__}: {exc}"]
            )

    async def _backups(
        self, monitor: HostMonitor, entry: AutohealContainer, folder: str, name: str
    ) -> list[tuple[str, bytes]]:
        raw = await monitor.call(
            _get_archive, monitor.client, entry.container, folder, MAX_BACKUPS_ARCHIVE
        )
        if raw is None:
            return []
        prefix = f"{name}.backup."
        found = [(n, d) for n, d in _files_of(raw, MAX_CONFIG).items() if n.startswith(prefix)]
        return sorted(found, reverse=True)

    async def _prune(
        self, monitor: HostMonitor, entry: AutohealContainer, folder: str, name: str
    ) -> None:
        code, out = await monitor.call(
            _exec, monitor.client, entry.container, ["ls", "-1", "--", folder]
        )
        if code != 0:
            return
        prefix = f"{name}.backup."
        names = sorted((n for n in out.splitlines() if n.startswith(prefix)), reverse=True)
        old = [f"{folder}/{n}" for n in names[self.cfg.keep_backups :] if "/" not in n]
        if old:
            await monitor.call(_exec, monitor.client, entry.container, ["rm", "-f", "--", *old])

    async def report_file(self, entry: AutohealContainer, outcome: AutohealOutcome) -> None:
        key = f"autoheal:{outcome.path}"[:256]
        if outcome.action == "healthy":
            await self.escalations.resolve_key(key, note="the config is valid again")
            return
        self.ctx.bus.publish(EventKind.INCIDENT, autoheal=outcome, change="autoheal")
        if outcome.ok:
            what = (
                f"dropped {', '.join(outcome.dropped)}"
                if outcome.action == "dropped_keys"
                else f"restored {outcome.restored_from}"
            )
            self.ctx.log_activity("warning", f"autoheal repaired {outcome.path}: {what}")
            await self.escalations.resolve_key(key, note="repaired by autoheal")
            return
        self.ctx.log_activity(
            "error", f"autoheal could not repair {outcome.path}: {'; '.join(outcome.problems)}"
        )
        await self.escalations.raise_(
            NewEscalation(
                agent=entry.agent,
                doing=f"keeping {outcome.path} valid (autoheal)",
                tried=["dropping the invalid keys", "restoring the newest valid backup"],
                need=f"a valid config at {outcome.path}",
                proposed_fix=f"fix the file by hand (the broken copy is in {outcome.backup}), "
                "then restart the agent"
                if outcome.backup
                else "check the container is running and the path is right",
                detail="\n".join(outcome.problems),
                severity=Severity.HIGH,
                source=Source.AUTOHEAL,
                dedupe_key=key,
            )
        )

    # -- gateway ------------------------------------------------------------------------------
    async def check_gateway(self, entry: AutohealContainer) -> str:
        """healthy | restarted | looping | failed: what this check found or did."""
        import docker

        assert entry.gateway_process is not None
        host = entry.host or next(iter(self.ctx.monitors), "?")
        label = f"{host}/{entry.container}"
        state = self.gateways.setdefault(label, GatewayState())
        now = time.time()
        try:
            monitor = self._monitor(entry)
            argv = ["sh", "-c", PIDS_SCRIPT, "sh", entry.gateway_process]
            code, out = await monitor.call(_exec, monitor.client, entry.container, argv)
            pids = {p for p in out.split() if p.isdigit()} if code == 0 else set()
            if code != 0:
                raise ValueError(f"cannot list processes (exit {code}): {out[:200]}")
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
                code, out = await monitor.call(
                    _exec, monitor.client, entry.container, list(entry.restart_command)
                )
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
        except (docker.errors.DockerException, ConnectionError, OSError, ValueError) as exc:
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
                    proposed_fix=f"read the gateway log in {entry.container} "
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
        outcomes: list[AutohealOutcome] = []
        for entry in self.cfg.containers:
            for path in entry.files:
                outcome = await self.check_file(entry, path)
                await self.report_file(entry, outcome)
                outcomes.append(outcome)
            if entry.gateway_process:
                await self.check_gateway(entry)
        return outcomes

    async def start(self) -> None:
        if self.cfg.containers:
            self._task.start(
                every(lambda: self.cfg.interval, self.check_all, what="container autoheal pass")
            )

    async def stop(self) -> None:
        await self._task.stop()


__all__ = ["ContainerAutoheal", "plan_repair"]
