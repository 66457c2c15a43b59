"""What the memory panel says about plans, batch results and the change history, as rich Text.

Pure functions over the engine's memory models, so the wording is tested without a screen.
Container names and Docker's reasons are untrusted text: they are appended as plain `Text`,
never parsed as markup.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Literal

from rich.text import Text

from clawtui.engine.api.memory import (
    ApplyResult,
    BatchState,
    ContainerCheck,
    MemoryChange,
    MemoryPlan,
    Outcome,
)
from clawtui.tui.widgets.slider import format_size

Severity = Literal["information", "warning", "error"]

OUTCOME_MARK: dict[Outcome, tuple[str, str]] = {
    Outcome.APPLIED: ("✓", "applied"),
    Outcome.UNCHANGED: ("·", "unchanged"),
    Outcome.NOT_APPLIED: ("✗", "refused"),
    Outcome.FAILED: ("✗", "failed"),
    Outcome.ROLLED_BACK: ("↺", "rolled back"),
    Outcome.ROLLBACK_FAILED: ("!", "rollback failed"),
}
"""The mark and the words of each outcome."""

STATE_WORDS: dict[BatchState, str] = {
    BatchState.APPLIED: "Applied",
    BatchState.REFUSED: "Refused: nothing was changed",
    BatchState.ROLLED_BACK: "Failed and rolled back: limits are as before",
    BatchState.PARTIAL: "Failed, and a rollback failed too: limits are mixed",
    BatchState.MIXED: "Applied on some hosts only",
}


def sizes(old: int, new: int) -> str:
    return f"{format_size(old)} → {format_size(new)}"


def check_line(check: ContainerCheck) -> Text:
    """'dev-sam 512 MiB → 768 MiB: reason; reason'."""
    line = Text()
    line.append(check.name, style="bold")
    line.append(f" {sizes(check.old_limit, check.new_limit)}")
    reasons = [r for r in check.reasons if r != "unchanged"]
    if reasons:
        line.append(": " + "; ".join(reasons))
    return line


def plan_lines(plan: MemoryPlan) -> list[Text]:
    """Why a plan was refused: the batch's errors, then each refused container."""
    lines = [Text("Refused: nothing was changed", style="bold")]
    for error in plan.errors:
        lines.append(Text("✗ ") + Text(error.message))
    for check in plan.refused:
        lines.append(Text("✗ ") + check_line(check))
    return lines


def partial_lines(plan: MemoryPlan, going: list[str]) -> list[Text]:
    """A plan refused on some hosts only: each host's part is applied on its own, so the others
    can go ahead. Which hosts would, and why the others would not."""
    lines = [Text("Each host's changes are applied on their own; some hosts refuse theirs:")]
    for host in dict.fromkeys(c.host for c in plan.checks):
        if host in going:
            n = sum(1 for c in plan.checks if c.host == host and c.changes)
            lines.append(Text(f"✓ host {host}: {n} change{'s' if n != 1 else ''} would be applied"))
            continue
        lines.append(Text(f"✗ host {host}: nothing would change there", style="bold"))
        for error in plan.errors:
            if error.host == host:
                lines.append(Text("    ") + Text(error.message))
        for check in plan.refused:
            if check.host == host:
                lines.append(Text("    ") + check_line(check))
    return lines


def warning_lines(plan: MemoryPlan) -> list[Text]:
    """The warnings to confirm before a batch is applied."""
    lines = [Text("The engine warns about these changes:")]
    for check in plan.warnings:
        lines.append(Text("⚠ ") + check_line(check))
    if any(below_usage(c) for c in plan.warnings):
        lines.append(Text(
            "A limit below the memory in use makes the kernel kill processes in the container "
            "at once.", style="bold"))  # fmt: skip
    return lines


def below_usage(check: ContainerCheck) -> bool:
    """The change sets a limit below what the container uses now."""
    return check.needs_confirmation or (
        check.changes and check.usage is not None and check.new_limit < check.usage
    )


def result_lines(result: ApplyResult) -> list[Text]:
    """The outcome of a batch, one line per container."""
    if result.state is BatchState.REFUSED:
        return plan_lines(result.plan)
    changed = [o for o in result.outcomes if o.outcome is not Outcome.UNCHANGED]
    head = STATE_WORDS[result.state]
    if result.state is BatchState.APPLIED:
        head += f" {len(changed)} change{'s' if len(changed) != 1 else ''}"
    lines = [Text(f"{head} ({result.seconds:.2f}s)", style="bold")]
    if len(result.hosts) > 1:
        for h in result.hosts:
            line = Text(f"host {h.host}: {h.state.value.replace('_', ' ')}")
            if h.reason:
                line.append(": " + h.reason)
            lines.append(line)
    for o in result.outcomes:
        mark, words = OUTCOME_MARK[o.outcome]
        line = Text(f"{mark} ")
        line.append(o.check.name, style="bold")
        line.append(f" {sizes(o.check.old_limit, o.check.new_limit)} {words}")
        reason = o.error or o.rollback_error
        if reason:
            line.append(": " + reason)
        lines.append(line)
    return lines


def result_severity(result: ApplyResult) -> Severity:
    """How a toast about the result looks: information, warning or error."""
    if result.state is BatchState.APPLIED:
        return "information"
    return "warning" if result.state is BatchState.REFUSED else "error"


def rows_from_result(result: ApplyResult) -> list[MemoryChange]:
    """The history rows the engine records for a batch (those that touched Docker)."""
    return result.history_rows()


def history_text(rows: Iterable[MemoryChange]) -> Text:
    """The recent changes, newest first, two lines each: 'HH:MM:SS name (who)', then
    '  old → new ✓ outcome'."""
    text = Text(no_wrap=False)
    for n, row in enumerate(rows):
        if n:
            text.append("\n")
        text.append(time.strftime("%H:%M:%S", time.localtime(row.ts)), style="dim")
        text.append(" ")
        text.append(row.name, style="bold")
        text.append(f" ({row.who})", style="dim")
        mark, words = OUTCOME_MARK[row.outcome]
        text.append(f"\n  {sizes(row.old_limit, row.new_limit)} {mark} {words}")
    if not text.plain:
        text.append("No changes yet.", style="dim")
    return text
