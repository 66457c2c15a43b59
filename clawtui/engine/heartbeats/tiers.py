"""Tier logic and liveness of a thread's heartbeat, from its HEARTBEAT.md timestamps.

* quick runs on every beat; hourly is due after `hourly_after` (60 min); daily after
  `daily_after` (24 h). A tier never run is due.
* overdue: the tier's age is more than its period plus three beat intervals (three beats
  passed while it was due and it did not run).
* liveness (from the last quick beat): alive; degraded after 3 missed beats; dead after 6;
  unknown before the first beat.
"""

from __future__ import annotations

from datetime import datetime

from clawtui.engine.api.threads import TIERS, Tier
from clawtui.engine.api.threads import Liveness as Liveness
from clawtui.engine.api.threads import TierState as TierState

DEGRADED_AFTER = 3
DEAD_AFTER = 6


def tier_period(tier: Tier, interval: float, hourly_after: float, daily_after: float) -> float:
    return {"quick": interval, "hourly": hourly_after, "daily": daily_after}[tier]


def tier_states(
    stamps: dict[Tier, datetime | None],
    now: float,
    *,
    interval: float,
    hourly_after: float,
    daily_after: float,
) -> list[TierState]:
    out: list[TierState] = []
    for tier in TIERS:
        when = stamps.get(tier)
        last = when.timestamp() if when is not None else None
        age = None if last is None else max(0.0, now - last)
        period = tier_period(tier, interval, hourly_after, daily_after)
        due = tier == "quick" or age is None or age >= period
        overdue = age is not None and age > period + DEGRADED_AFTER * interval
        out.append(TierState(tier=tier, last=last, age=age, due=due, overdue=overdue))
    return out


def due_tiers(states: list[TierState]) -> list[Tier]:
    """The tiers a beat runs now (quick always; hourly / daily when due)."""
    return [s.tier for s in states if s.due]


def missed_beats(last_quick: float | None, now: float, interval: float) -> int | None:
    if last_quick is None:
        return None
    return max(0, int((now - last_quick) // interval) - 1) if now > last_quick else 0


def liveness(last_quick: float | None, now: float, interval: float) -> Liveness:
    missed = missed_beats(last_quick, now, interval)
    if missed is None:
        return "unknown"
    if missed >= DEAD_AFTER:
        return "dead"
    if missed >= DEGRADED_AFTER:
        return "degraded"
    return "alive"
