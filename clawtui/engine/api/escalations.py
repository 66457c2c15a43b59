"""Escalations, incidents and the morning brief: the value types and protocols front ends use.

Pure models and protocols (no I/O). The engine's `clawtui.engine.escalations`, `.health`,
`.stuck`, `.brief` and `.autoheal` packages implement them; the remote client
(`clawtui.client.escalations`) offers the same protocols over the service's REST routes. A front
end reaches them through `escalations_of` / `incidents_of` / `briefs_of`, which answer None for
an engine without them, so a panel can say "not available here" instead of failing.
"""

from __future__ import annotations

import time
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from clawtui.engine.api.protocols import EngineAPI


# -- escalations -------------------------------------------------------------------------------
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
    DELIVERY = "delivery"


class Status(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    SKIPPED = "skipped"
    MODIFIED = "modified"
    RESOLVED = "resolved"


class NewEscalation(BaseModel):
    """What a raiser says: who, doing what, tried what, needs what."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, defer_build=True)

    agent: str = Field(min_length=1, max_length=128)
    thread_id: int | None = Field(default=None, ge=0, le=2**63 - 1)  # SQLite's INTEGER
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
    delivered_message_id: str | None = None
    """The queue message that carried the decision to the agent's thread (None: no thread)."""

    @property
    def pending(self) -> bool:
        return self.status is Status.PENDING


class Action(StrEnum):
    """What the human decided."""

    APPROVE = "approve"
    SKIP = "skip"
    MODIFY = "modify"


class Decision(BaseModel):
    """A human's answer to a pending escalation."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, defer_build=True)

    action: Action
    text: str | None = Field(
        default=None,
        max_length=20000,
        description="Modify: the fix to apply instead (required). Approve / skip: a note.",
    )
    by: str = Field(default="human", min_length=1, max_length=128)
    why: str | None = Field(
        default=None,
        max_length=5000,
        description="Why it was decided (logged in the knowledge base's decisions.md).",
    )


class EscalationError(Exception):
    """A decision or resolution was refused; `status` is the HTTP status that fits."""

    def __init__(self, message: str, status: int = 409) -> None:
        super().__init__(message)
        self.status = status


# -- incidents ---------------------------------------------------------------------------------
class LoopState(StrEnum):
    DETECTED = "detected"
    PR_READY = "pr_ready"
    RESOLVED = "resolved"
    RESTARTING = "restarting"


OPEN_STATES = (LoopState.DETECTED, LoopState.PR_READY, LoopState.RESTARTING)


class Report(BaseModel):
    """The diagnostic report (seed 002, Sam step 7)."""

    model_config = ConfigDict(extra="ignore", defer_build=True)

    summary: str
    severity: str = "medium"
    affected_services: list[str] = Field(default_factory=list)
    root_cause: str | None = None
    evidence: list[str] = Field(default_factory=list)
    immediate_action: str | None = None
    recommended_fix: str | None = None


class Incident(BaseModel):
    model_config = ConfigDict(extra="ignore", defer_build=True)

    id: int
    opened_at: float
    updated_at: float
    monitor: str
    signal: str
    state: LoopState
    severity: str
    summary: str
    report: Report
    occurrences: int = 1
    resolved_at: float | None = None
    pr_url: str | None = None

    @property
    def open(self) -> bool:
        return self.state in OPEN_STATES


class IncidentHandOff(BaseModel):
    """An incident's diagnostic report handed to a dev agent's thread (seed 002 §12, step 6)."""

    model_config = ConfigDict(extra="ignore")

    incident_id: int
    thread_id: int
    message_id: str = Field(description="The TinyClaw queue message that carried the report.")


class IncidentError(Exception):
    def __init__(self, message: str, status: int = 409) -> None:
        super().__init__(message)
        self.status = status


class AutohealOutcome(BaseModel):
    """What one autoheal check of a config file found and did (an INCIDENT event's `autoheal`)."""

    model_config = ConfigDict(defer_build=True)

    path: str
    ok: bool
    action: str = Field(description="healthy | dropped_keys | restored | failed")
    problems: list[str] = Field(default_factory=list)
    dropped: list[str] = Field(default_factory=list)
    backup: str | None = None
    restored_from: str | None = None
    ts: float = Field(default_factory=time.time)


# -- the morning brief -------------------------------------------------------------------------
class NeedsYou(BaseModel):
    model_config = ConfigDict(defer_build=True)

    escalation_id: int
    agent: str
    text: str


class Brief(BaseModel):
    model_config = ConfigDict(defer_build=True)

    day: str
    created_at: float = Field(default_factory=time.time)
    sent: bool = False
    needs_you: list[NeedsYou] = Field(default_factory=list)
    happening: list[str] = Field(default_factory=list)
    shipped: list[str] = Field(default_factory=list)
    blocked: list[str] = Field(default_factory=list)
    fleet: list[tuple[str, str]] = Field(default_factory=list)

    @property
    def needs_human(self) -> bool:
        return bool(self.needs_you or self.blocked)

    def text(self) -> str:
        lines = [f"☀️ Morning Brief — {self.day}", ""]
        if self.needs_you:
            lines.append(f"NEEDS YOU ({len(self.needs_you)}):")
            lines += [f"  [✅ Approve] [❌ Skip]  {n.text}" for n in self.needs_you]
            lines.append("")
        if self.happening:
            lines.append("HAPPENING:")
            lines += [f"  {h}" for h in self.happening]
            lines.append("")
        if self.shipped:
            lines.append("SHIPPED YESTERDAY:")
            lines += [f"  • {s}" for s in self.shipped]
            lines.append("")
        if self.blocked:
            lines.append("BLOCKED:")
            lines += [f"  • {b}" for b in self.blocked]
            lines.append("")
        if self.fleet:
            icon = {"ok": "🟢", "down": "🔴", "warn": "🟡"}
            lines.append("Fleet: " + " | ".join(f"{n} {icon.get(s, '⚪')}" for n, s in self.fleet))
        else:
            lines.append("Fleet: (no agents known)")
        return "\n".join(lines).rstrip() + "\n"


def brief_json(brief: Brief) -> dict[str, Any]:
    """The brief as the REST API and `clawtui brief --json` show it (with its text)."""
    return {**brief.model_dump(mode="json"), "text": brief.text(), "needs_human": brief.needs_human}


# -- protocols ---------------------------------------------------------------------------------
class EscalationsAPI(Protocol):
    """Raise, read, decide and resolve escalations.

    `decide` and `resolve` raise `EscalationError` (its `status`: 404 unknown id, 409 no longer
    pending / already resolved, 400 modify without text).
    """

    async def raise_(self, new: NewEscalation) -> Escalation:
        """Store `new` (or return the pending one with the same dedupe key)."""
        ...

    async def get(self, escalation_id: int) -> Escalation | None: ...

    async def find(self, *, status: Status | None = None, limit: int = 500) -> list[Escalation]:
        """Pending first, oldest first within a status."""
        ...

    async def decide(self, escalation_id: int, decision: Decision) -> Escalation:
        """Record the decision and deliver it to the agent's thread (when it has one)."""
        ...

    async def resolve(self, escalation_id: int, *, note: str | None = None) -> Escalation: ...


class IncidentsAPI(Protocol):
    """Health incidents: read them, mark a proposed fix (`IncidentError` when refused)."""

    async def get(self, incident_id: int) -> Incident | None: ...

    async def find(self, *, open_only: bool = False, limit: int = 500) -> list[Incident]:
        """Open first, oldest first."""
        ...

    async def mark_pr_ready(self, incident_id: int, pr_url: str | None = None) -> Incident: ...

    async def mark_restarting(self, incident_id: int, note: str | None = None) -> Incident:
        """The fix did not hold: pr_ready / resolved -> restarting, notified once."""
        ...

    async def hand_off(self, incident_id: int, thread_id: int | None = None) -> IncidentHandOff:
        """Put the incident's report into a thread's TinyClaw queue (default: the monitor's
        `fix_thread_id`); `IncidentError` (409) when there is no thread to hand it to."""
        ...


class BriefAPI(Protocol):
    """The morning brief: the kept ones, and a preview built from current state."""

    async def build(self, day: str | None = None) -> Brief:
        """The brief of `day` (default: today in the brief's zone); not sent, not kept."""
        ...

    async def get(self, day: str) -> Brief | None: ...

    async def latest(self) -> Brief | None: ...


def escalations_of(engine: EngineAPI) -> EscalationsAPI | None:
    """The engine's escalations (or the remote client's, over REST), or None when it has none."""
    escalations: EscalationsAPI | None = getattr(engine, "escalations", None)
    return escalations


def incidents_of(engine: EngineAPI) -> IncidentsAPI | None:
    """The engine's incidents, or None when it has none."""
    incidents: IncidentsAPI | None = getattr(engine, "incidents", None)
    return incidents


def briefs_of(engine: EngineAPI) -> BriefAPI | None:
    """The engine's morning briefs, or None when it has none."""
    briefs: BriefAPI | None = getattr(engine, "briefs", None)
    return briefs
