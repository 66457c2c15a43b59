"""The SQL of escalations and incidents: tables `escalations` and `incidents` (migrations 300-349).

Functions take the connection; those that write expect the caller's transaction (the managers
check and write in one `store.transaction()`).

Migration 301 as first shipped also created the brief's table; that table is now the brief's own
step (brief/store.py, 350), which creates it only where 301 did not.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from clawtui.engine.api.escalations import (
    OPEN_STATES,
    Escalation,
    Incident,
    LoopState,
    NewEscalation,
    Report,
    Status,
)
from clawtui.engine.store import Migration

MIGRATIONS: list[Migration] = [
    (
        300,
        "escalations",
        """
        CREATE TABLE escalations (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL,
            agent TEXT NOT NULL,
            thread_id INTEGER,
            doing TEXT NOT NULL,
            tried TEXT NOT NULL,
            need TEXT NOT NULL,
            proposed_fix TEXT,
            detail TEXT,
            severity TEXT NOT NULL,
            source TEXT NOT NULL,
            dedupe_key TEXT,
            status TEXT NOT NULL,
            decision TEXT,
            decided_by TEXT,
            decided_at REAL,
            resolved_at REAL
        );
        CREATE INDEX escalations_status ON escalations (status, created_at);
        CREATE INDEX escalations_dedupe ON escalations (dedupe_key, status);
        """,
    ),
    (
        301,
        "escalation delivery, incidents",
        """
        ALTER TABLE escalations ADD COLUMN delivered_message_id TEXT;
        CREATE TABLE incidents (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            opened_at REAL NOT NULL,
            updated_at REAL NOT NULL,
            monitor TEXT NOT NULL,
            signal TEXT NOT NULL,
            state TEXT NOT NULL,
            severity TEXT NOT NULL,
            summary TEXT NOT NULL,
            report TEXT NOT NULL,
            occurrences INTEGER NOT NULL DEFAULT 1,
            resolved_at REAL,
            pr_url TEXT
        );
        CREATE INDEX incidents_signal ON incidents (monitor, signal, state);
        """,
    ),
]

# -- escalations -----------------------------------------------------------------------------
_ESCALATION_COLUMNS = (
    "id, created_at, updated_at, agent, thread_id, doing, tried, need, proposed_fix, detail, "
    "severity, source, dedupe_key, status, decision, decided_by, decided_at, resolved_at, "
    "delivered_message_id"
)


def _escalation(row: sqlite3.Row) -> Escalation:
    data: dict[str, Any] = dict(row)
    data["tried"] = json.loads(data["tried"] or "[]")
    return Escalation.model_validate(data)


def escalation(conn: sqlite3.Connection, escalation_id: int) -> Escalation | None:
    row = conn.execute(
        f"SELECT {_ESCALATION_COLUMNS} FROM escalations WHERE id = ?", (escalation_id,)
    ).fetchone()
    return _escalation(row) if row is not None else None


def _escalation_now(conn: sqlite3.Connection, escalation_id: int) -> Escalation:
    found = escalation(conn, escalation_id)
    assert found is not None, escalation_id  # read back in the transaction that wrote it
    return found


def pending_with_key(conn: sqlite3.Connection, dedupe_key: str) -> Escalation | None:
    """The oldest pending escalation with `dedupe_key`."""
    row = conn.execute(
        f"SELECT {_ESCALATION_COLUMNS} FROM escalations WHERE dedupe_key = ? AND status = ? "
        "ORDER BY id LIMIT 1",
        (dedupe_key, Status.PENDING.value),
    ).fetchone()
    return _escalation(row) if row is not None else None


def insert_escalation(conn: sqlite3.Connection, new: NewEscalation, now: float) -> Escalation:
    """A new pending escalation; the caller holds the transaction."""
    cur = conn.execute(
        "INSERT INTO escalations (created_at, updated_at, agent, thread_id, doing, "
        "tried, need, proposed_fix, detail, severity, source, dedupe_key, status) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            now, now, new.agent, new.thread_id, new.doing, json.dumps(new.tried), new.need,
            new.proposed_fix, new.detail, new.severity.value, new.source.value, new.dedupe_key,
            Status.PENDING.value,
        ),
    )  # fmt: skip
    assert cur.lastrowid is not None
    return _escalation_now(conn, cur.lastrowid)


def find_escalations(
    conn: sqlite3.Connection, status: Status | None, limit: int
) -> list[Escalation]:
    """Pending first, oldest first within a status."""
    where, args = ("WHERE status = ?", [status.value]) if status else ("", [])
    rows = conn.execute(
        f"SELECT {_ESCALATION_COLUMNS} FROM escalations {where} "
        "ORDER BY status != 'pending', created_at, id LIMIT ?",
        (*args, max(1, min(limit, 10_000))),
    ).fetchall()
    return [_escalation(r) for r in rows]


def set_decision(
    conn: sqlite3.Connection,
    escalation_id: int,
    status: Status,
    text: str | None,
    by: str | None,
    now: float,
) -> Escalation:
    conn.execute(
        "UPDATE escalations SET status = ?, decision = ?, decided_by = ?, "
        "decided_at = ?, updated_at = ? WHERE id = ?",
        (status.value, text, by, now, now, escalation_id),
    )
    return _escalation_now(conn, escalation_id)


def set_delivered(conn: sqlite3.Connection, escalation_id: int, message_id: str) -> Escalation:
    conn.execute(
        "UPDATE escalations SET delivered_message_id = ? WHERE id = ?",
        (message_id, escalation_id),
    )
    return _escalation_now(conn, escalation_id)


def set_resolved(
    conn: sqlite3.Connection, escalation_id: int, note: str | None, now: float
) -> Escalation:
    """Resolved; a note becomes the decision when there was none."""
    conn.execute(
        "UPDATE escalations SET status = ?, resolved_at = ?, updated_at = ?, "
        "decision = COALESCE(decision, ?) WHERE id = ?",
        (Status.RESOLVED.value, now, now, note, escalation_id),
    )
    return _escalation_now(conn, escalation_id)


# -- incidents -------------------------------------------------------------------------------
_INCIDENT_COLUMNS = (
    "id, opened_at, updated_at, monitor, signal, state, severity, summary, report, "
    "occurrences, resolved_at, pr_url"
)


def _incident(row: sqlite3.Row) -> Incident:
    data: dict[str, Any] = dict(row)
    data["report"] = json.loads(data["report"] or "{}")
    return Incident.model_validate(data)


def incident(conn: sqlite3.Connection, incident_id: int) -> Incident | None:
    row = conn.execute(
        f"SELECT {_INCIDENT_COLUMNS} FROM incidents WHERE id = ?", (incident_id,)
    ).fetchone()
    return _incident(row) if row is not None else None


def _incident_now(conn: sqlite3.Connection, incident_id: int) -> Incident:
    found = incident(conn, incident_id)
    assert found is not None, incident_id  # read back in the transaction that wrote it
    return found


def last_incident(conn: sqlite3.Connection, monitor: str, signal: str) -> Incident | None:
    """The newest incident of `(monitor, signal)`, open or not."""
    row = conn.execute(
        f"SELECT {_INCIDENT_COLUMNS} FROM incidents WHERE monitor = ? AND signal = ? "
        "ORDER BY id DESC LIMIT 1",
        (monitor, signal),
    ).fetchone()
    return _incident(row) if row is not None else None


def insert_incident(
    conn: sqlite3.Connection, monitor: str, signal: str, report: Report, now: float
) -> Incident:
    """A new incident, detected; the caller holds the transaction."""
    cur = conn.execute(
        "INSERT INTO incidents (opened_at, updated_at, monitor, signal, state, "
        "severity, summary, report) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (
            now, now, monitor, signal, LoopState.DETECTED.value, report.severity,
            report.summary, report.model_dump_json(),
        ),
    )  # fmt: skip
    assert cur.lastrowid is not None
    return _incident_now(conn, cur.lastrowid)


def recur_incident(
    conn: sqlite3.Connection, incident_id: int, report: Report, now: float, state: LoopState | None
) -> Incident:
    """One more occurrence with a fresh report; `state` (restarting) reopens a resolved one."""
    payload = report.model_dump_json()
    if state is None:
        conn.execute(
            "UPDATE incidents SET updated_at = ?, report = ?, summary = ?, "
            "severity = ?, occurrences = occurrences + 1 WHERE id = ?",
            (now, payload, report.summary, report.severity, incident_id),
        )
    else:
        conn.execute(
            "UPDATE incidents SET updated_at = ?, report = ?, summary = ?, "
            "severity = ?, state = ?, occurrences = occurrences + 1, "
            "resolved_at = NULL WHERE id = ?",
            (now, payload, report.summary, report.severity, state.value, incident_id),
        )
    return _incident_now(conn, incident_id)


def open_incidents(conn: sqlite3.Connection, monitor: str) -> list[Incident]:
    rows = conn.execute(
        f"SELECT {_INCIDENT_COLUMNS} FROM incidents WHERE monitor = ? AND state IN (?, ?, ?)",
        (monitor, *(s.value for s in OPEN_STATES)),
    ).fetchall()
    return [_incident(r) for r in rows]


def set_incident_resolved(conn: sqlite3.Connection, incident_id: int, now: float) -> Incident:
    conn.execute(
        "UPDATE incidents SET state = ?, resolved_at = ?, updated_at = ? WHERE id = ?",
        (LoopState.RESOLVED.value, now, now, incident_id),
    )
    return _incident_now(conn, incident_id)


def set_pr_ready(
    conn: sqlite3.Connection, incident_id: int, pr_url: str | None, now: float
) -> Incident:
    conn.execute(
        "UPDATE incidents SET state = ?, pr_url = ?, updated_at = ? WHERE id = ?",
        (LoopState.PR_READY.value, pr_url, now, incident_id),
    )
    return _incident_now(conn, incident_id)


def set_restarting(
    conn: sqlite3.Connection, incident_id: int, report_json: str, now: float
) -> Incident:
    """The loop starts again: `restarting`, not resolved any more, with the report given."""
    conn.execute(
        "UPDATE incidents SET state = ?, resolved_at = NULL, updated_at = ?, report = ? "
        "WHERE id = ?",
        (LoopState.RESTARTING.value, now, report_json, incident_id),
    )
    return _incident_now(conn, incident_id)


def find_incidents(
    conn: sqlite3.Connection, *, open_only: bool, monitor: str | None, limit: int
) -> list[Incident]:
    """Open first, oldest first."""
    where: list[str] = []
    args: list[Any] = []
    if open_only:
        where.append("state != 'resolved'")
    if monitor is not None:
        where.append("monitor = ?")
        args.append(monitor)
    clause = f"WHERE {' AND '.join(where)}" if where else ""
    rows = conn.execute(
        f"SELECT {_INCIDENT_COLUMNS} FROM incidents {clause} "
        "ORDER BY state = 'resolved', opened_at, id LIMIT ?",
        (*args, max(1, min(limit, 10_000))),
    ).fetchall()
    return [_incident(r) for r in rows]
