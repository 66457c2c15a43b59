"""Autoheal (seed 001 §3.11): agent config files checked and repaired on an interval.

For each `[[autoheal.files]]` entry, every `[autoheal] interval` seconds: the file must parse
(JSON or TOML) to a table and hold no forbidden key (`forbidden_keys`, default the stale
`meta` block) and, when `allowed_keys` is set, no unknown top-level key. On failure:

1. a dated backup `<backups>/<name>.backup.YYYYMMDD-HHMMSS-ffffff` (the last `keep_backups`,
   20 by default, are kept; older ones are pruned);
2. repair: drop the invalid keys (the file parses), or restore the newest backup that is valid
   (it does not parse);
3. the outcome goes to the activity log and as `EventKind.INCIDENT` with data
   `{"autoheal": AutohealOutcome, "change": "autoheal"}`;
4. a repair that fails (nothing valid to restore, or the file cannot be written) becomes an
   escalation (source `autoheal`, dedupe key `autoheal:<path>`), resolved by a later good check.

Writes are atomic (temp file + rename), so the agent never reads a half-written config.
"""

from __future__ import annotations

import asyncio
import json
import logging
import tomllib
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import tomli_w

from clawtui.engine.api.escalations import AutohealOutcome, NewEscalation, Severity, Source
from clawtui.engine.api.models import EventKind
from clawtui.engine.tasks import BackgroundTask, every
from clawtui.fsutil import atomic_write, read_bytes_capped

if TYPE_CHECKING:
    from clawtui.config.escalations import AutohealAgent, AutohealFile
    from clawtui.engine.context import Context
    from clawtui.engine.escalations.manager import Escalations

log = logging.getLogger(__name__)
MAX_CONFIG = 4 << 20


def _format(entry: AutohealFile) -> str:
    if entry.format != "auto":
        return entry.format
    return "toml" if entry.path.suffix.lower() == ".toml" else "json"


async def report_outcome(
    ctx: Context,
    escalations: Escalations,
    outcome: AutohealOutcome,
    *,
    key: str,
    agent: str,
    fix_by_hand: str,
) -> None:
    """What one file check found, told the same way wherever the file is (this machine, a
    container, a monitored host): a healthy file resolves its escalation; a repair is an
    INCIDENT event, an activity line and resolves it; a failed repair is an INCIDENT event, an
    error line and an escalation (`key`) proposing `fix_by_hand`."""
    if outcome.action == "healthy":
        await escalations.resolve_key(key, note="the config is valid again")
        return
    ctx.bus.publish(EventKind.INCIDENT, autoheal=outcome, change="autoheal")
    if outcome.ok:
        what = (
            f"dropped {', '.join(outcome.dropped)}"
            if outcome.action == "dropped_keys"
            else f"restored {outcome.restored_from}"
        )
        ctx.log_activity("warning", f"autoheal repaired {outcome.path}: {what}")
        await escalations.resolve_key(key, note="repaired by autoheal")
        return
    ctx.log_activity(
        "error", f"autoheal could not repair {outcome.path}: {'; '.join(outcome.problems)}"
    )
    await escalations.raise_(
        NewEscalation(
            agent=agent,
            doing=f"keeping {outcome.path} valid (autoheal)",
            tried=["dropping the invalid keys", "restoring the newest valid backup"],
            need=f"a valid config at {outcome.path}",
            proposed_fix=fix_by_hand,
            detail="\n".join(outcome.problems),
            severity=Severity.HIGH,
            source=Source.AUTOHEAL,
            dedupe_key=key,
        )
    )


def parse(data: bytes, fmt: str) -> dict[str, Any]:
    """The file's top-level table; ValueError saying why not."""
    text = data.decode("utf-8")
    try:
        value: Any = tomllib.loads(text) if fmt == "toml" else json.loads(text)
    except RecursionError:
        raise ValueError("nested too deeply to parse") from None
    if not isinstance(value, dict):
        raise ValueError(f"the top level is a {type(value).__name__}, not an object")
    return value


