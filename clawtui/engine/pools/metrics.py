"""Counters and histograms of the pool manager, read by the service's `/metrics`.

`engine.pools.metrics` is a `PoolMetrics`: the pool manager records every claim (latency by
pool and source warm | cold, or the failure outcome), every release outcome and every sync run
(result, bytes, duration); `service/metrics.py` turns them into Prometheus families together
with per-pool gauges read from `Pools.status()` at scrape time.

Outcomes (label `outcome`):
  claims:   warm | cold (success, by source) | invalid | unknown_pool | conflict | unavailable
            | restore_failed | failed
  releases: ok | release_failed | not_found | conflict | unavailable | failed
Sync runs (labels pool, direction, result): result ok | skipped | failed.

Label values are configured pool names (or "" when the request named no known pool), never
tenant ids or other request text, so a client cannot grow the label set.
"""

from __future__ import annotations

import collections
from dataclasses import dataclass, field

from clawtui.engine.api.ingress import LatencyHistogram

CLAIM_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
SYNC_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)

_CLAIM_ERRORS = {
    "PoolInputError": "invalid",
    "PoolNotFound": "unknown_pool",
    "PoolConflict": "conflict",
    "PoolUnavailable": "unavailable",
    "PoolSyncFailed": "restore_failed",
}
_RELEASE_ERRORS = {
    "PoolNotFound": "not_found",
    "PoolConflict": "conflict",
    "PoolUnavailable": "unavailable",
    "PoolSyncFailed": "release_failed",
}


@dataclass
class PoolMetrics:
    claim_latency: dict[tuple[str, str], LatencyHistogram] = field(default_factory=dict)
    """(pool, source) -> seconds from request to a provisioned container."""
    claims: collections.Counter[tuple[str, str]] = field(default_factory=collections.Counter)
    """(pool, outcome) -> claims."""
    releases: collections.Counter[tuple[str, str]] = field(default_factory=collections.Counter)
    """(pool, outcome) -> releases."""
    sync_runs: collections.Counter[tuple[str, str, str]] = field(
        default_factory=collections.Counter
    )
    """(pool, direction, result) -> runs."""
    sync_bytes: collections.Counter[tuple[str, str]] = field(default_factory=collections.Counter)
    """(pool, direction) -> bytes moved by rclone."""
    sync_duration: dict[tuple[str, str], LatencyHistogram] = field(default_factory=dict)
    """(pool, direction) -> seconds per run."""

    def claimed(self, pool: str, source: str, seconds: float) -> None:
        self.claims[(pool, source)] += 1
        hist = self.claim_latency.get((pool, source))
        if hist is None:
            hist = self.claim_latency[(pool, source)] = LatencyHistogram(CLAIM_BUCKETS)
        hist.observe(seconds)

    def claim_failed(self, pool: str, error: BaseException) -> None:
        self.claims[(pool, _CLAIM_ERRORS.get(type(error).__name__, "failed"))] += 1

    def released(self, pool: str) -> None:
        self.releases[(pool, "ok")] += 1

    def release_failed(self, pool: str, error: BaseException) -> None:
        self.releases[(pool, _RELEASE_ERRORS.get(type(error).__name__, "failed"))] += 1

    def synced(self, pool: str, direction: str, result: str, size: int, seconds: float) -> None:
        self.sync_runs[(pool, direction, result)] += 1
        self.sync_bytes[(pool, direction)] += max(0, size)
        hist = self.sync_duration.get((pool, direction))
        if hist is None:
            hist = self.sync_duration[(pool, direction)] = LatencyHistogram(SYNC_BUCKETS)
        hist.observe(seconds)
