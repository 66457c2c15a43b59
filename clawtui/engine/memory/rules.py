"""The validation rules of live memory rebalancing, as pure functions.

Kept apart from `memory.py` (which reads Docker and cgroup files and applies batches) so every
rule can be tested without Docker: given a host's budget, the containers' current limits and
use, and the requested limits, these functions say ok / warning / refused and why.

The rules (seed 000, Phase 4 "Validation Rules", as clawtui applies them):

1. Budget: the limits of all containers on a host may add up to at most its RAM minus
   `memory_reserve`. A batch that increases any limit must end within that budget; a batch of
   decreases only is always allowed (it can only help).
2. Floor: no limit below `[memory] floor` (256 MiB), and never below Docker's 6 MiB.
3. Usage: on cgroup v1 a limit below what the container uses now is refused (the kernel
   answers EBUSY); on cgroup v2 (or unknown) it needs `confirm_below_usage`, because the kernel
   then OOM-kills processes at once. Below `warn_ratio` x usage is a warning.
4. Only containers labelled `clawtui.role` = devbox or pool, and never the engine's own.
5. Memory and MemorySwap are always sent together: MemorySwap = Memory (no swap) unless the
   container had unlimited swap (-1), which is kept.
6. Snap: new limits are multiples of `[memory] step` (64 MiB), unless left at their current
   value. Containers without any limit are refused: Docker cannot remove a limit again, so
   such a change could not be rolled back.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from clawtui.engine.api.memory import (
    DEFAULT_ADJUSTABLE_LABELS,
    DOCKER_MIN_MEMORY,
    ContainerCheck,
    HostBudget,
    MemoryPlan,
    PlanError,
    PlanErrorCode,
    Verdict,
    format_bytes,
    matches_labels,
)

ROLE_LABEL = "clawtui.role"


@dataclass(frozen=True, slots=True)
class Rules:
    """The configurable part of the rules (`[memory]`)."""

    floor: int = 256 * 1024 * 1024
    step: int = 64 * 1024 * 1024
    warn_ratio: float = 1.25
    adjustable_labels: tuple[str, ...] = DEFAULT_ADJUSTABLE_LABELS
    """Labels that make a container resizable (`[memory] adjustable_labels`)."""

    @property
    def effective_floor(self) -> int:
        return max(self.floor, DOCKER_MIN_MEMORY)


@dataclass(frozen=True, slots=True)
class Current:
    """One container's state as read at validation time."""

    key: str
    host: str
    id: str
    name: str
    state: str
    memory: int
    """HostConfig.Memory (0 = no limit)."""
    swap: int
    """HostConfig.MemorySwap (-1 = unlimited swap, 0 = unset)."""
    labels: Mapping[str, str] = field(default_factory=dict)
    reservation: int = 0
    """HostConfig.MemoryReservation (a soft limit; Docker refuses Memory below it)."""
    usage: int | None = None
    """Memory in use (usage - page cache), None when not running or unreadable."""
    usage_source: str | None = None
    limits_source: str = "inspect"
    """'cgroup' when the kernel's limits confirmed the model's values, else 'inspect'."""
    is_engine: bool = False
    """The container the engine itself runs in."""


@dataclass(frozen=True, slots=True)
class Budget:
    """A host's budget inputs: its RAM, its reserve, and the sum of all containers' limits now."""

    host: str
    total: int
    reserve: int
    allocated: int

    @property
    def budget(self) -> int:
        return self.total - self.reserve


def why_not_adjustable(
    labels: Mapping[str, str],
    *,
    memory: int,
    is_engine: bool,
    selectors: Sequence[str] = DEFAULT_ADJUSTABLE_LABELS,
) -> str | None:
    """None when the container may be resized, else the reason it may not. `selectors`:
    `[memory] adjustable_labels` (a container must carry one of them)."""
    if is_engine:
        return "it is the container clawtui itself runs in"
    if not matches_labels(labels, selectors):
        wanted = ", ".join(selectors[:6]) or "none configured"
        role = labels.get(ROLE_LABEL)
        if role is None:
            return (
                f"it has no {ROLE_LABEL} label nor another dev-container label ({wanted}): "
                "only devbox and pool containers can be resized"
            )
        return (
            f"its {ROLE_LABEL} is {role[:40]!r} and it has no other dev-container label "
            f"({wanted}): only devbox and pool containers can be resized"
        )
    if memory <= 0:
        return (
            "it has no memory limit, and Docker cannot remove a limit once set, so a change "
            "could not be rolled back: recreate it with a limit"
        )
    return None


def swap_for(old_swap: int, new_memory: int) -> int:
    """MemorySwap to send with `new_memory`: unlimited stays unlimited, otherwise no swap."""
    return -1 if old_swap == -1 else new_memory


def snap_problem(requested: int, current: int, step: int, floor: int = 0) -> str | None:
    """None when `requested` is on the step grid (or is the current value), else why not.

    The sizes it suggests are on the grid and not below `floor` (the lowest one allowed)."""
    if requested == current or requested % step == 0:
        return None
    below = requested - requested % step
    above = below + step
    nearest = [format_bytes(v) for v in (below, above) if v > 0 and v >= floor]
    if not nearest:
        nearest = [format_bytes(ceil_to_step(floor, step))]
    return (
        f"{format_bytes(requested)} ({requested} bytes) is not a multiple of "
        f"{format_bytes(step)}: use {' or '.join(nearest)}"
    )


