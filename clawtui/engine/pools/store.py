"""The SQLite side of pools: pool containers, claims and sync status (migrations 200-299).

Labels say only what a container is (role `pool`, pool, workload, spec hash); who holds it lives
here. Every change of a row is a compare-and-swap on its `version` column inside a
`BEGIN IMMEDIATE` transaction, so two coroutines, or two processes on the same database (a
`clawtui serve` and a `clawtui pool` command), can never hand one container to two tenants:

* `pool_containers`: one row per pool container, keyed by container name (chosen by the engine
  before Docker is asked, so a slot is reserved, counted against `max`, before it exists).
  `state`: warming (being created) | warm (ready) | claimed (a tenant's) | removing.
* `pool_claims`: one row per claim; open states are active | releasing | release_failed, closed
  ones released | lost. Partial unique indexes make "one open claim per tenant" (I2) and "one
  open claim per container" (I1) hold even against a bug in the code above.
* `pool_sync_status`: last run per tenant and mapping (bytes, duration, error).
* `pool_targets`: `min_warm` overrides set by `scale`.
* `pool_sync_runs`: every sync run, the newest `SYNC_HISTORY` per tenant (201); a claim row also
  keeps the tenant config it was given and the names (never the values) of its secrets.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass, field
from typing import Any

from clawtui.engine.store import Migration

MIGRATIONS: list[Migration] = [
    (
        200,
        "pools, claims and state sync",
        """
        CREATE TABLE pool_containers (
            name TEXT PRIMARY KEY,
            pool TEXT NOT NULL,
            host TEXT NOT NULL,
            container_id TEXT,
            state TEXT NOT NULL,
            source TEXT NOT NULL,
            spec TEXT NOT NULL,
            endpoints TEXT NOT NULL DEFAULT '[]',
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL,
            version INTEGER NOT NULL DEFAULT 1
        );
        CREATE INDEX pool_containers_pool ON pool_containers (pool, state);
        CREATE TABLE pool_claims (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            tenant TEXT NOT NULL,
            pool TEXT NOT NULL,
            container TEXT NOT NULL,
            host TEXT NOT NULL,
            state TEXT NOT NULL,
            source TEXT NOT NULL,
            claimed_at REAL NOT NULL,
            last_activity REAL NOT NULL,
            released_at REAL,
            release_sync TEXT,
            release_attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt REAL,
            error TEXT,
            version INTEGER NOT NULL DEFAULT 1
        );
        CREATE UNIQUE INDEX pool_claims_open_tenant ON pool_claims (tenant)
            WHERE state IN ('active', 'releasing', 'release_failed');
        CREATE UNIQUE INDEX pool_claims_open_container ON pool_claims (container)
            WHERE state IN ('active', 'releasing', 'release_failed');
        CREATE INDEX pool_claims_state ON pool_claims (state, pool);
        CREATE TABLE pool_sync_status (
            tenant TEXT NOT NULL,
            mapping TEXT NOT NULL,
            direction TEXT NOT NULL,
            status TEXT NOT NULL,
            last_run REAL NOT NULL,
            bytes INTEGER NOT NULL,
            files INTEGER NOT NULL,
            duration REAL NOT NULL,
            error TEXT,
            PRIMARY KEY (tenant, mapping)
        );
        CREATE TABLE pool_targets (
            pool TEXT PRIMARY KEY,
            min_warm INTEGER NOT NULL,
            updated_at REAL NOT NULL
        )
        """,
    ),
    (
        201,
        "tenant config of a claim and sync history",
        """
        ALTER TABLE pool_claims ADD COLUMN config TEXT;
        ALTER TABLE pool_claims ADD COLUMN secret_names TEXT;
        CREATE TABLE pool_sync_runs (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            tenant TEXT NOT NULL,
            mapping TEXT NOT NULL,
            direction TEXT NOT NULL,
            status TEXT NOT NULL,
            last_run REAL NOT NULL,
            bytes INTEGER NOT NULL,
            files INTEGER NOT NULL,
            duration REAL NOT NULL,
            error TEXT
        );
        CREATE INDEX pool_sync_runs_tenant ON pool_sync_runs (tenant, id);
        """,
    ),
]

OPEN_CLAIM_STATES = ("active", "releasing", "release_failed")


class CasFailed(Exception):
    """A compare-and-swap found the row changed (someone else won)."""


@dataclass
class ContainerRow:
    name: str
    pool: str
    host: str
    container_id: str | None
    state: str
    source: str
    spec: str
    endpoints: list[str]
    created_at: float
    updated_at: float
    version: int

    @classmethod
    def of(cls, row: sqlite3.Row) -> ContainerRow:
        try:
            endpoints = [str(e) for e in json.loads(row["endpoints"] or "[]")]
        except ValueError:
            endpoints = []
        return cls(
            name=row["name"],
            pool=row["pool"],
            host=row["host"],
            container_id=row["container_id"],
            state=row["state"],
            source=row["source"],
            spec=row["spec"],
            endpoints=endpoints,
            created_at=row["created_at"],
            updated_at=row["updated_at"],
            version=row["version"],
        )


@dataclass
class ClaimRow:
    id: int
    tenant: str
    pool: str
    container: str
    host: str
    state: str
    source: str
    claimed_at: float
    last_activity: float
    released_at: float | None
    release_sync: str | None
    release_attempts: int
    next_attempt: float | None
    error: str | None
    version: int
    config: str | None = None
    secret_names: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, row: sqlite3.Row) -> ClaimRow:
        return cls(**{k: row[k] for k in row.keys()})  # noqa: SIM118 - sqlite3.Row

    @property
    def open(self) -> bool:
        return self.state in OPEN_CLAIM_STATES


def containers(conn: sqlite3.Connection, pool: str | None = None) -> list[ContainerRow]:
    if pool is None:
        rows = conn.execute("SELECT * FROM pool_containers ORDER BY created_at").fetchall()
    else:
        rows = conn.execute(
            "SELECT * FROM pool_containers WHERE pool = ? ORDER BY created_at", (pool,)
        ).fetchall()
    return [ContainerRow.of(r) for r in rows]


def open_claims(conn: sqlite3.Connection) -> list[ClaimRow]:
    rows = conn.execute(
        "SELECT * FROM pool_claims WHERE state IN (?, ?, ?) ORDER BY claimed_at", OPEN_CLAIM_STATES
    ).fetchall()
    return [ClaimRow.of(r) for r in rows]


def open_claim(conn: sqlite3.Connection, tenant: str) -> ClaimRow | None:
    row = conn.execute(
        "SELECT * FROM pool_claims WHERE tenant = ? AND state IN (?, ?, ?)",
        (tenant, *OPEN_CLAIM_STATES),
    ).fetchone()
    return ClaimRow.of(row) if row else None


def recently_lost(conn: sqlite3.Connection, since: float) -> list[ClaimRow]:
    """Claims closed as `lost` since `since` that are still their tenant's last claim."""
    rows = conn.execute(
        "SELECT * FROM pool_claims AS c WHERE state = 'lost' AND released_at >= ? "
        "AND id = (SELECT MAX(id) FROM pool_claims WHERE tenant = c.tenant) ORDER BY claimed_at",
        (since,),
    ).fetchall()
    return [ClaimRow.of(r) for r in rows]


