"""HEARTBEAT.md: parser and writer for the seed's template and TinyClaw's variant sections.

The template (seed 000, Phase 1):

    ## Timestamps
    - Last quick: 2026-02-11T10:05:00Z
    - Last hourly: (never)
    - Last daily: 2026-02-11T00:00:00Z

    ## Urgent Flags
    (none)

    ## Tasks
    - [ ] Example task

    ## Notes
    (agent scratch space)

TinyClaw's own template (`TINYCLAW_TEMPLATE`, lucianHymer/tinyclaw b64de8c
src/session-manager.ts) heads its tier sections `## Quick Tasks (every heartbeat)`, `## Hourly
Tasks (when >60 min since last hourly)`, `## Daily Tasks (...)`: a heading's trailing
parenthetical is a note, not part of its name. Its Urgent Flags placeholder `(none — flag
anything needing human attention here)` is no flag, like `(none)`.

Rules:
* the file is read capped (`MAX_HEARTBEAT_BYTES`) and decoded with `surrogateescape`, so any
  bytes at all parse, and `render(parse(b)) == b` byte for byte (BOM and CRLF included);
* `set_timestamps` changes only the `- Last <tier>:` lines (adding a missing one under
  `## Timestamps`, or a `## Timestamps` section at the top when there is none); every other
  byte stays as it was;
* problems (bad encoding, duplicate or missing sections, unreadable timestamps, truncation) go
  into `HeartbeatDoc.problems`; the only exception this module raises is `HeartbeatError`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

from clawtui.engine.api.threads import TIERS as TIERS
from clawtui.engine.api.threads import Tier as Tier
from clawtui.fsutil import UTF8_BOM, atomic_write, read_bytes_capped

FILENAME: Final = "HEARTBEAT.md"
MAX_HEARTBEAT_BYTES: Final = 256 * 1024
NEVER: Final = "(never)"

TEMPLATE: Final = """## Timestamps
- Last quick: (never)
- Last hourly: (never)
- Last daily: (never)

## Urgent Flags
(none)

## Tasks
- [ ] Example task

## Notes
(agent scratch space)
"""

TEMPLATE_TASKS: Final = frozenset({"Example task"})
"""The template's placeholder tasks: never reported as open work (a daily report, ...)."""
TINYCLAW_TEMPLATE: Final = """## Timestamps
- Last quick: (never)
- Last hourly: (never)
- Last daily: (never)

## Urgent Flags
(none \u2014 flag anything needing human attention here)

## Quick Tasks (every heartbeat)
- [ ] Run `git status` \u2014 check for uncommitted changes or untracked files
- [ ] Check Urgent Flags above \u2014 if anything is flagged, report it

## Hourly Tasks (when >60 min since last hourly)
- [ ] Run `git fetch origin` \u2014 detect upstream changes
- [ ] Run `git log HEAD..origin/main --oneline` \u2014 check for new commits on main
- [ ] Run `gh pr list --state open` and `gh pr checks` \u2014 check CI status on open PRs
- [ ] Check for merge conflicts with main

## Daily Tasks (when >24 hours since last daily)
- [ ] Summarize the day's work (`git log --since="24 hours ago" --oneline`)
- [ ] Run `gh pr list --state open` \u2014 check PR status (open, draft, review requested)
- [ ] Run `gh issue list` \u2014 check for new or aging items
- [ ] Flag stale branches (>7 days without commits)
- [ ] Send daily summary to master thread (threadId: 1) via send_message
- [ ] Review all tier task lists \u2014 prune irrelevant tasks, evolve checks based on what \
you've learned

## Notes
(scratch space \u2014 observations, ideas, context for future heartbeats)
"""
"""TinyClaw's HEARTBEAT.md template (lucianHymer/tinyclaw b64de8c, src/session-manager.ts
`buildHeartbeatPrompt`), written for threads TinyClaw knows (threads.json)."""

_HEADING_RE = re.compile(r"^##[ \t]+(?P<title>[^\r\n]*?)[ \t#]*$")
_STAMP_RE = re.compile(
    r"^(?P<prefix>[ \t]*[-*][ \t]+)Last[ \t]+(?P<tier>quick|hourly|daily)[ \t]*:[ \t]*"
    r"(?P<value>[^\r\n]*?)[ \t]*$",
    re.IGNORECASE,
)
_TASK_RE = re.compile(r"^[ \t]*[-*][ \t]+\[(?P<mark>[ xX])\][ \t]*(?P<text>[^\r\n]*)$")
_NONE_RE = re.compile(r"^(?:none|\(\s*none\b[^()]*\))$", re.IGNORECASE)
"""`none`, `(none)`, and TinyClaw's `(none — flag anything needing human attention here)`."""
_HEADING_NOTE_RE = re.compile(r"[ \t]*\([^()]*\)[ \t]*$")
_KNOWN = {
    "timestamps",
    "urgent flags",
    "tasks",
    "notes",
    "quick tasks",
    "hourly tasks",
    "daily tasks",
}


