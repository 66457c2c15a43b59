"""Health incidents and their loop (seed 002 §2.2-2.3, Sam and Ryan).

An anomaly a health check finds opens an incident keyed by `(monitor, signal)` (e.g.
`staging`, `disk:/var`), carrying the diagnostic report of seed 002 (summary, severity,
affected services, root cause if known, evidence, immediate action, recommended permanent
fix) and a loop state:

    detected ──(fix proposed: mark_pr_ready)──> pr_ready ──(healthy check)──> resolved
        └──────────────────(healthy check)────────────────────────────────────┘
    resolved ──(the same signal is anomalous again)──> restarting ──> ... ──> resolved
    pr_ready / resolved ──(mark_restarting: the fix did not hold)──> restarting

`hand_off` puts the report into the dev agent's thread queue (`incident_loop.py`); with the
monitor's `fix_thread_id` and `hand_off_on_detect` it happens on detected and restarting.

The human is told (through the notifier) only on the transitions to detected, pr_ready,
resolved and restarting; an anomaly that persists check after check only updates the
evidence and the occurrence count, silently.

Events: `EventKind.INCIDENT` with data `{"incident": Incident, "change": "detected" |
"pr_ready" | "resolved" | "restarting" | "updated"}`; autoheal outcomes use the same kind with
data `{"autoheal": {...}, "change": "autoheal"}` (see engine/autoheal/repair.py).
"""

from __future__ import annotations

import sqlite3
import time
from typing import TYPE_CHECKING

from clawtui.engine.api.escalations import (
    Incident,
    IncidentError,
    IncidentHandOff,
    LoopState,
    Report,
)
from clawtui.engine.api.models import EventKind
from clawtui.engine.escalations import incident_loop
from clawtui.engine.escalations import store as db
from clawtui.engine.notifier import Notification

if TYPE_CHECKING:
    from clawtui.engine.context import Context
    from clawtui.engine.notifier import Notifier
    from clawtui.engine.threads.queue import TinyClawQueue


_VERBS = {
    LoopState.DETECTED: "anomaly detected",
    LoopState.PR_READY: "fix ready for review",
    LoopState.RESOLVED: "resolved",
    LoopState.RESTARTING: "recurred; loop restarting",
}


def notification_text(incident: Incident) -> str:
    report = incident.report
    lines = [f"[{incident.monitor}] {_VERBS[incident.state]}: {incident.summary}"]
    if incident.state in (LoopState.DETECTED, LoopState.RESTARTING):
        lines.append("Starting infrastructure monitoring and incident response loop.")
        if report.recommended_fix:
            lines.append(f"Recommended fix: {report.recommended_fix}")
    if incident.state is LoopState.PR_READY and incident.pr_url:
        lines.append(f"Fix: {incident.pr_url}")
    return "\n".join(lines)