def dump(value: dict[str, Any], fmt: str) -> bytes:
    """The value written back; ValueError when it cannot be (e.g. nested too deeply)."""
    try:
        if fmt == "toml":
            return tomli_w.dumps(value).encode("utf-8")
        return (json.dumps(value, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
    except RecursionError:
        raise ValueError("nested too deeply to write back") from None


def invalid_keys(value: dict[str, Any], entry: AutohealFile | AutohealAgent) -> list[str]:
    """Top-level keys to drop: forbidden ones, and unknown ones when `allowed_keys` is set."""
    bad = [k for k in value if k in entry.forbidden_keys]
    if entry.allowed_keys is not None:
        bad += [k for k in value if k not in entry.allowed_keys and k not in bad]
    return bad


class Autoheal:
    """Checks and repairs the configured files (an engine component)."""

    def __init__(self, ctx: Context, escalations: Escalations) -> None:
        self.ctx = ctx
        self.escalations = escalations
        self._task = BackgroundTask("escalations:autoheal")

    @property
    def cfg(self) -> Any:
        return self.ctx.settings.autoheal

    def backup_dir(self, entry: AutohealFile) -> Path:
        base = self.cfg.backup_dir
        return Path(base) if base is not None else entry.path.parent / "backups"

    def backups(self, entry: AutohealFile) -> list[Path]:
        """Backups of `entry`, newest first."""
        folder = self.backup_dir(entry)
        prefix = f"{entry.path.name}.backup."
        try:
            found = [p for p in folder.iterdir() if p.name.startswith(prefix) and p.is_file()]
        except FileNotFoundError:
            return []
        return sorted(found, key=lambda p: p.name, reverse=True)

    def _backup(self, entry: AutohealFile, data: bytes) -> Path:
        folder = self.backup_dir(entry)
        folder.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S-%f")
        target = folder / f"{entry.path.name}.backup.{stamp}"
        n = 0
        while target.exists():
            n += 1
            target = folder / f"{entry.path.name}.backup.{stamp}-{n}"
        atomic_write(target, data, mode=0o600)
        for old in self.backups(entry)[self.cfg.keep_backups :]:
            try:
                old.unlink()
            except OSError as exc:
                log.warning("autoheal: cannot prune %s: %s", old, exc)
        return target

    def check_file(self, entry: AutohealFile) -> AutohealOutcome:
        """Check one file and repair it when needed (blocking; run in a thread)."""
        path, fmt = entry.path, _format(entry)
        try:
            data, truncated = read_bytes_capped(path, limit=MAX_CONFIG)
        except OSError as exc:
            return AutohealOutcome(
                path=str(path), ok=False, action="failed", problems=[f"cannot read: {exc}"]
            )
        problems: list[str] = []
        value: dict[str, Any] | None = None
        if truncated:
            problems.append(f"larger than {MAX_CONFIG} bytes")
        else:
            try:
                value = parse(data, fmt)
            except (ValueError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
                problems.append(f"does not parse as {fmt.upper()}: {str(exc)[:300]}")
        bad = invalid_keys(value, entry) if value is not None else []
        if value is not None and not bad:
            return AutohealOutcome(path=str(path), ok=True, action="healthy")
        problems += [f"invalid key {k!r}" for k in bad]
        try:
            backup = self._backup(entry, data)
        except OSError as exc:
            return AutohealOutcome(
                path=str(path),
                ok=False,
                action="failed",
                problems=[*problems, f"cannot write a backup: {exc}"],
            )
        try:
            fixed_data: bytes | None = None
            if value is not None:
                try:
                    fixed_data = dump({k: v for k, v in value.items() if k not in bad}, fmt)
                except ValueError as exc:  # then restore a backup, as for a broken file
                    problems.append(f"cannot drop the invalid keys: {exc}")
            if value is not None and fixed_data is not None:
                atomic_write(path, fixed_data, mode=0o600)
                return AutohealOutcome(
                    path=str(path),
                    ok=True,
                    action="dropped_keys",
                    problems=problems,
                    dropped=bad,
                    backup=str(backup),
                )
            for candidate in self.backups(entry):
                try:
                    cdata, _ = read_bytes_capped(candidate, limit=MAX_CONFIG)
                    cvalue = parse(cdata, fmt)
                except (OSError, ValueError, UnicodeDecodeError, tomllib.TOMLDecodeError):
                    continue
                if invalid_keys(cvalue, entry):
                    continue
                atomic_write(path, cdata, mode=0o600)
                return AutohealOutcome(
                    path=str(path),
                    ok=True,
                    action="restored",
                    problems=problems,
                    backup=str(backup),
                    restored_from=str(candidate),
                )
        except OSError as exc:
            problems.append(f"cannot write the repaired file: {exc}")
        else:
            problems.append("no valid backup to restore")
        return AutohealOutcome(
            path=str(path), ok=False, action="failed", problems=problems, backup=str(backup)
        )

    async def check(self, entry: AutohealFile) -> AutohealOutcome:
        outcome = await asyncio.to_thread(self.check_file, entry)
        await report_outcome(
            self.ctx,
            self.escalations,
            outcome,
            key=f"autoheal:{entry.path}",
            agent=entry.agent,
            fix_by_hand="fix the file by hand (the broken copy is in "
            f"{outcome.backup or self.backup_dir(entry)}), then restart the agent",
        )
        return outcome

    async def check_all(self) -> list[AutohealOutcome]:
        """Every file on its own: one that breaks the check does not stop the others."""
        outcomes: list[AutohealOutcome] = []
        for entry in self.cfg.files:
            try:
                outcomes.append(await self.check(entry))
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.exception("autoheal could not check %s", entry.path)
                why = f"the check failed: {exc.__class__.__name__}: {str(exc)[:300]}"
                self.ctx.log_activity("error", f"autoheal could not check {entry.path}: {why}")
                outcomes.append(
                    AutohealOutcome(path=str(entry.path), ok=False, action="failed", problems=[why])
                )
        return outcomes

    async def start(self) -> None:
        if self.cfg.files:
            self._task.start(every(lambda: self.cfg.interval, self.check_all, what="autoheal pass"))

    async def stop(self) -> None:
        await self._task.stop()
