"""The pools interface: what front ends exchange with warm pools (`engine.pools`).

Value types (`ClaimInfo`, `PoolStatus`, `SyncResult`, `SyncState`, `PoolContainer`,
`DrainResult`), the errors a pool operation
raises (the `PoolError` family; `status` is the HTTP status the service answers with), the
`PoolsAPI` protocol the local pool manager and the remote client (`clawtui.client.pools`) both
offer, and `pools_of`, how a front end finds it. Pure types: no I/O, no capability imports.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from clawtui.engine.api.protocols import EngineAPI


class PoolError(Exception):
    """A pool operation failed; `status` is the HTTP status the service answers with."""

    status = 500


class PoolInputError(PoolError):
    status = 400


class PoolNotFound(PoolError):
    status = 404


class PoolConflict(PoolError):
    status = 409


class PoolUnavailable(PoolError):
    status = 503


class PoolSyncFailed(PoolError):
    status = 502


class SyncState(BaseModel):
    """Last sync of one tenant's mapping."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    mapping: str
    direction: str
    status: str = Field(description="ok | skipped | failed")
    last_run: float
    bytes: int
    files: int
    duration: float
    error: str | None = None


class ClaimInfo(BaseModel):
    """A tenant's claim as the API, the CLI and the TUI show it."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    tenant: str
    pool: str
    container: str
    host: str
    state: str = Field(
        description="active | releasing | release_failed | released | lost (its container "
        "vanished, or its host went offline: `host`, `released_at` = since when, `error` = why)"
    )
    source: str = Field(description="warm | cold")
    claimed_at: float
    last_activity: float
    released_at: float | None = None
    endpoints: list[str] = Field(default_factory=list)
    error: str | None = None
    release_attempts: int = 0
    sync: list[SyncState] = Field(default_factory=list)
    latency_ms: float | None = Field(None, description="Claim latency (only on claim).")
    config: dict[str, Any] = Field(
        default_factory=dict, description="The tenant config the claim was given."
    )
    secret_names: list[str] = Field(
        default_factory=list, description="Names of the claim's secrets (never their values)."
    )


class PoolStatus(BaseModel):
    """Counts and claim latency of one pool."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    name: str
    workload: str
    host: str = Field(description="Its first (or only) host.")
    hosts: list[str] = Field(
        default_factory=list, description="Every host it places containers on (`hosts`)."
    )
    target: int = Field(description="Warm containers kept (min_warm, or the scaled value).")
    max: int
    warm: int = 0
    warming: int = 0
    claimed: int = 0
    releasing: int = 0
    unhealthy: int = 0
    total: int = 0
    on_empty: str = "cold"
    draining: bool = Field(False, description="Drained: takes no claims until scaled again.")
    warm_p50_ms: float | None = None
    warm_p99_ms: float | None = None
    cold_p50_ms: float | None = None
    claims: int = Field(0, description="Claims measured since start.")


class SyncResult(BaseModel):
    """Runs of one sync request."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    tenant: str
    ok: bool
    runs: list[SyncState]


class PoolContainer(BaseModel):
    """One container of a pool, as `GET /api/v1/pools/{pool}/containers` shows it."""

    model_config = ConfigDict(frozen=True)

    name: str
    pool: str
    host: str
    container_id: str | None = None
    state: str = Field(description="warming | warm | claimed | removing")
    source: str = Field(description="warm | cold")
    tenant: str | None = Field(None, description="The tenant holding it (an open claim).")
    health: str = Field(description="healthy | unhealthy | stopped | unknown")
    created_at: float
    age: float = Field(description="Seconds since the engine reserved it.")
    last_sync: float | None = Field(None, description="Last sync run of its tenant (epoch).")


class DrainResult(BaseModel):
    """What `drain` did: the pool hands out no warm container until it is scaled again."""

    model_config = ConfigDict(frozen=True)

    pool: str
    done: bool = Field(description="Every claim ended and every container was removed.")
    removed: int = Field(description="Containers removed by this drain.")
    open_claims: list[str] = Field(
        default_factory=list, description="Tenants still holding a container (when not done)."
    )
    remaining: int = Field(0, description="Containers of the pool left (when not done).")


class PoolsAPI(Protocol):
    """Warm pools: status, claim, release, sync and scale (see `clawtui.engine.pools`)."""

    async def status(self) -> list[PoolStatus]: ...

    async def tenants(self) -> list[ClaimInfo]:
        """Open claims, and claims lost in the last day whose tenant has not claimed again
        (state `lost`: `host`, since `released_at`, `error` says why)."""
        ...

    async def tenant(self, tenant: str) -> ClaimInfo:
        """The tenant's open claim (or its last one) and its last syncs."""
        ...

    async def claim(
        self, tenant: str, pool_name: str, config: Any = None, secrets: Any = None
    ) -> ClaimInfo: ...

    async def release(
        self, tenant: str, *, sync: bool = True, force: bool = False
    ) -> ClaimInfo: ...

    async def sync(self, tenant: str, direction: str = "upload") -> SyncResult: ...

    async def scale(self, pool_name: str, min_warm: int) -> PoolStatus: ...

    async def touch(self, tenant: str) -> None:
        """Mark a tenant active (resets its idle timer)."""
        ...

    async def sync_history(self, tenant: str, limit: int = 20) -> list[SyncState]:
        """The tenant's last `limit` sync runs (1-100), newest first."""
        ...

    async def containers(self, pool_name: str) -> list[PoolContainer]:
        """The pool's containers: state, tenant, health, age, last sync."""
        ...

    async def drain(self, pool_name: str, *, timeout: float = 300.0) -> DrainResult:
        """Stop handing out warm containers, wait up to `timeout` s for claims to end, then
        remove the pool's containers. The pool stays drained until `scale` is called."""
        ...


def pools_of(engine: EngineAPI) -> PoolsAPI | None:
    """The engine's pool manager (or the remote client's, over REST), or None when it has none."""
    pools: PoolsAPI | None = getattr(engine, "pools", None)
    return pools


class Histogram(Protocol):
    """A cumulative histogram as `/metrics` reads it."""

    sum: float

    def cumulative(self) -> list[tuple[str, int]]:
        """(upper bound, count of samples at or below it), "+Inf" last."""
        ...


class PoolCounters(Protocol):
    """The pool manager's counters (`engine.pools.metrics`): what the service's `/metrics` reads.

    Keys are configured pool names plus source | outcome | direction | result (see
    `clawtui.engine.pools.metrics`); never tenant ids.
    """

    @property
    def claim_latency(self) -> Mapping[tuple[str, str], Histogram]: ...

    @property
    def claims(self) -> Mapping[tuple[str, str], int]: ...

    @property
    def releases(self) -> Mapping[tuple[str, str], int]: ...

    @property
    def sync_runs(self) -> Mapping[tuple[str, str, str], int]: ...

    @property
    def sync_bytes(self) -> Mapping[tuple[str, str], int]: ...

    @property
    def sync_duration(self) -> Mapping[tuple[str, str], Histogram]: ...


def pool_counters_of(engine: EngineAPI) -> PoolCounters | None:
    """The counters of the engine's own pool manager, or None (no pools, or a remote engine's:
    its service exports them)."""
    counters: PoolCounters | None = getattr(pools_of(engine), "metrics", None)
    return counters