class Incidents:
    """The incident store and its loop transitions."""

    def __init__(
        self, ctx: Context, notifier: Notifier, queue: TinyClawQueue | None = None
    ) -> None:
        self.ctx = ctx
        self.notifier = notifier
        self.queue = queue

    def _announce(self, incident: Incident, change: str) -> None:
        self.ctx.bus.publish(EventKind.INCIDENT, incident=incident, change=change)
        if change in {s.value for s in LoopState}:
            self.notifier.notify(
                Notification(
                    kind=f"incident.{change}",
                    text=notification_text(incident),
                    data={
                        "incident_id": incident.id,
                        "monitor": incident.monitor,
                        "signal": incident.signal,
                        "state": incident.state.value,
                        "report": incident.report.model_dump(mode="json"),
                    },
                )
            )
            level = "info" if incident.state is LoopState.RESOLVED else "warning"
            self.ctx.log_activity(
                level,
                f"incident #{incident.id} {_VERBS[incident.state]}: {incident.summary}",
                host=None,
                subject=f"incident/{incident.id}",
            )

    async def anomaly(self, monitor: str, signal: str, report: Report) -> Incident:
        """An anomaly on `signal`: open (detected), recur (restarting) or update silently."""

        def apply(conn: sqlite3.Connection) -> tuple[Incident, str]:
            with self.ctx.store.transaction():
                now = time.time()
                last = db.last_incident(conn, monitor, signal)
                if last is not None and last.open:
                    return db.recur_incident(conn, last.id, report, now, None), "updated"
                if last is not None:
                    restarting = LoopState.RESTARTING
                    again = db.recur_incident(conn, last.id, report, now, restarting)
                    return again, restarting.value
                new = db.insert_incident(conn, monitor, signal, report, now)
                return new, LoopState.DETECTED.value

        incident, change = await self.ctx.store.arun(apply)
        self._announce(incident, change)
        if change != "updated" and incident_loop.auto_hand_off(self.ctx, monitor):
            try:
                await self.hand_off(incident.id)
            except IncidentError as exc:
                self.ctx.log_activity("error", str(exc), subject=f"incident/{incident.id}")
        return incident

    async def healthy(self, monitor: str, signals: set[str] | None = None) -> list[Incident]:
        """A healthy check: resolve the open incidents of `monitor` (only `signals` if given)."""

        def apply(conn: sqlite3.Connection) -> list[Incident]:
            with self.ctx.store.transaction():
                now = time.time()
                return [
                    db.set_incident_resolved(conn, found.id, now)
                    for found in db.open_incidents(conn, monitor)
                    if signals is None or found.signal in signals
                ]

        resolved = await self.ctx.store.arun(apply)
        for incident in resolved:
            self._announce(incident, LoopState.RESOLVED.value)
        return resolved

    async def mark_pr_ready(self, incident_id: int, pr_url: str | None = None) -> Incident:
        """A fix is proposed (a PR): detected / restarting -> pr_ready, notified."""

        def apply(conn: sqlite3.Connection) -> Incident:
            with self.ctx.store.transaction():
                current = db.incident(conn, incident_id)
                if current is None:
                    raise IncidentError(f"no incident #{incident_id}", 404)
                if current.state not in (LoopState.DETECTED, LoopState.RESTARTING):
                    raise IncidentError(f"incident #{incident_id} is {current.state.value}")
                return db.set_pr_ready(conn, incident_id, pr_url, time.time())

        incident = await self.ctx.store.arun(apply)
        self._announce(incident, LoopState.PR_READY.value)
        return incident

    async def mark_restarting(self, incident_id: int, note: str | None = None) -> Incident:
        """The fix did not hold (seed: "loop resolved or restarting"): pr_ready / resolved ->
        restarting, notified once; `note` goes into the report's evidence."""

        def apply(conn: sqlite3.Connection) -> Incident:
            with self.ctx.store.transaction():
                current = db.incident(conn, incident_id)
                if current is None:
                    raise IncidentError(f"no incident #{incident_id}", 404)
                if current.state not in (LoopState.PR_READY, LoopState.RESOLVED):
                    raise IncidentError(f"incident #{incident_id} is {current.state.value}")
                report = current.report
                if note:
                    report = report.model_copy(
                        update={"evidence": [*report.evidence, f"restarting: {note}"]}
                    )
                return db.set_restarting(conn, incident_id, report.model_dump_json(), time.time())

        incident = await self.ctx.store.arun(apply)
        self._announce(incident, LoopState.RESTARTING.value)
        if incident_loop.auto_hand_off(self.ctx, incident.monitor):
            try:
                await self.hand_off(incident.id)
            except IncidentError as exc:
                self.ctx.log_activity("error", str(exc), subject=f"incident/{incident.id}")
        return incident

    async def hand_off(self, incident_id: int, thread_id: int | None = None) -> IncidentHandOff:
        """The report into a dev agent's thread queue (default: the monitor's fix_thread_id)."""
        incident = await self.get(incident_id)
        if incident is None:
            raise IncidentError(f"no incident #{incident_id}", 404)
        return await incident_loop.hand_off(self.ctx, self.queue, incident, thread_id)

    async def get(self, incident_id: int) -> Incident | None:
        return await self.ctx.store.arun(lambda conn: db.incident(conn, incident_id))

    async def find(
        self, *, open_only: bool = False, monitor: str | None = None, limit: int = 500
    ) -> list[Incident]:
        """Open first, oldest first."""
        return await self.ctx.store.arun(
            lambda conn: db.find_incidents(conn, open_only=open_only, monitor=monitor, limit=limit)
        )
