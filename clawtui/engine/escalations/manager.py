"""Escalations: an agent (or the engine on its behalf) needs a human decision.

Raised by agents through the API and CLI, and by the engine itself: health checks, the stuck
detector, failed state syncs, CI failures. Every capability raises through
`escalations.raise_(NewEscalation(...))`; a `dedupe_key` keeps a failure that repeats
from piling up one escalation per attempt (while one with that key is pending, raising again
returns it instead of adding another).
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from clawtui.engine.api.escalations import (
    Action,
    Decision,
    Escalation,
    EscalationError,
    NewEscalation,
    Severity,
    Source,
    Status,
)
from clawtui.engine.api.models import EventKind
from clawtui.engine.escalations import store as db
from clawtui.engine.kb import decisions as kb_decisions
from clawtui.engine.kb.knowledge import KBError

if TYPE_CHECKING:
    from clawtui.engine.context import Context
    from clawtui.engine.threads.queue import TinyClawQueue


_ACTION_STATUS = {
    Action.APPROVE: Status.APPROVED,
    Action.SKIP: Status.SKIPPED,
    Action.MODIFY: Status.MODIFIED,
}


def decision_message(esc: Escalation) -> str:
    """The text delivered to the agent's thread, in plain words it can act on."""
    head = f"[clawtui escalation #{esc.id}] {esc.status.value.upper()} by {esc.decided_by}"
    lines = [head, f"You were doing: {esc.doing}", f"You needed: {esc.need}"]
    if esc.status is Status.APPROVED:
        if esc.proposed_fix:
            lines.append(f"Approved fix: {esc.proposed_fix}")
        lines.append("Go ahead.")
    elif esc.status is Status.MODIFIED:
        lines.append(f"Do this instead: {esc.decision}")
    elif esc.status is Status.SKIPPED:
        lines.append("Skipped: do not apply the proposed fix; move on to your next task.")
    if esc.decision and esc.status is not Status.MODIFIED:
        lines.append(f"Note: {esc.decision}")
    return "\n".join(lines)


