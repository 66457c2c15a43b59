"""The master thread's knowledge base: a local-only git repo with three files (seed 000, Phase 2).

    context.md          who we are, what we're building, team members
    decisions.md        append-only log: date, decision, rationale
    active-projects.md  one section per thread, updated from daily reports

`init` creates it (git init, no remote, first commit) and points the master thread at it in
threads.json. `read` answers only those three names; anything else is refused. `record_report`
puts a thread's daily report into its section of active-projects.md and commits.
"""

from __future__ import annotations

import asyncio
import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

from clawtui.engine.api.kb import KB_FILES as KB_FILES
from clawtui.engine.api.kb import KBError as KBError
from clawtui.engine.api.kb import check_name as check_name
from clawtui.engine.heartbeats.runner import run_cmd
from clawtui.fsutil import atomic_write, read_bytes_capped

MAX_KB_BYTES: Final = 1 << 20

_SEEDS: Final = {
    "context.md": "# Context\n\nWho we are, what we're building, team members.\n",
    "decisions.md": "# Decisions\n\nAppend-only log of key decisions.\n\n"
    "| Date | Decision | Rationale |\n|------|----------|-----------|\n",
    "active-projects.md": "# Active projects\n\nCurrent status of each repo / thread, "
    "updated from daily reports.\n",
}


async def _git(kb: Path, *args: str) -> str:
    rc, out, err = await run_cmd(
        ["git", "-c", "user.name=clawtui", "-c", "user.email=clawtui@localhost", *args], cwd=kb
    )
    if rc != 0:
        raise KBError(f"git {args[0]} in {kb} failed: {(err or out).strip()[:300]}")
    return out


async def init(kb: Path, threads_json: Path | None = None, master_id: int = 1) -> list[str]:
    """Create the knowledge base (idempotent); returns what was done, in words."""
    done: list[str] = []
    kb = kb.expanduser()  # noqa: ASYNC240
    try:
        await asyncio.to_thread(kb.mkdir, parents=True, exist_ok=True)
    except OSError as exc:
        raise KBError(f"cannot create {kb}: {exc.strerror or exc}") from exc
    if not (kb / ".git").exists():
        await _git(kb, "init", "--quiet")
        done.append(f"git init {kb} (local only, no remote)")
    rc, out, _ = await run_cmd(["git", "remote"], cwd=kb)
    if rc == 0 and out.strip():
        raise KBError(f"{kb} has a git remote ({out.split()[0]}): the knowledge base stays local")
    for name, seed in _SEEDS.items():
        path = kb / name
        if not path.exists():
            atomic_write(path, seed)
            done.append(f"created {name}")
    await commit(kb, "Initialise knowledge base")
    if threads_json is not None:
        backup = point_master(threads_json, kb, master_id)
        kept = f"; the file as it was is kept as {backup}" if backup is not None else ""
        done.append(f"master thread {master_id} now works in {kb} ({threads_json}{kept})")
    return done


def point_master(threads_json: Path, kb: Path, master_id: int = 1) -> Path | None:
    """Set the master thread's cwd in threads.json, keeping every other field and thread.

    A threads.json that this changes is first copied to `threads.json.bak` (replacing an older
    backup); returns that path, or None when nothing was there to change."""
    data: dict[str, object] = {}
    raw = b""
    if threads_json.exists():
        raw, truncated = read_bytes_capped(threads_json, limit=MAX_KB_BYTES)
        try:
            loaded = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise KBError(f"{threads_json} is not valid JSON ({exc}); fix it first") from exc
        if truncated or not isinstance(loaded, dict):
            raise KBError(f"{threads_json} is not a threads map; fix it first")
        data = loaded
    entry = data.get(str(master_id))
    if not isinstance(entry, dict):
        entry = {"name": "Master", "model": "sonnet", "isMaster": True, "lastActive": 0}
    entry["cwd"] = str(kb)
    entry["isMaster"] = True
    data[str(master_id)] = entry
    text = json.dumps(data, indent=2, ensure_ascii=False)
    backup = None
    if raw and raw != text.encode("utf-8"):
        backup = threads_json.with_name(threads_json.name + ".bak")
        atomic_write(backup, raw)
    atomic_write(threads_json, text)
    return backup