def last_claim(conn: sqlite3.Connection, tenant: str) -> ClaimRow | None:
    row = conn.execute(
        "SELECT * FROM pool_claims WHERE tenant = ? ORDER BY id DESC LIMIT 1", (tenant,)
    ).fetchone()
    return ClaimRow.of(row) if row else None


def all_claims(conn: sqlite3.Connection) -> list[ClaimRow]:
    return [ClaimRow.of(r) for r in conn.execute("SELECT * FROM pool_claims ORDER BY id")]


def set_container(conn: sqlite3.Connection, name: str, version: int, **changes: Any) -> None:
    """CAS update of one container row; raises CasFailed when its version moved."""
    changes["updated_at"] = time.time()
    cols = ", ".join(f"{k} = ?" for k in changes)
    cur = conn.execute(
        f"UPDATE pool_containers SET {cols}, version = version + 1 WHERE name = ? AND version = ?",
        (*changes.values(), name, version),
    )
    if cur.rowcount != 1:
        raise CasFailed(f"pool container {name} changed meanwhile")


def set_claim(conn: sqlite3.Connection, claim_id: int, version: int, **changes: Any) -> None:
    """CAS update of one claim row; raises CasFailed when its version moved."""
    cols = ", ".join(f"{k} = ?" for k in changes)
    cur = conn.execute(
        f"UPDATE pool_claims SET {cols}, version = version + 1 WHERE id = ? AND version = ?",
        (*changes.values(), claim_id, version),
    )
    if cur.rowcount != 1:
        raise CasFailed(f"claim {claim_id} changed meanwhile")


def delete_container(conn: sqlite3.Connection, name: str) -> None:
    conn.execute("DELETE FROM pool_containers WHERE name = ?", (name,))


def sync_status(conn: sqlite3.Connection, tenant: str) -> list[dict[str, Any]]:
    rows = conn.execute(
        "SELECT * FROM pool_sync_status WHERE tenant = ? ORDER BY mapping", (tenant,)
    ).fetchall()
    return [dict(r) for r in rows]


def targets(conn: sqlite3.Connection) -> dict[str, int]:
    return {r["pool"]: r["min_warm"] for r in conn.execute("SELECT * FROM pool_targets")}


def container(conn: sqlite3.Connection, name: str) -> ContainerRow | None:
    row = conn.execute("SELECT * FROM pool_containers WHERE name = ?", (name,)).fetchone()
    return ContainerRow.of(row) if row is not None else None


