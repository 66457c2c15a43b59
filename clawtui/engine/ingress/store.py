"""The SQL of ingress: deliveries, quarantine and CI failure streaks (migrations 400-499)."""

from __future__ import annotations

from clawtui.engine.store import Migration

MIGRATIONS: list[Migration] = [
    (
        400,
        "ingress deliveries, quarantine, CI failure streaks",
        """
        CREATE TABLE ingress_deliveries (
            id TEXT PRIMARY KEY,
            kind TEXT NOT NULL,
            dedupe_key TEXT NOT NULL UNIQUE,
            received_at REAL NOT NULL,
            status TEXT NOT NULL,
            thread_id INTEGER,
            sender TEXT,
            target TEXT,
            summary TEXT NOT NULL,
            text TEXT,
            fields TEXT,
            escalate TEXT,
            delivered_at REAL,
            error TEXT
        );
        CREATE INDEX ingress_deliveries_status ON ingress_deliveries (status, received_at);
        CREATE INDEX ingress_deliveries_received ON ingress_deliveries (received_at);
        CREATE TABLE ingress_quarantine (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            received_at REAL NOT NULL,
            reason TEXT NOT NULL,
            body BLOB NOT NULL
        );
        CREATE TABLE ingress_ci_streaks (
            pipeline TEXT PRIMARY KEY,
            failures INTEGER NOT NULL,
            last_build TEXT,
            updated_at REAL NOT NULL
        );
        """,
    ),
]
