"""What is told about a memory batch: stored history rows, a MEMORY event, the activity log and
the notifier's message."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from clawtui.engine.api.memory import (
    ApplyResult,
    BatchState,
    ContainerOutcome,
    Outcome,
    format_bytes,
)
from clawtui.engine.api.models import EventKind
from clawtui.engine.memory.store import write_history
from clawtui.engine.notifier import Notification

if TYPE_CHECKING:
    from clawtui.engine.context import Context
    from clawtui.engine.notifier import Notifier

log = logging.getLogger(__name__)


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
        head = {
            BatchState.ROLLED_BACK: "Memory rebalance failed and was rolled back",
            BatchState.MIXED: "Memory rebalance applied on some hosts only",
        }.get(result.state, "Memory rebalance failed and could NOT be fully rolled back")
        lines = [f"{head} {by}:"]
        if len(result.hosts) > 1:
            for h in result.hosts:
                detail = h.state.value.replace("_", " ")
                lines.append(f"host {h.host}: {detail}" + (f" ({h.reason})" if h.reason else ""))
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
        "hosts": {h.host: h.state.value for h in result.hosts},
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


async def report(ctx: Context, notifier: Notifier, result: ApplyResult) -> None:
    """Store, publish, notify and log a result. Never raises: the batch is done already."""
    rows = result.history_rows()
    hosts = sorted({o.check.host for o in result.outcomes})
    host = hosts[0] if len(hosts) == 1 else None
    if result.state is BatchState.REFUSED:
        ctx.log_activity(
            "warning",
            f"memory batch by {result.who} refused: {result.summary()}"[:1000],
            host=host,
            subject="memory",
        )
        return
    if rows:
        try:
            await asyncio.to_thread(write_history, ctx.store, rows)
        except Exception as exc:  # disk full, store closed: the change happened anyway
            log.warning("could not record memory batch %s: %s", result.batch_id, exc)
    try:
        ctx.bus.publish(EventKind.MEMORY, host=host, result=result)
    except Exception as exc:
        log.warning("could not publish memory batch %s: %s", result.batch_id, exc)
    note = notification_for(result)
    if note is not None:
        level = "info" if result.state is BatchState.APPLIED else "error"
        ctx.log_activity(level, note.text.replace("\n", "; ")[:1000], host=host,
                            subject="memory")  # fmt: skip
        notifier.notify(note)
