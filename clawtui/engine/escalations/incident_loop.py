"""The incident loop's hand-off (seed 002 §12, Sam steps 5-6): the diagnostic report, in the
seed's format, goes to the dev agent's thread (the monitor's `fix_thread_id`, the seed's Cody)
as a TinyClaw queue message (`source = "system"`, `sender_id = "incident:<id>"`, extra fields
`incidentId`, `monitor`, `signal`, `loopState`)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from clawtui.engine.api.escalations import Incident, IncidentError, IncidentHandOff

if TYPE_CHECKING:
    from clawtui.engine.context import Context
    from clawtui.engine.threads.queue import TinyClawQueue


def report_message(incident: Incident) -> str:
    """The seed's diagnostic report format, for the agent that makes the permanent fix."""
    r = incident.report
    lines = [
        f"[clawtui incident #{incident.id}] {incident.monitor}: {incident.state.value}",
        "",
        f"**Summary:** {r.summary}",
        f"**Severity:** {r.severity.capitalize()}",
        f"**Affected services:** {', '.join(r.affected_services) or 'unknown'}",
        f"**Root cause:** {r.root_cause or 'not known yet'}",
        "**Evidence:**",
        *[f"- {e}" for e in r.evidence],
        f"**Immediate action taken:** {r.immediate_action or 'none'}",
        f"**Recommended permanent fix:** {r.recommended_fix or 'to be found'}",
        "",
        f"When your PR is open: clawtui incidents pr-ready {incident.id} --pr-url URL",
    ]
    return "\n".join(lines)


def fix_thread(ctx: Context, monitor: str) -> int | None:
    cfg = next((m for m in ctx.settings.monitors if m.name == monitor), None)
    return None if cfg is None else cfg.fix_thread_id


def auto_hand_off(ctx: Context, monitor: str) -> bool:
    cfg = next((m for m in ctx.settings.monitors if m.name == monitor), None)
    return cfg is not None and cfg.fix_thread_id is not None and cfg.hand_off_on_detect


async def hand_off(
    ctx: Context, queue: TinyClawQueue | None, incident: Incident, thread_id: int | None
) -> IncidentHandOff:
    from clawtui.engine.threads.queue import QueueError

    thread = thread_id if thread_id is not None else fix_thread(ctx, incident.monitor)
    if thread is None:
        raise IncidentError(
            f"incident #{incident.id}: no thread to hand it to; set fix_thread_id on "
            f"[[monitors]] {incident.monitor!r} or give a thread"
        )
    if queue is None:
        raise IncidentError("this engine has no TinyClaw queue", 503)
    text = report_message(incident)

    def write() -> str:
        queue.ensure()
        msg = queue.deliver(
            thread,
            text,
            source="system",
            sender="clawtui",
            sender_id=f"incident:{incident.id}",
            incidentId=incident.id,
            monitor=incident.monitor,
            signal=incident.signal,
            loopState=incident.state.value,
        )
        return msg.messageId

    try:
        message_id = await asyncio.to_thread(write)
    except (QueueError, OSError) as exc:
        raise IncidentError(
            f"incident #{incident.id}: cannot write to thread {thread}: {exc}", 503
        ) from exc
    ctx.log_activity(
        "info",
        f"incident #{incident.id} handed to thread {thread} ({message_id})",
        subject=f"incident/{incident.id}",
    )
    return IncidentHandOff(incident_id=incident.id, thread_id=thread, message_id=message_id)