class HeartbeatError(Exception):
    """HEARTBEAT.md could not be read or written; the message says which file and why."""


@dataclass(frozen=True)
class Task:
    done: bool
    text: str
    section: str
    """The section it is listed in: 'Tasks', 'Quick Tasks', 'Hourly Tasks', 'Daily Tasks'."""


@dataclass
class HeartbeatDoc:
    """One parsed HEARTBEAT.md; `lines` (with their endings) render it back unchanged."""

    bom: bool
    lines: list[str]
    timestamps: dict[Tier, datetime | None] = field(default_factory=dict)
    stamp_lines: dict[Tier, int] = field(default_factory=dict)
    sections: list[tuple[str, int]] = field(default_factory=list)
    """(title, line index of the heading) in file order, duplicates included."""
    urgent_flags: list[str] = field(default_factory=list)
    tasks: list[Task] = field(default_factory=list)
    notes: str = ""
    problems: list[str] = field(default_factory=list)
    truncated: bool = False

    @property
    def text(self) -> str:
        """The file as text for people (undecodable bytes shown as U+FFFD)."""
        return _display("".join(self.lines))

    def tier_tasks(self, tier: Tier) -> list[Task]:
        """The tasks listed under `## <Tier> Tasks` (e.g. TinyClaw's Quick Tasks)."""
        return [t for t in self.tasks if t.section.lower() == f"{tier} tasks"]

    def section_text(self, title: str) -> str:
        """The body of the first section called `title` (case-insensitive), for display."""
        for i, (name, start) in enumerate(self.sections):
            if name.lower() == title.lower():
                end = self.sections[i + 1][1] if i + 1 < len(self.sections) else len(self.lines)
                return _display("".join(self.lines[start + 1 : end])).strip("\r\n")
        return ""


def _display(text: str) -> str:
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def format_timestamp(when: datetime) -> str:
    """`2026-02-11T10:05:00Z` (UTC, whole seconds), the template's form."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_timestamp(value: str) -> datetime | None:
    """A timestamp line's value; None for '(never)' / empty. ValueError when unreadable."""
    text = value.strip().strip("`*_").strip()
    if not text or text.lower() in {NEVER, "never", "-", "n/a", "none", "(none)"}:
        return None
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    when = datetime.fromisoformat(text)
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when


def parse(data: bytes | str, *, truncated: bool = False) -> HeartbeatDoc:
    """Parse HEARTBEAT.md; never raises for any input (problems land in `problems`)."""
    try:
        return _parse(data, truncated)
    except HeartbeatError:
        raise
    except Exception as exc:  # pragma: no cover - a parser bug must not crash the engine
        raise HeartbeatError(f"HEARTBEAT.md could not be parsed: {exc!r}") from exc


def _parse(data: bytes | str, truncated: bool) -> HeartbeatDoc:
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogateescape")
    if len(data) > MAX_HEARTBEAT_BYTES:
        data, truncated = data[:MAX_HEARTBEAT_BYTES], True
    bom = data.startswith(UTF8_BOM)
    body = data[len(UTF8_BOM) :] if bom else data
    text = body.decode("utf-8", "surrogateescape")
    doc = HeartbeatDoc(bom=bom, lines=text.splitlines(keepends=True), truncated=truncated)
    if truncated:
        doc.problems.append(
            f"larger than {MAX_HEARTBEAT_BYTES // 1024} KiB: only the start was read"
        )
    if any("\udc80" <= ch <= "\udcff" for ch in text):
        doc.problems.append("not valid UTF-8: undecodable bytes shown as \ufffd")

    current: str | None = None
    seen: set[str] = set()
    notes: list[str] = []
    for index, raw in enumerate(doc.lines):
        line = raw.rstrip("\r\n")
        heading = _HEADING_RE.match(line)
        if heading:
            title = heading.group("title").strip()
            # `## Quick Tasks (every heartbeat)` is the section Quick Tasks
            current = _HEADING_NOTE_RE.sub("", title) or title
            key = current.lower()
            doc.sections.append((current, index))
            if key in seen and key in _KNOWN:
                doc.problems.append(f"section '## {current}' appears more than once")
            seen.add(key)
            continue
        key = (current or "").lower()
        stamp = _STAMP_RE.match(line)
        if stamp and key in ("timestamps", ""):
            tier: Tier = stamp.group("tier").lower()  # type: ignore[assignment]
            if tier in doc.stamp_lines:
                doc.problems.append(f"'Last {tier}' appears more than once (the first counts)")
                continue
            doc.stamp_lines[tier] = index
            try:
                doc.timestamps[tier] = parse_timestamp(_display(stamp.group("value")))
            except (ValueError, OverflowError):
                doc.timestamps[tier] = None
                doc.problems.append(
                    f"line {index + 1}: 'Last {tier}' is not a timestamp "
                    f"({_display(stamp.group('value'))[:40]!r}); treated as never"
                )
            continue
        if key == "urgent flags":
            flag = _display(line).strip()
            if flag and not _NONE_RE.match(flag):
                flag = re.sub(r"^[-*][ \t]+", "", flag)
                doc.urgent_flags.append(flag)
            continue
        task = _TASK_RE.match(line)
        if task and key.endswith("tasks"):
            doc.tasks.append(
                Task(task.group("mark") != " ", _display(task.group("text")).strip(), current or "")
            )
            continue
        if key == "notes":
            notes.append(_display(raw))
    doc.notes = "".join(notes).strip("\r\n")
    if "timestamps" not in seen:
        doc.problems.append("no '## Timestamps' section: every tier counts as never run")
    for tier in TIERS:
        doc.timestamps.setdefault(tier, None)
    return doc


