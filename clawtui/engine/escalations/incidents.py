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

import json
import sqlite3
import time
from typing import TYPE_CHECKING, Any

from clawtui.engine.api.escalations import (
    OPEN_STATES,
    Incident,
    IncidentError,
    IncidentHandOff,
    LoopState,
    Report,
)
from clawtui.engine.api.models import EventKind
from clawtui.engine.escalations import incident_loop
from clawtui.engine.notifier import Notification

if TYPE_CHECKING:
    from clawtui.engine.context import Context
    from clawtui.engine.notifier import Notifier
    from clawtui.engine.threads.queue import TinyClawQueue


_COLS = (
    "id, opened_at, updated_at, monitor, signal, state, severity, summary, report, "
    "occurrences, resolved_at, pr_url"
)


def _row(row: sqlite3.Row) -> Incident:
    data: dict[str, Any] = dict(row)
    data["report"] = json.loads(data["report"] or "{}")
    return Incident.model_validate(data)


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
                row = conn.execute(
                    f"SELECT {_COLS} FROM incidents WHERE monitor = ? AND signal = ? "
                    "ORDER BY id DESC LIMIT 1",
                    (monitor, signal),
                ).fetchone()
                payload = report.model_dump_json()
                if row is not None and _row(row).open:
                    conn.execute(
                        "UPDATE incidents SET updated_at = ?, report = ?, summary = ?, "
                        "severity = ?, occurrences = occurrences + 1 WHERE id = ?",
                        (now, payload, report.summary, report.severity, row["id"]),
                    )
                    change, ident = "updated", row["id"]
                elif row is not None:
                    conn.execute(
                        "UPDATE incidents SET updated_at = ?, report = ?, summary = ?, "
                        "severity = ?, state = ?, occurrences = occurrences + 1, "
                        "resolved_at = NULL WHERE id = ?",
                        (
                            now,
                            payload,
                            report.summary,
                            report.severity,
                            LoopState.RESTARTING.value,
                            row["id"],
                        ),
                    )
                    change, ident = LoopState.RESTARTING.value, row["id"]
                else:
                    cur = conn.execute(
                        "INSERT INTO incidents (opened_at, updated_at, monitor, signal, state, "
                        "severity, summary, report) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                        (
                            now,
                            now,
                            monitor,
                            signal,
                            LoopState.DETECTED.value,
                            report.severity,
                            report.summary,
                            payload,
                        ),
                    )
                    change, ident = LoopState.DETECTED.value, cur.lastrowid
                new = conn.execute(f"SELECT {_COLS} FROM incidents WHERE id = ?", (ident,))
                return _row(new.fetchone()), change

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
                rows = conn.execute(
                    f"SELECT {_COLS} FROM incidents WHERE monitor = ? AND state IN (?, ?, ?)",
                    (monitor, *(s.value for s in OPEN_STATES)),
                ).fetchall()
                now = time.time()
                out: list[Incident] = []
                for row in rows:
                    if signals is not None and row["signal"] not in signals:
                        continue
                    conn.execute(
                        "UPDATE incidents SET state = ?, resolved_at = ?, updated_at = ? "
                        "WHERE id = ?",
                        (LoopState.RESOLVED.value, now, now, row["id"]),
                    )
                    new = conn.execute(f"SELECT {_COLS} FROM incidents WHERE id = ?", (row["id"],))
                    out.append(_row(new.fetchone()))
                return out

        resolved = await self.ctx.store.arun(apply)
        for incident in resolved:
            self._announce(incident, LoopState.RESOLVED.value)
        return resolved

    async def mark_pr_ready(self, incident_id: int, pr_url: str | None = None) -> Incident:
        """A fix is proposed (a PR): detected / restarting -> pr_ready, notified."""

        def apply(conn: sqlite3.Connection) -> Incident:
            with self.ctx.store.transaction():
                row = conn.execute(
                    f"SELECT {_COLS} FROM incidents WHERE id = ?", (incident_id,)
                ).fetchone()
                if row is None:
                    raise IncidentError(f"no incident #{incident_id}", 404)
                if _row(row).state not in (LoopState.DETECTED, LoopState.RESTARTING):
                    raise IncidentError(f"incident #{incident_id} is {row['state']}")
                conn.execute(
                    "UPDATE incidents SET state = ?, pr_url = ?, updated_at = ? WHERE id = ?",
                    (LoopState.PR_READY.value, pr_url, time.time(), incident_id),
                )
                new = conn.execute(f"SELECT {_COLS} FROM incidents WHERE id = ?", (incident_id,))
                return _row(new.fetchone())

        incident = await self.ctx.store.arun(apply)
        self._announce(incident, LoopState.PR_READY.value)
        return incident

    async def mark_restarting(self, incident_id: int, note: str | None = None) -> Incident:
        """The fix did not hold (seed: "loop resolved or restarting"): pr_ready / resolved ->
        restarting, notified once; `note` goes into the report's evidence."""

        def apply(conn: sqlite3.Connection) -> Incident:
            with self.ctx.store.transaction():
                row = conn.execute(
                    f"SELECT {_COLS} FROM incidents WHERE id = ?", (incident_id,)
                ).fetchone()
                if row is None:
                    raise IncidentError(f"no incident #{incident_id}", 404)
                current = _row(row)
                if current.state not in (LoopState.PR_READY, LoopState.RESOLVED):
                    raise IncidentError(f"incident #{incident_id} is {row['state']}")
                report = current.report
                if note:
                    report = report.model_copy(
                        update={"evidence": [*report.evidence, f"restarting: {note}"]}
                    )
                conn.execute(
                    "UPDATE incidents SET state = ?, resolved_at = NULL, updated_at = ?, "
                    "report = ? WHERE id = ?",
                    (
                        LoopState.RESTARTING.value,
                        time.time(),
                        report.model_dump_json(),
                        incident_id,
                    ),
                )
                new = conn.execute(f"SELECT {_COLS} FROM incidents WHERE id = ?", (incident_id,))
                return _row(new.fetchone())

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
        def query(conn: sqlite3.Connection) -> Incident | None:
            row = conn.execute(
                f"SELECT {_COLS} FROM incidents WHERE id = ?", (incident_id,)
            ).fetchone()
            return _row(row) if row is not None else None

        return await self.ctx.store.arun(query)

    async def find(
        self, *, open_only: bool = False, monitor: str | None = None, limit: int = 500
    ) -> list[Incident]:
        """Open first, oldest first."""

        def query(conn: sqlite3.Connection) -> list[Incident]:
            where: list[str] = []
            args: list[Any] = []
            if open_only:
                where.append("state != 'resolved'")
            if monitor is not None:
                where.append("monitor = ?")
                args.append(monitor)
            clause = f"WHERE {' AND '.join(where)}" if where else ""
            rows = conn.execute(
                f"SELECT {_COLS} FROM incidents {clause} "
                "ORDER BY state = 'resolved', opened_at, id LIMIT ?",
                (*args, max(1, min(limit, 10_000))),
            ).fetchall()
            return [_row(r) for r in rows]

        return await self.ctx.store.arun(query)
