"""Where a pool's next containers go: the online host with the most free memory budget.

A host's free budget is what the memory capability and the fleet header count (its RAM minus
its `memory_reserve` minus the memory limits of its containers), less the limits of pool
containers the store has reserved there that Docker does not list yet. Each placed container
takes the pool's memory limit off its host before the next one is placed; ties go to the host
listed first in the pool's `hosts`. Pure: the tests call `place` without Docker.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence


def place(order: Sequence[str], free: Mapping[str, int], memory: int, count: int) -> list[str]:
    """Hosts for `count` new containers of `memory` bytes each, in the order they are made.

    `order`: the pool's hosts in preference order; `free`: free budget of each online one
    (hosts missing from it are offline and get nothing). Empty when no host is online.
    """
    left = {h: int(free[h]) for h in order if h in free}
    out: list[str] = []
    for _ in range(max(0, count)):
        if not left:
            break
        best = max(left, key=lambda h: left[h])  # the first of equals: list order
        out.append(best)
        left[best] -= max(0, memory)
    return out


def free_budget(
    total: int,
    reserve: int,
    limits: Iterable[int],
    pending: Iterable[int] = (),
) -> int:
    """RAM - reserve - limits of the host's containers - limits of reserved pool containers
    Docker does not list yet (may be negative: the host is over its budget)."""
    return total - reserve - sum(max(0, x) for x in limits) - sum(max(0, x) for x in pending)
