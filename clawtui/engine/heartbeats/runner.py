"""What a heartbeat does: the built-in runner (real git checks, no model) or an external command.

Built-in runner, per due tier (seed 000, Phase 1):
* quick: `git status` (uncommitted changes), urgent flags of HEARTBEAT.md;
* hourly: `git fetch origin`, commits behind origin/main, conflicts with main
  (`git merge-tree`), CI of open PRs when `gh` is installed and authenticated;
* daily: the day's `git log` summarised into a report for the master thread; branches without
  commits for `stale_branch_days`.
Its reply is `HEARTBEAT_OK` when nothing needs attention, else one line per finding.

External runner: `command + [prompt]` in the thread's cwd (prompt also on stdin); its stdout is
the reply. `HEARTBEAT_OK` / `[NO_UPDATES]` replies are suppressed from notifications.

A thread with a `container` runs its git commands in that container (working directory its
`cwd`) through the Docker API of the thread's host (`container_exec.run_in_container`): a
container on a remote `[[hosts]]` entry is reached through that host's client.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Protocol
from zoneinfo import ZoneInfo

from clawtui.engine.api.threads import RepoState as RepoState
from clawtui.engine.heartbeats.container_exec import run_in_container
from clawtui.engine.heartbeats.md import TEMPLATE_TASKS, TIERS, HeartbeatDoc, Tier

if TYPE_CHECKING:
    from clawtui.engine.fleet.hosts import HostMonitor

OK_MARKERS = ("HEARTBEAT_OK", "[NO_UPDATES]")
REPORT_PREFIX = "Daily report"
"""How daily summaries to the master begin (the prompt asks agents to start with it too)."""
_GIT_TIMEOUT = 60.0
_MAX_OUTPUT = 256 * 1024
_GIT_ENV = {"GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C", "GIT_OPTIONAL_LOCKS": "0"}


def is_ok_reply(text: str) -> bool:
    """TinyClaw's rule: a reply containing HEARTBEAT_OK (or [NO_UPDATES]) is not delivered."""
    return any(marker in text for marker in OK_MARKERS)


@dataclass
class BeatTarget:
    """What a runner needs to know of a thread."""

    thread_id: int
    name: str
    cwd: Path | None
    container: str | None = None
    host: HostMonitor | None = None
    """The Docker host of `container` (None: it could not be found, see `host_problem`)."""
    host_problem: str | None = None
    is_master: bool = False
    master_id: int = 1
    threads: list[str] = field(default_factory=list)
    """'N: name' of every thread (the daily prompt's thread inventory)."""


@dataclass
class BeatOutcome:
    reply: str
    findings: list[str]
    report: str | None = None
    """A daily report for the master thread, when one was made."""
    repo: RepoState | None = None
    ok: bool = True


class Runner(Protocol):
    async def run(
        self, target: BeatTarget, tiers: list[Tier], doc: HeartbeatDoc | None, now: float
    ) -> BeatOutcome: ...


# -- subprocesses -------------------------------------------------------------------------------
async def run_cmd(
    argv: Sequence[str],
    *,
    cwd: Path | None = None,
    timeout: float = _GIT_TIMEOUT,
    stdin: bytes | None = None,
) -> tuple[int, str, str]:
    """Run a program; (exit code, stdout, stderr). Exit 127 when it cannot be started."""
    env = dict(os.environ, **_GIT_ENV)
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            cwd=cwd,
            env=env,
            stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
    except (OSError, ValueError) as exc:
        return 127, "", f"cannot run {argv[0]}: {exc}"
    try:
        out, err = await asyncio.wait_for(proc.communicate(stdin), timeout)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()
        return 124, "", f"{argv[0]} took longer than {timeout:.0f} s"
    return (
        proc.returncode or 0,
        out[:_MAX_OUTPUT].decode("utf-8", "replace"),
        err[:_MAX_OUTPUT].decode("utf-8", "replace"),
    )


