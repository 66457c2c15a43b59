"""What people are told about a memory batch: the notifier's message for a result."""

from __future__ import annotations

from clawtui.engine.api.memory import (
    ApplyResult,
    BatchState,
    ContainerOutcome,
    Outcome,
    format_bytes,
)
from clawtui.engine.notifier import Notification


def notification_for(result: ApplyResult) -> Notification | None:
    """The message people get about a batch that touched Docker (None when nothing changed)."""
    lines: list[str] = []
    by = f"(by {result.who})"
    changed = [o for o in result.outcomes if o.outcome is not Outcome.UNCHANGED]
    if not changed:
        return None

    def sizes(o: ContainerOutcome) -> str:
        return f"{format_bytes(o.check.old_limit)} → {format_bytes(o.check.new_limit)}"

    if result.state is BatchState.APPLIED:
        kind = "memory.rebalanced"
        lines = [f"Memory rebalanced: {o.check.name} {sizes(o)} {by}" for o in changed]
    else:
        kind = f"memory.{result.state.value}"
        head = (
            "Memory rebalance failed and was rolled back"
            if result.state is BatchState.ROLLED_BACK
            else "Memory rebalance failed and could NOT be fully rolled back"
        )
        lines = [f"{head} {by}:"]
        for o in changed:
            detail = o.outcome.value.replace("_", " ")
            if o.error:
                detail += f": {o.error}"
            if o.rollback_error:
                detail += f"; rollback: {o.rollback_error}"
            lines.append(f"- {o.check.name} {sizes(o)}: {detail}")
    data = {
        "batch_id": result.batch_id,
        "who": result.who,
        "state": result.state.value,
        "changes": [
            {
                "host": o.check.host,
                "id": o.check.id,
                "name": o.check.name,
                "old_limit": o.check.old_limit,
                "new_limit": o.check.new_limit,
                "outcome": o.outcome.value,
                "error": o.error,
            }
            for o in changed
        ],
    }
    return Notification(kind=kind, text="\n".join(lines), data=data)