def render(doc: HeartbeatDoc) -> bytes:
    """The file's bytes (exactly the parsed bytes when nothing was changed)."""
    body = "".join(doc.lines).encode("utf-8", "surrogateescape")
    return (UTF8_BOM if doc.bom else b"") + body


def _newline(doc: HeartbeatDoc) -> str:
    for line in doc.lines:
        if line.endswith("\r\n"):
            return "\r\n"
        if line.endswith("\n"):
            return "\n"
    return "\n"


def set_timestamps(doc: HeartbeatDoc, stamps: dict[Tier, datetime]) -> HeartbeatDoc:
    """A copy of `doc` with the given tiers' timestamp lines set; nothing else changes."""
    if doc.truncated:
        raise HeartbeatError("the file was only partly read (too large); not rewriting it")
    lines = list(doc.lines)
    nl = _newline(doc)
    missing: list[str] = []
    for tier in TIERS:
        if tier not in stamps:
            continue
        value = format_timestamp(stamps[tier])
        index = doc.stamp_lines.get(tier)
        if index is not None:
            old = lines[index]
            ending = old[len(old.rstrip("\r\n")) :]
            match = _STAMP_RE.match(old.rstrip("\r\n"))
            prefix = match.group("prefix") if match else "- "
            label = old[len(prefix) : old.lower().index(tier) + len(tier)] if match else ""
            label = label or f"Last {tier}"
            lines[index] = f"{prefix}{label}: {value}{ending}"
        else:
            missing.append(f"- Last {tier}: {value}{nl}")
    if missing:
        heading = next((i for t, i in doc.sections if t.lower() == "timestamps"), None)
        if heading is not None:
            # after the last existing stamp line, or right under the heading
            after = max([i for i in doc.stamp_lines.values() if i > heading] or [heading])
            if not lines[after].endswith(("\n", "\r")):
                lines[after] += nl
            lines[after + 1 : after + 1] = missing
        else:
            block = [f"## Timestamps{nl}", *missing, nl]
            lines[0:0] = block
    return parse((UTF8_BOM if doc.bom else b"") + "".join(lines).encode("utf-8", "surrogateescape"))


def read(path: Path) -> HeartbeatDoc:
    """Read and parse one HEARTBEAT.md (capped); HeartbeatError when it cannot be read."""
    try:
        data, truncated = read_bytes_capped(path, limit=MAX_HEARTBEAT_BYTES)
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise HeartbeatError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    return parse(data, truncated=truncated)


def write(path: Path, doc: HeartbeatDoc) -> None:
    """Write `doc` atomically (the engine's temp file is ignored by watchers)."""
    try:
        atomic_write(path, render(doc))
    except OSError as exc:
        raise HeartbeatError(f"{path}: cannot write ({exc.strerror or exc})") from exc


def ensure(path: Path, template: str = TEMPLATE) -> HeartbeatDoc:
    """The file parsed; created from `template` when missing."""
    try:
        return read(path)
    except FileNotFoundError:
        doc = parse(template)
        write(path, doc)
        return doc


def update_timestamps(
    path: Path, stamps: dict[Tier, datetime], template: str = TEMPLATE
) -> HeartbeatDoc:
    """Set the given tiers' timestamps in the file at `path` (created from `template` when
    missing)."""
    doc = ensure(path, template)
    new = set_timestamps(doc, stamps)
    write(path, new)
    return new