class Git:
    """git in a working directory, on this machine or inside a container on its host."""

    def __init__(
        self,
        cwd: Path,
        container: str | None = None,
        host: HostMonitor | None = None,
        host_problem: str | None = None,
    ) -> None:
        self.cwd = cwd
        self.container = container
        self.host = host
        self.host_problem = host_problem

    async def __call__(self, *args: str, timeout: float = _GIT_TIMEOUT) -> tuple[int, str, str]:
        if self.container:
            if self.host is None:
                why = self.host_problem or f"no Docker host for container {self.container}"
                return 127, "", why
            return await run_in_container(
                self.host,
                self.container,
                ["git", *args],
                workdir=str(self.cwd),
                env=_GIT_ENV,
                timeout=timeout,
                cap=_MAX_OUTPUT,
            )
        return await run_cmd(["git", *args], cwd=self.cwd, timeout=timeout)


async def _upstream(git: Git) -> str | None:
    for ref in ("origin/main", "origin/master"):
        rc, _, _ = await git("rev-parse", "--verify", "--quiet", f"refs/remotes/{ref}")
        if rc == 0:
            return ref
    rc, out, _ = await git("symbolic-ref", "--quiet", "--short", "refs/remotes/origin/HEAD")
    return out.strip() if rc == 0 and out.strip() else None


def git_message(err: str, fallback: str) -> str:
    """git's first meaningful stderr line ('fatal: ' and 'error: ' dropped), at most 200
    characters: the line that says what went wrong, not the advice after it."""
    for line in err.splitlines():
        text = line.strip()
        for prefix in ("fatal:", "error:"):
            if text.lower().startswith(prefix):
                text = text[len(prefix) :].strip()
        if text:
            return text[:200]
    return fallback


async def repo_state(
    cwd: Path | None,
    *,
    container: str | None = None,
    host: HostMonitor | None = None,
    host_problem: str | None = None,
    stale_days: float = 7.0,
    now: float | None = None,
) -> RepoState:
    """Branch, uncommitted files, ahead / behind origin/main, stale branches (no fetch)."""
    now = datetime.now(UTC).timestamp() if now is None else now
    state = RepoState(checked_at=now)
    if cwd is None:
        state.error = "no working directory"
        return state
    if not container and not os.path.isdir(cwd):  # noqa: ASYNC240 - one stat
        state.error = f"{cwd} does not exist"
        return state
    git = Git(cwd, container, host, host_problem)
    rc, out, err = await git("rev-parse", "--git-dir")
    if rc != 0:
        state.error = git_message(err, "not a git repository")
        return state
    state.is_repo = True
    rc, out, _ = await git("symbolic-ref", "--quiet", "--short", "HEAD")
    if rc != 0:  # detached HEAD
        rc, out, _ = await git("rev-parse", "--short", "HEAD")
    state.branch = out.strip() or None
    rc, out, _ = await git("status", "--porcelain=v1", "--untracked-files=normal")
    if rc == 0:
        files = [
            line[3:]
            for line in out.splitlines()
            if line.strip() and line[3:].strip('"') != "HEARTBEAT.md"  # the beat's own file
        ]
        state.dirty, state.dirty_files = len(files), files[:50]
    state.upstream = await _upstream(git)
    if state.upstream:
        rc, out, _ = await git("rev-list", "--left-right", "--count", f"HEAD...{state.upstream}")
        parts = out.split()
        if rc == 0 and len(parts) == 2:
            state.ahead, state.behind = int(parts[0]), int(parts[1])
    rc, out, _ = await git(
        "for-each-ref", "--format=%(refname:short) %(committerdate:unix)", "refs/heads"
    )
    if rc == 0:
        limit = now - stale_days * 86400
        for line in out.splitlines():
            name, _, stamp = line.rpartition(" ")
            with contextlib.suppress(ValueError):
                if name and int(stamp) < limit:
                    state.stale_branches.append(name)
    return state


