"""The SQLite side of tokens and the audit log (migrations 600-699).

`api_tokens` keeps a token's name, scopes (JSON list) and the SHA-256 of its secret, never the
secret. `audit_log` keeps one row per recorded call (time, token name, action, target, outcome).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from typing import Any

from clawtui.engine.api.tokens import AuditEntry, TokenInfo

MIGRATIONS: list[tuple[int, str, str]] = [
    (
        600,
        "api tokens and audit log",
        """
        CREATE TABLE api_tokens (
            name TEXT PRIMARY KEY,
            hash TEXT NOT NULL UNIQUE,
            scopes TEXT NOT NULL,
            created_at REAL NOT NULL,
            revoked_at REAL
        );
        CREATE TABLE audit_log (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            ts REAL NOT NULL,
            token TEXT NOT NULL,
            action TEXT NOT NULL,
            target TEXT NOT NULL,
            outcome TEXT NOT NULL
        );
        CREATE INDEX audit_log_ts ON audit_log (ts);
        """,
    ),
]


def token_hash(secret: str) -> str:
    """What is stored for a secret: its SHA-256, hex (secrets are 256 random bits)."""
    return hashlib.sha256(secret.encode("utf-8", "surrogateescape")).hexdigest()


def _info(row: Any) -> TokenInfo:
    return TokenInfo(
        name=row["name"],
        scopes=list(json.loads(row["scopes"])),
        created_at=row["created_at"],
        revoked_at=row["revoked_at"],
    )


def insert(conn: sqlite3.Connection, name: str, digest: str, scopes: list[str], now: float) -> bool:
    """False when a token with this name exists (revoked ones too: names are not reused)."""
    try:
        conn.execute(
            "INSERT INTO api_tokens (name, hash, scopes, created_at) VALUES (?, ?, ?, ?)",
            (name, digest, json.dumps(scopes), now),
        )
    except sqlite3.IntegrityError:
        return False
    return True


def all_tokens(conn: sqlite3.Connection) -> list[TokenInfo]:
    rows = conn.execute("SELECT * FROM api_tokens ORDER BY created_at, name").fetchall()
    return [_info(r) for r in rows]


def revoke(conn: sqlite3.Connection, name: str, now: float) -> TokenInfo | None:
    conn.execute(
        "UPDATE api_tokens SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL", (now, name)
    )
    row = conn.execute("SELECT * FROM api_tokens WHERE name = ?", (name,)).fetchone()
    return None if row is None else _info(row)


def active_by_hash(conn: sqlite3.Connection, digest: str) -> TokenInfo | None:
    row = conn.execute(
        "SELECT * FROM api_tokens WHERE hash = ? AND revoked_at IS NULL", (digest,)
    ).fetchone()
    return None if row is None else _info(row)


def add_audit(conn: sqlite3.Connection, e: AuditEntry) -> None:
    conn.execute(
        "INSERT INTO audit_log (ts, token, action, target, outcome) VALUES (?, ?, ?, ?, ?)",
        (e.ts, e.token, e.action, e.target, e.outcome),
    )


def audit(conn: sqlite3.Connection, since: float | None, limit: int) -> list[AuditEntry]:
    rows = conn.execute(
        "SELECT ts, token, action, target, outcome FROM audit_log WHERE ts >= ? "
        "ORDER BY ts DESC, id DESC LIMIT ?",
        (since or 0.0, max(1, min(limit, 10_000))),
    ).fetchall()
    return [AuditEntry(**dict(r)) for r in rows]