async def commit(kb: Path, message: str) -> bool:
    """`git add -A && git commit`; False when there was nothing to commit."""
    await _git(kb, "add", "-A")
    rc, out, _ = await run_cmd(["git", "status", "--porcelain"], cwd=kb)
    if rc == 0 and not out.strip():
        return False
    await _git(kb, "commit", "--quiet", "-m", message)
    return True


def read(kb: Path, name: str) -> str:
    """One of the three files, as text; any other name is refused."""
    check_name(name)
    path = kb / name
    if path.is_symlink():
        raise KBError(f"{path} is a symbolic link; the knowledge base only serves plain files")
    try:
        data, truncated = read_bytes_capped(path, limit=MAX_KB_BYTES)
    except FileNotFoundError:
        raise KBError(f"{path} does not exist: run `clawtui kb init {kb}`") from None
    except OSError as exc:
        raise KBError(f"cannot read {path}: {exc.strerror or exc}") from exc
    text = data.decode("utf-8", "replace")
    return text + ("\n[... truncated]" if truncated else "")


async def log(kb: Path, limit: int = 20) -> list[str]:
    """`git log --oneline` of the knowledge base, newest first."""
    if not (kb / ".git").exists():
        return []
    rc, out, _ = await run_cmd(
        ["git", "log", f"-{max(1, limit)}", "--format=%h %ad %s", "--date=short"], cwd=kb
    )
    return out.strip().splitlines() if rc == 0 else []


def _section_re(thread_id: int) -> re.Pattern[str]:
    return re.compile(rf"^## .*\(thread {thread_id}\)[ \t]*$", re.MULTILINE)


async def record_report(
    kb: Path, thread_id: int, name: str, report: str, when: float | None = None
) -> bool:
    """Replace (or add) the thread's section of active-projects.md and commit."""
    path = kb / "active-projects.md"
    text = _SEEDS["active-projects.md"]
    if path.exists():
        text = read(kb, "active-projects.md")
        if path.stat().st_size > MAX_KB_BYTES:
            # Rewriting what was read would drop the part past the cap (as HEARTBEAT.md does).
            raise KBError(
                f"{path} is larger than {MAX_KB_BYTES // (1 << 20)} MiB: not rewriting it "
                "(the part past that would be lost); trim it, then the next report goes in"
            )
    stamp = datetime.fromtimestamp(when or datetime.now(UTC).timestamp(), UTC)
    clean_name = re.sub(r"[\r\n]+", " ", name)[:100]
    body = "\n".join(
        line for line in report.replace("\r", "").split("\n") if not line.startswith("## ")
    )
    section = (
        f"## {clean_name} (thread {thread_id})\n"
        f"_Updated {stamp.strftime('%Y-%m-%d %H:%M')} UTC_\n\n{body.strip()}\n"
    )
    match = _section_re(thread_id).search(text)
    if match:
        nxt = re.compile(r"^## ", re.MULTILINE).search(text, match.end())
        end = nxt.start() if nxt else len(text)
        text = text[: match.start()] + section + ("\n" if nxt else "") + text[end:]
    else:
        text = text.rstrip("\n") + "\n\n" + section
    atomic_write(path, text)
    return await commit(kb, f"Update: daily report of {clean_name} (thread {thread_id})")


_REPORT_RE: Final = re.compile(
    r"^## (?P<name>[^\n]*) \(thread (?P<tid>\d+)\)[ \t]*\n"
    r"_Updated (?P<stamp>\d{4}-\d\d-\d\d \d\d:\d\d) UTC_[ \t]*\n(?P<body>.*?)(?=^## |\Z)",
    re.MULTILINE | re.DOTALL,
)


def reports_between(kb: Path, start: float, end: float) -> list[tuple[str, int, str]]:
    """Daily reports in active-projects.md updated in [start, end): (name, thread id, body).

    Sections are the ones `record_report` writes; anything else in the file is ignored, and a
    missing or unreadable file has no reports.
    """
    try:
        text = read(kb, "active-projects.md")
    except KBError:
        return []
    out: list[tuple[str, int, str]] = []
    for match in _REPORT_RE.finditer(text):
        try:
            stamp = datetime.strptime(match["stamp"], "%Y-%m-%d %H:%M").replace(tzinfo=UTC)
        except ValueError:
            continue
        if start <= stamp.timestamp() < end:
            out.append((match["name"], int(match["tid"]), match["body"].strip()))
    return out