class Escalations:
    """The escalation store and its events."""

    def __init__(self, ctx: Context, queue: TinyClawQueue) -> None:
        self.ctx = ctx
        self.queue = queue
        self.kb_dir: Callable[[], Path | None] = lambda: None
        """The knowledge base whose decisions.md logs each decision (the engine wires it to
        the threads' master knowledge base); None: not logged."""
        self._sink_tasks: set[asyncio.Task[Escalation]] = set()
        queue.on_sink_error.append(self._sink_failed)

    def _sink_failed(self, thread_id: int, error: str) -> None:
        """A second sink (Nanoclaw) refused a delivery: one escalation per thread until it is
        resolved (called from whichever thread wrote the message)."""
        loop = self.ctx.bus.loop
        if loop is None or loop.is_closed():
            return
        new = NewEscalation(
            agent="clawtui",
            thread_id=thread_id,
            doing=f"delivering messages for thread {thread_id} into Nanoclaw",
            tried=[error[:1000]],
            need="a person to fix the Nanoclaw sink: messages reach the TinyClaw queue but "
            "not Nanoclaw, so the Nanoclaw agent never sees them",
            proposed_fix="check [threads] nanoclaw_db (data/v2.db or store/messages.db) and "
            "the thread's nanoclaw_jid; `clawtui config check` tests them",
            severity=Severity.HIGH,
            source=Source.DELIVERY,
            dedupe_key=f"sink:nanoclaw:{thread_id}",
        )

        def start() -> None:
            task = loop.create_task(self.raise_(new), name="engine:sink-escalation")
            self._sink_tasks.add(task)
            task.add_done_callback(self._sink_tasks.discard)

        loop.call_soon_threadsafe(start)

    async def raise_(self, new: NewEscalation) -> Escalation:
        """Store `new` (or return the pending one with the same dedupe key) and announce it."""

        def insert(conn: sqlite3.Connection) -> tuple[Escalation, bool]:
            with self.ctx.store.transaction():
                if new.dedupe_key:
                    pending = db.pending_with_key(conn, new.dedupe_key)
                    if pending is not None:
                        return pending, False
                return db.insert_escalation(conn, new, time.time()), True

        escalation, created = await self.ctx.store.arun(insert)
        if created:
            self.ctx.bus.publish(EventKind.ESCALATION, escalation=escalation, change="raised")
            self.ctx.log_activity(
                "warning",
                f"escalation #{escalation.id} from {escalation.agent}: {escalation.need}",
                subject=f"escalation/{escalation.id}",
            )
        return escalation

    async def get(self, escalation_id: int) -> Escalation | None:
        return await self.ctx.store.arun(lambda conn: db.escalation(conn, escalation_id))

    async def find(self, *, status: Status | None = None, limit: int = 500) -> list[Escalation]:
        """Pending first, oldest first within a status."""

        return await self.ctx.store.arun(lambda conn: db.find_escalations(conn, status, limit))

    async def decide(self, escalation_id: int, decision: Decision) -> Escalation:
        """Record the human's decision and deliver it to the agent's thread queue.

        Raises EscalationError (404 unknown, 409 not pending, 400 modify without text). The
        decision is stored first; delivery failing (queue not writable) leaves it recorded and
        is logged, the escalation's `delivered_message_id` staying None.
        """
        if decision.action is Action.MODIFY and not decision.text:
            raise EscalationError("modify needs the fix to apply instead (text)", 400)
        status = _ACTION_STATUS[decision.action]

        def update(conn: sqlite3.Connection) -> Escalation:
            with self.ctx.store.transaction():
                current = db.escalation(conn, escalation_id)
                if current is None:
                    raise EscalationError(f"no escalation #{escalation_id}", 404)
                if current.status is not Status.PENDING:
                    raise EscalationError(
                        f"escalation #{escalation_id} is already {current.status.value}"
                    )
                return db.set_decision(
                    conn, escalation_id, status, decision.text, decision.by, time.time()
                )

        escalation = await self.ctx.store.arun(update)
        if escalation.thread_id is not None:
            escalation = await self._deliver(escalation)
        else:
            self.ctx.log_activity(
                "info",
                f"escalation #{escalation.id} {escalation.status.value}: no thread to deliver to",
                subject=f"escalation/{escalation.id}",
            )
        await self._log_decision(escalation, decision)
        self.ctx.bus.publish(EventKind.ESCALATION, escalation=escalation, change="decided")
        self.ctx.log_activity(
            "info",
            f"escalation #{escalation.id} {escalation.status.value} by {escalation.decided_by}",
            subject=f"escalation/{escalation.id}",
        )
        return escalation

    async def _log_decision(self, esc: Escalation, decision: Decision) -> None:
        """Append the decision to the knowledge base's decisions.md and commit (seed 000)."""
        kb = self.kb_dir()
        if kb is None or not (kb / ".git").exists():
            return
        what = f"{esc.status.value} escalation #{esc.id} from {esc.agent}: {esc.need}"
        if esc.status is Status.APPROVED and esc.proposed_fix:
            what += f"; fix: {esc.proposed_fix}"
        if esc.status is Status.MODIFIED and esc.decision:
            what += f"; instead: {esc.decision}"
        why = decision.why or (decision.text if decision.action is not Action.MODIFY else None)
        try:
            committed = await kb_decisions.record_decision(
                kb,
                when=esc.decided_at or time.time(),
                who=esc.decided_by or decision.by,
                what=what,
                why=why or "",
            )
        except (KBError, OSError) as exc:
            self.ctx.log_activity(
                "warning",
                f"escalation #{esc.id}: decision not logged in {kb / 'decisions.md'}: {exc}",
                subject=f"escalation/{esc.id}",
            )
            return
        self.ctx.bus.publish(EventKind.KB, action="decision", committed=committed)

    async def _deliver(self, escalation: Escalation) -> Escalation:
        import asyncio

        from clawtui.engine.threads.queue import QueueError

        assert escalation.thread_id is not None
        thread_id = escalation.thread_id
        text = decision_message(escalation)

        def write() -> str:
            self.queue.ensure()
            msg = self.queue.deliver(
                thread_id,
                text,
                source="system",
                sender="clawtui",
                sender_id=f"escalation:{escalation.id}",
                escalationId=escalation.id,
                decision=escalation.status.value,
            )
            return msg.messageId

        try:
            message_id = await asyncio.to_thread(write)
        except (QueueError, OSError) as exc:
            self.ctx.log_activity(
                "error",
                f"escalation #{escalation.id}: decision recorded but not delivered: {exc}",
                subject=f"escalation/{escalation.id}",
            )
            return escalation

        def record(conn: sqlite3.Connection) -> Escalation:
            with self.ctx.store.transaction():
                return db.set_delivered(conn, escalation.id, message_id)

        return await self.ctx.store.arun(record)

    async def resolve(self, escalation_id: int, *, note: str | None = None) -> Escalation:
        """Mark an escalation resolved (from any status but resolved)."""

        def update(conn: sqlite3.Connection) -> Escalation:
            with self.ctx.store.transaction():
                current = db.escalation(conn, escalation_id)
                if current is None:
                    raise EscalationError(f"no escalation #{escalation_id}", 404)
                if current.status is Status.RESOLVED:
                    raise EscalationError(f"escalation #{escalation_id} is already resolved")
                return db.set_resolved(conn, escalation_id, note, time.time())

        escalation = await self.ctx.store.arun(update)
        self.ctx.bus.publish(EventKind.ESCALATION, escalation=escalation, change="resolved")
        return escalation

    async def resolve_key(self, dedupe_key: str, *, note: str | None = None) -> int:
        """Resolve every pending escalation with `dedupe_key` (the cause went away)."""
        found = [e for e in await self.find(status=Status.PENDING) if e.dedupe_key == dedupe_key]
        for esc in found:
            await self.resolve(esc.id, note=note)
        return len(found)

    async def undecided_since(self, before: float) -> list[Escalation]:
        """Pending escalations raised before `before` (for the brief)."""
        return [e for e in await self.find(status=Status.PENDING) if e.created_at <= before]