# -- prompt ---------------------------------------------------------------------------------------
def format_now(now: float, timezone: str) -> str:
    zone = ZoneInfo(timezone)
    return datetime.fromtimestamp(now, zone).strftime("%A, %Y-%m-%d %H:%M %Z")


def build_prompt(target: BeatTarget, tiers: list[Tier], now: float, timezone: str) -> str:
    """The tier-aware heartbeat prompt of seed 000 (for the external runner)."""
    lines = [
        f'Heartbeat check for thread "{target.name}" (thread {target.thread_id}).',
        f"The current time is {format_now(now, timezone)} in {timezone}. Read the timestamps "
        "from HEARTBEAT.md and compare to determine which checks are due.",
        f"Working directory: {target.cwd}. If HEARTBEAT.md does not exist, create it from the "
        "template (## Timestamps, ## Urgent Flags, ## Tasks, ## Notes).",
        f"Checks due now: {', '.join(tiers)}.",
        "",
        "Quick: run `git status` for uncommitted changes; check HEARTBEAT.md for urgent flags; "
        "update 'Last quick'.",
    ]
    if "hourly" in tiers:
        lines.append(
            "Hourly: `git fetch origin`; `git log HEAD..origin/main --oneline` for new commits; "
            "`gh pr checks` for CI on open PRs; check for merge conflicts with main; "
            "update 'Last hourly'."
        )
    if "daily" in tiers:
        lines.append(
            "Daily: summarise the day's work (git log and HEARTBEAT.md tasks) and send the "
            f"summary to the master thread (threadId: {target.master_id}) with send_message "
            "(skip it if there were no commits today); `gh issue list` and `gh pr list` for "
            "new or aging items; flag branches without commits for 7 days; update 'Last daily'."
        )
        if target.threads:
            lines.append("Active threads: " + "; ".join(target.threads))
        if target.is_master:
            lines.append(
                "As the master: aggregate unprocessed thread reports into active-projects.md, "
                "surface anything that needs a person across all threads, and commit."
            )
    lines += ["", "If nothing needs attention, reply with exactly: HEARTBEAT_OK"]
    return "\n".join(lines)


