"""Tier ages, due / overdue, and liveness from HEARTBEAT.md timestamps."""

from __future__ import annotations

from datetime import UTC, datetime

from clawtui.engine.heartbeats.tiers import due_tiers, liveness, tier_states

NOW = datetime(2026, 2, 11, 12, 0, tzinfo=UTC).timestamp()
IV = 480.0


def at(seconds_ago: float) -> datetime:
    return datetime.fromtimestamp(NOW - seconds_ago, UTC)


def states(**ago: float | None) -> dict[str, object]:
    stamps = {k: (None if v is None else at(v)) for k, v in ago.items()}
    out = tier_states(stamps, NOW, interval=IV, hourly_after=3600, daily_after=86400)  # type: ignore[arg-type]
    return {s.tier: s for s in out}


def test_quick_every_beat_hourly_and_daily_when_old() -> None:
    s = states(quick=60, hourly=600, daily=3600)
    assert due_tiers(list(s.values())) == ["quick"]  # type: ignore[arg-type]
    s = states(quick=60, hourly=3601, daily=86401)
    assert due_tiers(list(s.values())) == ["quick", "hourly", "daily"]  # type: ignore[arg-type]
    s = states(quick=None, hourly=None, daily=None)
    assert due_tiers(list(s.values())) == ["quick", "hourly", "daily"]  # type: ignore[arg-type]


def test_overdue_after_three_more_beats() -> None:
    s = states(quick=60, hourly=3600 + 3 * IV + 1, daily=86400 + 10)
    assert s["hourly"].overdue  # type: ignore[attr-defined]
    assert not s["daily"].overdue  # type: ignore[attr-defined]


def test_liveness() -> None:
    assert liveness(None, NOW, IV) == "unknown"
    assert liveness(NOW - IV * 1.5, NOW, IV) == "alive"
    assert liveness(NOW - IV * 3.9, NOW, IV) == "alive"
    assert liveness(NOW - IV * 4.1, NOW, IV) == "degraded"
    assert liveness(NOW - IV * 7.1, NOW, IV) == "dead"