def warm_containers(
    conn: sqlite3.Connection, pool: str, specs: list[str], hosts: list[str], limit: int
) -> list[ContainerRow]:
    """The oldest warm containers of `pool` on one of `hosts` built to one of `specs` (each
    host of a pool has its own spec hash)."""
    if not specs or not hosts:
        return []
    rows = conn.execute(
        "SELECT * FROM pool_containers WHERE pool = ? AND state = 'warm' "
        f"AND spec IN ({', '.join('?' * len(specs))}) "
        f"AND host IN ({', '.join('?' * len(hosts))}) ORDER BY created_at LIMIT ?",
        (pool, *specs, *hosts, limit),
    ).fetchall()
    return [ContainerRow.of(r) for r in rows]


def insert_slot(
    conn: sqlite3.Connection, name: str, pool: str, host: str, source: str, spec: str, now: float
) -> None:
    """A container slot reserved before Docker is asked (state `warming`)."""
    conn.execute(
        "INSERT INTO pool_containers (name, pool, host, state, source, spec, "
        "created_at, updated_at) VALUES (?, ?, ?, 'warming', ?, ?, ?, ?)",
        (name, pool, host, source, spec, now, now),
    )


def mark_removing(conn: sqlite3.Connection, name: str, now: float) -> None:
    """`removing`, whatever its version (the container is going away)."""
    conn.execute(
        "UPDATE pool_containers SET state = 'removing', "
        "version = version + 1, updated_at = ? WHERE name = ?",
        (now, name),
    )


def claim(conn: sqlite3.Connection, claim_id: int) -> ClaimRow | None:
    row = conn.execute("SELECT * FROM pool_claims WHERE id = ?", (claim_id,)).fetchone()
    return ClaimRow.of(row) if row is not None else None


def insert_claim(
    conn: sqlite3.Connection,
    tenant: str,
    pool: str,
    container: str,
    host: str,
    source: str,
    now: float,
) -> None:
    """An active claim (the partial unique indexes refuse a second open one)."""
    conn.execute(
        "INSERT INTO pool_claims (tenant, pool, container, host, state, source, claimed_at, "
        "last_activity) VALUES (?, ?, ?, ?, 'active', ?, ?, ?)",
        (tenant, pool, container, host, source, now, now),
    )


def touch_claim(conn: sqlite3.Connection, tenant: str, now: float) -> None:
    """The tenant's active claim was used now."""
    conn.execute(
        "UPDATE pool_claims SET last_activity = ? WHERE tenant = ? AND state = 'active'",
        (now, tenant),
    )


def save_sync_run(
    conn: sqlite3.Connection,
    *,
    tenant: str,
    mapping: str,
    direction: str,
    status: str,
    last_run: float,
    bytes_: int,
    files: int,
    duration: float,
    error: str | None,
) -> None:
    conn.execute(
        "INSERT OR REPLACE INTO pool_sync_status (tenant, mapping, direction, status, "
        "last_run, bytes, files, duration, error) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (tenant, mapping, direction, status, last_run, bytes_, files, duration, error),
    )


def set_target(conn: sqlite3.Connection, pool: str, min_warm: int, now: float) -> None:
    conn.execute(
        "INSERT OR REPLACE INTO pool_targets (pool, min_warm, updated_at) VALUES (?, ?, ?)",
        (pool, min_warm, now),
    )


SYNC_HISTORY = 100
"""Sync runs kept per tenant in `pool_sync_runs`."""


def add_sync_run(conn: sqlite3.Connection, tenant: str, values: tuple[Any, ...]) -> None:
    """Append one run (mapping, direction, status, last_run, bytes, files, duration, error) to
    the tenant's history and drop what is past the newest `SYNC_HISTORY` (caller's transaction)."""
    conn.execute(
        "INSERT INTO pool_sync_runs (tenant, mapping, direction, status, last_run, bytes, files, "
        "duration, error) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (tenant, *values),
    )
    conn.execute(
        "DELETE FROM pool_sync_runs WHERE tenant = ? AND id NOT IN "
        "(SELECT id FROM pool_sync_runs WHERE tenant = ? ORDER BY id DESC LIMIT ?)",
        (tenant, tenant, SYNC_HISTORY),
    )


def sync_runs(conn: sqlite3.Connection, tenant: str, limit: int) -> list[dict[str, Any]]:
    """The tenant's sync runs, newest first."""
    rows = conn.execute(
        "SELECT mapping, direction, status, last_run, bytes, files, duration, error "
        "FROM pool_sync_runs WHERE tenant = ? ORDER BY id DESC LIMIT ?",
        (tenant, limit),
    ).fetchall()
    return [dict(r) for r in rows]


def set_claim_config(conn: sqlite3.Connection, tenant: str, config: str, secret_names: str) -> None:
    """The open claim's tenant config and its secrets' names (JSON; never the values)."""
    conn.execute(
        "UPDATE pool_claims SET config = ?, secret_names = ? WHERE tenant = ? AND state = 'active'",
        (config, secret_names, tenant),
    )


def last_sync_by_tenant(conn: sqlite3.Connection) -> dict[str, float]:
    """When each tenant's state was last synced (any mapping, any direction)."""
    return {
        str(r[0]): float(r[1])
        for r in conn.execute(
            "SELECT tenant, MAX(last_run) FROM pool_sync_status GROUP BY tenant"
        ).fetchall()
        if r[1] is not None
    }
