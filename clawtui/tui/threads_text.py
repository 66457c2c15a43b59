"""Text of the Threads and Heartbeats panels (everything from files is shown as plain Text)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rich.text import Text

from clawtui.engine.api.threads import ThreadDetail, ThreadStatus

LIVENESS_STYLE = {"alive": "green", "degraded": "yellow", "dead": "bold red", "unknown": "dim"}


def age(ts: float | None, now: float) -> str:
    if ts is None:
        return "never"
    secs = int(now - ts)
    if secs < 0:
        return f"in {_span(-secs)}"
    return f"{_span(secs)} ago"


def _span(secs: int) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if secs >= size:
            return f"{secs // size}{unit}"
    return f"{secs}s"


def status_of(value: Any) -> ThreadStatus:
    return value if isinstance(value, ThreadStatus) else ThreadStatus.model_validate(value)


def thread_row(s: ThreadStatus, now: float) -> list[Text]:
    repo = s.repo
    if repo is None:
        branch, dirty, ab = Text("…", style="dim"), Text(""), Text("")
    elif not repo.is_repo:
        branch, dirty, ab = Text(repo.error or "not a repo", style="dim"), Text(""), Text("")
    else:
        branch = Text(repo.branch or "?")
        dirty = Text(str(repo.dirty), style="yellow" if repo.dirty else "")
        if repo.ahead is None:
            ab = Text("no origin", style="dim")
        else:
            ab = Text(f"+{repo.ahead}/-{repo.behind}", style="yellow" if repo.behind else "")
        if repo.stale_branches:
            branch.append(f" ({len(repo.stale_branches)} stale)", style="dim")
    hb = s.heartbeat
    live = Text(hb.liveness, style=LIVENESS_STYLE.get(hb.liveness, ""))
    if hb.in_flight:
        live.append(" ♥", style="red")
    flags = (
        Text(" · ".join(hb.urgent_flags)[:60], style="bold red") if hb.urgent_flags else Text("")
    )
    if s.delivery_problem:
        flags.append(("  " if hb.urgent_flags else "") + "⚠ delivery problem", "yellow")
    return [
        Text(str(s.thread.id)),
        Text(s.thread.name + (" ★" if s.thread.is_master else "")),
        branch,
        dirty,
        ab,
        Text(f"{s.queue_in}/{s.queue_out}"),
        Text(age(s.last_activity, now)),
        live,
        flags,
        Text(s.thread.cwd or "-", style="dim"),
    ]


def heartbeat_row(s: ThreadStatus, now: float) -> list[Text]:
    hb = s.heartbeat
    cells = [Text(str(s.thread.id)), Text(s.thread.name)]
    for tier in hb.tiers:
        style = (
            "bold red" if tier.overdue else ("yellow" if tier.due and tier.tier != "quick" else "")
        )
        label = age(tier.last, now)
        if tier.overdue:
            label += " overdue"
        elif tier.due and tier.tier != "quick":
            label += " due"
        cells.append(Text(label, style=style))
    cells.append(Text("running" if hb.in_flight else age(hb.next_beat, now)))
    cells.append(Text(hb.liveness, style=LIVENESS_STYLE.get(hb.liveness, "")))
    cells.append(Text(f"{hb.runs}/{hb.skipped_stale}/{hb.failed}"))
    note = ""
    if hb.problems:
        note = hb.problems[0]
    elif hb.last_reply:
        note = hb.last_reply.splitlines()[0] if hb.last_reply.strip() else ""
    style = "yellow" if hb.problems else ("green" if hb.last_ok else "")
    cells.append(Text(" · ".join(hb.urgent_flags)[:40], style="bold red"))
    # First line only, short enough for the table to fit 150 columns; the panel shows the
    # selected thread's problems and reply in full below the table.
    cells.append(Text(note if len(note) <= 40 else note[:39] + "…", style=style))
    return cells


def heartbeat_detail(s: ThreadStatus) -> Text:
    """Under the Heartbeats table: the selected thread's problems and last reply, in full."""
    hb = s.heartbeat
    out = Text()
    out.append(f"{s.thread.name} (thread {s.thread.id})", style="bold")
    for flag in hb.urgent_flags:
        out.append(f"\nurgent: {flag}", style="bold red")
    for problem in hb.problems:
        out.append(f"\n⚠ {problem}", style="yellow")
    if hb.last_reply and hb.last_reply.strip():
        out.append("\nLast reply: ", style="bold")
        out.append(hb.last_reply.strip()[:2000])
    elif not hb.problems:
        out.append("\nno reply yet", style="dim")
    return out


def detail_text(d: ThreadDetail, now: float, kb: Iterable[str] = ()) -> Text:
    s = d.status
    out = Text()
    out.append(f"{s.thread.name} (thread {s.thread.id})", style="bold")
    out.append(f"  {s.thread.cwd or 'no cwd'}", style="dim")
    if s.thread.container:
        out.append(f"  in container {s.thread.container}", style="dim")
    out.append("\n")
    if s.repo is not None and s.repo.dirty_files:
        out.append("Uncommitted: ", style="bold")
        out.append(", ".join(s.repo.dirty_files[:10]) + "\n")
    if s.delivery_problem:
        out.append(f"⚠ delivery problem: {s.delivery_problem}\n", style="bold yellow")
    for problem in s.heartbeat.problems:
        out.append(f"⚠ {problem}\n", style="yellow")
    out.append("\nHEARTBEAT.md\n", style="bold underline")
    out.append(d.heartbeat_text[:4000] or "(none)")
    out.append("\n\nRecent outgoing\n", style="bold underline")
    if not d.outgoing:
        out.append("(none waiting)\n", style="dim")
    for msg in d.outgoing:
        out.append(f"{age(msg.timestamp / 1000, now)}  ", style="dim")
        out.append(msg.message[:500] + "\n")
    out.append("\nGit log\n", style="bold underline")
    out.append("\n".join(d.git_log) or "(no commits or not a repo)")
    kb_lines = list(kb)
    if kb_lines:
        out.append("\n\nKnowledge base\n", style="bold underline")
        out.append("\n".join(kb_lines))
    return out