# -- runners --------------------------------------------------------------------------------------
class BuiltinRunner:
    """Deterministic checks with git (and gh when configured); works with no model at all."""

    def __init__(self, *, stale_days: float = 7.0, fetch_timeout: float = 60.0) -> None:
        self.stale_days = stale_days
        self.fetch_timeout = fetch_timeout

    async def run(
        self, target: BeatTarget, tiers: list[Tier], doc: HeartbeatDoc | None, now: float
    ) -> BeatOutcome:
        findings: list[str] = []
        report: str | None = None
        if doc is not None:
            findings += [f"urgent: {flag}" for flag in doc.urgent_flags]
        git = (
            Git(target.cwd, target.container, target.host, target.host_problem)
            if target.cwd is not None
            else None
        )
        fetch_error: str | None = None
        if git is not None and "hourly" in tiers:
            rc, _, err = await git(
                "fetch", "--quiet", "--prune", "origin", timeout=self.fetch_timeout
            )
            if rc != 0:
                fetch_error = git_message(err, f"exit status {rc}")
        repo = await repo_state(
            target.cwd,
            container=target.container,
            host=target.host,
            host_problem=target.host_problem,
            stale_days=self.stale_days,
            now=now,
        )
        if repo.error:  # one problem, one finding: a failed fetch of a non-repo is this one
            findings.append(f"repo: {repo.error}")
        elif fetch_error is not None:
            findings.append(f"git fetch failed: {fetch_error}")
        if repo.dirty:
            shown = ", ".join(repo.dirty_files[:5]) + (" ..." if repo.dirty > 5 else "")
            findings.append(f"{repo.dirty} uncommitted change(s): {shown}")
        if git is not None and repo.is_repo and "hourly" in tiers:
            if repo.behind:
                rc, out, _ = await git("log", "--oneline", f"HEAD..{repo.upstream}")
                new = out.strip().splitlines()
                findings.append(
                    f"{repo.behind} new commit(s) on {repo.upstream}: "
                    + "; ".join(new[:3])
                    + (" ..." if len(new) > 3 else "")
                )
            if repo.upstream:
                rc, _, _ = await git("merge-tree", "--write-tree", "HEAD", repo.upstream)
                repo.conflicts = rc == 1
                if repo.conflicts:
                    findings.append(f"{repo.branch} conflicts with {repo.upstream}")
            repo.ci = await self._ci(target)
            if repo.ci and "fail" in repo.ci.lower():
                findings.append(f"CI: {repo.ci}")
        if git is not None and repo.is_repo and "daily" in tiers:
            if repo.stale_branches:
                findings.append(
                    f"stale branches (no commits for {self.stale_days:g} days): "
                    + ", ".join(repo.stale_branches[:10])
                )
            since = datetime.fromtimestamp(now - 86400, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            rc, out, _ = await git("log", f"--since={since}", "--format=%h %an: %s", "--all")
            commits = out.strip().splitlines() if rc == 0 else []
            if commits:
                report = (
                    f"{REPORT_PREFIX} from thread {target.name} ({target.thread_id}), "
                    f"branch {repo.branch}: {len(commits)} commit(s) in the last 24 h\n"
                    + "\n".join(f"- {c}" for c in commits[:30])
                )
                # Open work only: not the template's placeholder, and not the checks listed
                # under a tier's heading (TinyClaw's `## Quick Tasks ...`), which recur.
                tier_sections = {f"{tier} tasks" for tier in TIERS}
                open_tasks = [
                    t.text
                    for t in (doc.tasks if doc else [])
                    if not t.done
                    and t.text not in TEMPLATE_TASKS
                    and t.section.lower() not in tier_sections
                ]
                if open_tasks:
                    report += "\nOpen tasks: " + "; ".join(open_tasks[:10])
        ok = not findings
        reply = "HEARTBEAT_OK" if ok else "\n".join(f"- {f}" for f in findings)
        return BeatOutcome(reply=reply, findings=findings, report=report, repo=repo, ok=ok)

    async def _ci(self, target: BeatTarget) -> str | None:
        if shutil.which("gh") is None or target.cwd is None or target.container:
            return None
        rc, _, _ = await run_cmd(["gh", "auth", "status"], cwd=target.cwd, timeout=15)
        if rc != 0:
            return None
        rc, out, err = await run_cmd(["gh", "pr", "checks"], cwd=target.cwd, timeout=30)
        text = (out or err).strip().splitlines()
        return text[0][:200] if text else None


class CommandRunner:
    """An external command (e.g. a Claude Code one-shot) given the tier-aware prompt."""

    def __init__(self, argv: Sequence[str], *, timezone: str = "UTC", timeout: float = 600.0):
        self.argv = list(argv)
        self.timezone = timezone
        self.timeout = timeout

    async def run(
        self, target: BeatTarget, tiers: list[Tier], doc: HeartbeatDoc | None, now: float
    ) -> BeatOutcome:
        prompt = build_prompt(target, tiers, now, self.timezone)
        cwd = target.cwd if target.cwd is not None and target.cwd.is_dir() else None
        rc, out, err = await run_cmd(
            [*self.argv, prompt], cwd=cwd, timeout=self.timeout, stdin=prompt.encode()
        )
        if rc != 0:
            detail = (err.strip().splitlines() or [f"exit code {rc}"])[-1][:300]
            return BeatOutcome(
                reply=f"heartbeat command failed ({rc}): {detail}",
                findings=[f"heartbeat command failed ({rc}): {detail}"],
                ok=False,
            )
        reply = out.strip() or "HEARTBEAT_OK"
        ok = is_ok_reply(reply)
        return BeatOutcome(reply=reply, findings=[] if ok else [reply[:2000]], ok=ok)
