"""The SQL of escalations and incidents: tables `escalations` and `incidents` (migrations 300-349).

Migration 301 as first shipped also created the brief's table; that table is now the brief's own
step (brief/store.py, 350), which creates it only where 301 did not.
"""

from __future__ import annotations

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