def ceil_to_step(value: int, step: int) -> int:
    return -(-value // step) * step


def check_change(
    ref: str,
    cur: Current,
    requested: int,
    rules: Rules,
    *,
    cgroup_version: str | None,
    confirm_below_usage: bool = False,
) -> ContainerCheck:
    """Validate one requested limit against one container's current state (rules 2-6).

    The budget (rule 1) needs the whole batch: `check_budget` applies it afterwards.
    """
    refused: list[str] = []
    warnings: list[str] = []
    needs_confirmation = False
    new_swap = cur.swap if requested == cur.memory else swap_for(cur.swap, requested)
    why_not = why_not_adjustable(
        cur.labels, memory=cur.memory, is_engine=cur.is_engine, selectors=rules.adjustable_labels
    )
    if why_not is not None:
        refused.append(f"not adjustable: {why_not}")
    elif requested != cur.memory:  # a no-op needs no other check
        snap = snap_problem(requested, cur.memory, rules.step, rules.effective_floor)
        if snap is not None:
            refused.append(snap)
        if requested < rules.effective_floor:
            refused.append(
                f"{format_bytes(requested)} is below the floor of "
                f"{format_bytes(rules.effective_floor)} ([memory] floor)"
            )
        if cur.reservation > 0 and requested < cur.reservation:
            refused.append(
                f"{format_bytes(requested)} is below the container's memory reservation "
                f"(soft limit) of {format_bytes(cur.reservation)}: Docker refuses that"
            )
        if cur.usage is not None and requested < cur.usage:
            in_use = f"{format_bytes(requested)} is below the {format_bytes(cur.usage)} in use"
            needs_confirmation = cgroup_version != "1"
            if cgroup_version == "1":
                refused.append(
                    f"{in_use}: on cgroup v1 the kernel refuses such a limit (EBUSY); "
                    "free memory in the container first"
                )
            elif confirm_below_usage:
                warnings.append(f"{in_use}: the kernel will OOM-kill processes in it at once")
            else:
                refused.append(
                    f"{in_use}: the kernel would OOM-kill processes in it at once; "
                    "confirm (confirm_below_usage / --yes-below-usage) to do it anyway"
                )
        elif cur.usage is not None and requested < rules.warn_ratio * cur.usage:
            warnings.append(
                f"{format_bytes(requested)} leaves little headroom over the "
                f"{format_bytes(cur.usage)} in use (below {rules.warn_ratio:g}x)"
            )
    if refused:
        verdict = Verdict.REFUSED
    elif warnings:
        verdict = Verdict.WARNING
    else:
        verdict = Verdict.OK
    reasons = refused + warnings
    if not reasons and requested == cur.memory:
        reasons = ["unchanged"]
    return ContainerCheck(
        ref=ref,
        key=cur.key,
        host=cur.host,
        id=cur.id,
        name=cur.name,
        role=cur.labels.get(ROLE_LABEL),
        state=cur.state,
        old_limit=cur.memory,
        new_limit=requested,
        old_swap=cur.swap,
        new_swap=new_swap,
        usage=cur.usage,
        usage_source=cur.usage_source,
        limits_source=cur.limits_source,
        verdict=verdict,
        reasons=reasons,
        needs_confirmation=needs_confirmation,
    )


def check_budget(
    budget: Budget, checks: Sequence[ContainerCheck]
) -> tuple[HostBudget, list[ContainerCheck], PlanError | None]:
    """Rule 1 for one host: the checks of that host, with increases refused when over budget.

    `budget.allocated` is the sum of every limited container's limit before the batch
    (containers of the batch included, with their current limits).
    """
    mine = [c for c in checks if c.host == budget.host and c.old_limit > 0]
    after = budget.allocated + sum(c.delta for c in mine)
    summary = HostBudget(
        host=budget.host,
        total=budget.total,
        reserve=budget.reserve,
        budget=budget.budget,
        allocated_before=budget.allocated,
        allocated_after=after,
    )
    increases = [c for c in mine if c.delta > 0]
    out = list(checks)
    if not increases:
        return summary, out, None
    if budget.total <= 0:
        message = (
            f"host {budget.host}: Docker did not report the host's memory, so increases "
            "cannot be checked against its budget"
        )
    elif after > budget.budget:
        message = (
            f"host {budget.host}: the batch would allocate {format_bytes(after)} of a "
            f"{format_bytes(budget.budget)} budget ({format_bytes(budget.total)} RAM - "
            f"{format_bytes(budget.reserve)} reserve), {format_bytes(after - budget.budget)} "
            "too much: lower other containers in the same batch, or ask for less"
        )
    else:
        return summary, out, None
    refused_ids = {c.key for c in increases}
    for index, c in enumerate(out):
        if c.key in refused_ids:
            out[index] = c.model_copy(
                update={
                    "verdict": Verdict.REFUSED,
                    "reasons": [
                        *(r for r in c.reasons if r != "unchanged"),
                        f"over budget: {message}",
                    ],
                }
            )
    return summary, out, PlanError(code=PlanErrorCode.BUDGET, message=message, host=budget.host)


def build_plan(
    who: str,
    checks: Iterable[ContainerCheck],
    budgets: Iterable[Budget],
    errors: Iterable[PlanError] = (),
    *,
    confirm_below_usage: bool = False,
) -> MemoryPlan:
    """Apply the budget rule per host and assemble the plan; `ok` when nothing is refused."""
    all_checks = list(checks)
    all_errors = list(errors)
    summaries: list[HostBudget] = []
    for budget in budgets:
        summary, all_checks, error = check_budget(budget, all_checks)
        summaries.append(summary)
        if error is not None:
            all_errors.append(error)
    if not all_checks and not all_errors:
        all_errors.append(PlanError(code=PlanErrorCode.EMPTY, message="no changes were given"))
    ok = not all_errors and all(c.verdict is not Verdict.REFUSED for c in all_checks)
    return MemoryPlan(
        ok=ok,
        who=who,
        checks=all_checks,
        budgets=summaries,
        errors=all_errors,
        confirm_below_usage=confirm_below_usage,
    )
