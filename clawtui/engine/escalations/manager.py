"""Escalations: an agent (or the engine on its behalf) needs a human decision.

Raised by agents through the API and CLI, and by the engine itself: health checks, the stuck
detector, failed state syncs, CI failures. Every capability raises through
`escalations.raise_(NewEscalation(...))`; a `dedupe_key` keeps a failure that repeats
from piling up one escalation per attempt (while one with that key is pending, raising again
returns it instead of adding another).
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from clawtui.engine.api.escalations import (
    Action,
    Decision,
    Escalation,
    EscalationError,
    NewEscalation,
    Status,
)
from clawtui.engine.api.models import EventKind
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


_COLUMNS = (
    "id, created_at, updated_at, agent, thread_id, doing, tried, need, proposed_fix, detail, "
    "severity, source, dedupe_key, status, decision, decided_by, decided_at, resolved_at, "
    "delivered_message_id"
)


def _row(row: sqlite3.Row) -> Escalation:
    data: dict[str, Any] = dict(row)
    data["tried"] = json.loads(data["tried"] or "[]")
    return Escalation.model_validate(data)


class Escalations:
    """The escalation store and its events."""

    def __init__(self, ctx: Context, queue: TinyClawQueue) -> None:
        self.ctx = ctx
        self.queue = queue
        self.kb_dir: Callable[[], Path | None] = lambda: None
        """The knowledge base whose decisions.md logs each decision (the engine wires it to
        the threads' master knowledge base); None: not logged."""

    async def raise_(self, new: NewEscalation) -> Escalation:
        """Store `new` (or return the pending one with the same dedupe key) and announce it."""

        def insert(conn: sqlite3.Connection) -> tuple[Escalation, bool]:
            with self.ctx.store.transaction():
                if new.dedupe_key:
                    row = conn.execute(
                        f"SELECT {_COLUMNS} FROM escalations WHERE dedupe_key = ? AND status = ? "
                        "ORDER BY id LIMIT 1",
                        (new.dedupe_key, Status.PENDING.value),
                    ).fetchone()
                    if row is not None:
                        return _row(row), False
                now = time.time()
                cur = conn.execute(
                    "INSERT INTO escalations (created_at, updated_at, agent, thread_id, doing, "
                    "tried, need, proposed_fix, detail, severity, source, dedupe_key, status) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        now,
                        now,
                        new.agent,
                        new.thread_id,
                        new.doing,
                        json.dumps(new.tried),
                        new.need,
                        new.proposed_fix,
                        new.detail,
                        new.severity.value,
                        new.source.value,
                        new.dedupe_key,
                        Status.PENDING.value,
                    ),
                )
                row = conn.execute(
                    f"SELECT {_COLUMNS} FROM escalations WHERE id = ?", (cur.lastrowid,)
                ).fetchone()
                return _row(row), True

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
        def query(conn: sqlite3.Connection) -> Escalation | None:
            row = conn.execute(
                f"SELECT {_COLUMNS} FROM escalations WHERE id = ?", (escalation_id,)
            ).fetchone()
            return _row(row) if row is not None else None

        return await self.ctx.store.arun(query)

    async def find(self, *, status: Status | None = None, limit: int = 500) -> list[Escalation]:
        """Pending first, oldest first within a status."""

        def query(conn: sqlite3.Connection) -> list[Escalation]:
            where, args = ("WHERE status = ?", [status.value]) if status else ("", [])
            rows = conn.execute(
                f"SELECT {_COLUMNS} FROM escalations {where} "
                "ORDER BY status != 'pending', created_at, id LIMIT ?",
                (*args, max(1, min(limit, 10_000))),
            ).fetchall()
            return [_row(r) for r in rows]

        return await self.ctx.store.arun(query)

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
                row = conn.execute(
                    f"SELECT {_COLUMNS} FROM escalations WHERE id = ?", (escalation_id,)
                ).fetchone()
                if row is None:
                    raise EscalationError(f"no escalation #{escalation_id}", 404)
                current = _row(row)
                if current.status is not Status.PENDING:
                    raise EscalationError(
                        f"escalation #{escalation_id} is already {current.status.value}"
                    )
                now = time.time()
                conn.execute(
                    "UPDATE escalations SET status = ?, decision = ?, decided_by = ?, "
                    "decided_at = ?, updated_at = ? WHERE id = ?",
                    (status.value, decision.text, decision.by, now, now, escalation_id),
                )
                return _row(
                    conn.execute(
                        f"SELECT {_COLUMNS} FROM escalations WHERE id = ?", (escalation_id,)
                    ).fetchone()
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
                conn.execute(
                    "UPDATE escalations SET delivered_message_id = ? WHERE id = ?",
                    (message_id, escalation.id),
                )
                return _row(
                    conn.execute(
                        f"SELECT {_COLUMNS} FROM escalations WHERE id = ?", (escalation.id,)
                    ).fetchone()
                )

        return await self.ctx.store.arun(record)

    async def resolve(self, escalation_id: int, *, note: str | None = None) -> Escalation:
        """Mark an escalation resolved (from any status but resolved)."""

        def update(conn: sqlite3.Connection) -> Escalation:
            with self.ctx.store.transaction():
                row = conn.execute(
                    f"SELECT {_COLUMNS} FROM escalations WHERE id = ?", (escalation_id,)
                ).fetchone()
                if row is None:
                    raise EscalationError(f"no escalation #{escalation_id}", 404)
                if _row(row).status is Status.RESOLVED:
                    raise EscalationError(f"escalation #{escalation_id} is already resolved")
                now = time.time()
                conn.execute(
                    "UPDATE escalations SET status = ?, resolved_at = ?, updated_at = ?, "
                    "decision = COALESCE(decision, ?) WHERE id = ?",
                    (Status.RESOLVED.value, now, now, note, escalation_id),
                )
                return _row(
                    conn.execute(
                        f"SELECT {_COLUMNS} FROM escalations WHERE id = ?", (escalation_id,)
                    ).fetchone()
                )

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
