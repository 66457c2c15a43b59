"""Plain-text formatting shared by the panels: durations, sizes, CPU, memory budget levels.

Kept free of widgets so the rules (what "2d 3h" means, when a host turns yellow) are pure
functions a unit test can pin down, and every panel shows numbers the same way.
"""

from __future__ import annotations

from enum import StrEnum

from clawtui.engine.api.models import MIB, ContainerInfo, ContainerStats, HostMemory

GIB = 1024 * MIB
DASH = "—"


class BudgetLevel(StrEnum):
    """How much of a host's memory budget (total - reserve) is still free."""

    UNKNOWN = "unknown"  # the host has not reported its RAM yet
    OK = "ok"
    LOW = "low"
    CRITICAL = "critical"


LOW_FRACTION = 0.25
"""Below this share of the budget left unallocated, a host's memory shows as low (yellow)."""
CRITICAL_FRACTION = 0.10
"""Below this share (or overcommitted), a host's memory shows as critical (red)."""


def humanize_duration(seconds: float | None) -> str:
    """Two units at most: "42s", "5m 12s", "3h 4m", "2d 3h"; a dash when unknown."""
    if seconds is None:
        return DASH
    total = int(max(0.0, seconds))
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m"
    if minutes:
        return f"{minutes}m {secs}s"
    return f"{secs}s"


def format_bytes(value: int) -> str:
    """A size for the host header: GiB with one decimal from 1 GiB up, else whole MiB."""
    sign = "-" if value < 0 else ""
    value = abs(value)
    if value >= GIB:
        return f"{sign}{value / GIB:.1f} GiB"
    return f"{sign}{value / MIB:.0f} MiB"


def format_mib(value: int | None) -> str:
    """Whole MiB with thousands separators, a dash when unknown."""
    if value is None:
        return DASH
    return f"{value / MIB:,.0f}"


def format_cpu(container: ContainerInfo, stats: ContainerStats | None = None) -> str:
    """CPU % of the last sample (100 = one core); empty when not running, … before a sample.
    `stats`: a sample newer than the container's own."""
    if not container.running:
        return ""
    if stats is None:
        stats = container.stats
    if stats is None or stats.cpu_percent is None:
        return "…"
    return f"{stats.cpu_percent:.1f}"


def format_memory(container: ContainerInfo, stats: ContainerStats | None = None) -> str:
    """'used / limit' in MiB; the limit is a dash when the container has none. `stats`: a
    sample newer than the container's own."""
    limit = format_mib(container.memory_limit) if container.memory_limit > 0 else DASH
    used: int | None = None
    if stats is None:
        stats = container.stats
    if container.running and stats is not None:
        used = stats.mem_used
    return f"{format_mib(used)} / {limit}"


def budget_level(memory: HostMemory) -> BudgetLevel:
    """Green, yellow or red: what is still available against total RAM minus the OS reserve."""
    budget = memory.total - memory.reserve
    if memory.total <= 0:
        return BudgetLevel.UNKNOWN
    if budget <= 0 or memory.available < budget * CRITICAL_FRACTION:
        return BudgetLevel.CRITICAL
    if memory.available < budget * LOW_FRACTION:
        return BudgetLevel.LOW
    return BudgetLevel.OK
