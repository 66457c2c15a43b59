"""Escalations: an agent (or the engine on its behalf) needs a human decision.

Raised by agents through the API and CLI, and by the engine itself: health checks, the stuck
detector, failed state syncs, CI failures. Every capability raises through
`engine.escalations.raise_(NewEscalation(...))`; a `dedupe_key` keeps a failure that repeats
from piling up one escalation per attempt (while one with that key is pending, raising again
returns it instead of adding another).
"""

from __future__ import annotations

import json
import sqlite3
import time
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from clawtui.engine.models import EventKind

if TYPE_CHECKING:
    from clawtui.engine.core import Engine


class Severity(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


class Source(StrEnum):
    AGENT = "agent"
    HEALTH = "health"
    STUCK = "stuck"
    SYNC = "sync"
    CI = "ci"
    AUTOHEAL = "autoheal"


class Status(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    SKIPPED = "skipped"
    MODIFIED = "modified"
    RESOLVED = "resolved"


class NewEscalation(BaseModel):
    """What a raiser says: who, doing what, tried what, needs what."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    agent: str = Field(min_length=1, max_length=128)
    thread_id: int | None = Field(default=None, ge=0)
    doing: str = Field(min_length=1, max_length=4000)
    tried: list[str] = Field(default_factory=list, max_length=50)
    need: str = Field(min_length=1, max_length=4000)
    proposed_fix: str | None = Field(default=None, max_length=20000)
    detail: str | None = Field(
        default=None, max_length=200_000, description="Raw evidence (stack trace, logs)."
    )
    severity: Severity = Severity.MEDIUM
    source: Source = Source.AGENT
    dedupe_key: str | None = Field(default=None, max_length=256)


class Escalation(NewEscalation):
    """A stored escalation."""

    model_config = ConfigDict(extra="ignore")

    id: int
    created_at: float
    updated_at: float
    status: Status = Status.PENDING
    decision: str | None = None
    decided_by: str | None = None
    decided_at: float | None = None
    resolved_at: float | None = None


_COLUMNS = (
    "id, created_at, updated_at, agent, thread_id, doing, tried, need, proposed_fix, detail, "
    "severity, source, dedupe_key, status, decision, decided_by, decided_at, resolved_at"
)


def _row(row: sqlite3.Row) -> Escalation:
    data: dict[str, Any] = dict(row)
    data["tried"] = json.loads(data["tried"] or "[]")
    return Escalation.model_validate(data)


class Escalations:
    """The escalation store and its events."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    async def raise_(self, new: NewEscalation) -> Escalation:
        """Store `new` (or return the pending one with the same dedupe key) and announce it."""

        def insert(conn: sqlite3.Connection) -> tuple[Escalation, bool]:
            with self.engine.store.transaction():
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

        escalation, created = await self.engine.store.arun(insert)
        if created:
            self.engine.bus.publish(EventKind.ESCALATION, escalation=escalation, change="raised")
            self.engine.log_activity(
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

        return await self.engine.store.arun(query)

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

        return await self.engine.store.arun(query)
