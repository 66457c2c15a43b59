"""A memory batch over several hosts is one batch per host: how it is split, and how the hosts'
results are put back together into the one `ApplyResult` callers get.

Each host's part is validated against that host's budget (`memory_reserve` of its `[[hosts]]`
entry) and applied all or nothing on that host: a failed update there rolls back that host's
applied updates only. One host refused, rolled back or offline does not stop the others.
References the engine cannot resolve (unknown, ambiguous, duplicate) refuse the whole batch
before it is split: they are the caller's mistake, not a host's state.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from clawtui.engine.api.memory import (
    ApplyResult,
    BatchState,
    ContainerCheck,
    ContainerOutcome,
    HostBatch,
    HostBudget,
    MemoryPlan,
    Outcome,
    PlanError,
)
from clawtui.engine.memory.docker_apply import Wanted


def split_by_host(items: Iterable[Wanted]) -> dict[str, list[Wanted]]:
    """The batch's resolved entries per host, hosts in the order the batch first names them."""
    out: dict[str, list[Wanted]] = {}
    for item in items:
        out.setdefault(item.host, []).append(item)
    return out


def overall_state(states: Sequence[BatchState]) -> BatchState:
    """The state of a whole batch from the states of its hosts' parts.

    A rollback that failed anywhere wins (a person must look); every host applied is applied;
    some applied and some not is mixed; none applied is rolled back if an update failed
    somewhere, else refused.
    """
    if not states:
        return BatchState.REFUSED
    if BatchState.PARTIAL in states:
        return BatchState.PARTIAL
    if all(s is BatchState.APPLIED for s in states):
        return BatchState.APPLIED
    if BatchState.APPLIED in states or BatchState.MIXED in states:
        return BatchState.MIXED
    if BatchState.ROLLED_BACK in states:
        return BatchState.ROLLED_BACK
    return BatchState.REFUSED


def host_reason(result: ApplyResult) -> str | None:
    """Why one host's part was not applied, in a line (None when it was)."""
    if result.state is BatchState.APPLIED:
        return None
    if result.state is BatchState.REFUSED:
        return result.plan.summary() or "refused"
    parts = [f"{o.check.name}: {o.error}" for o in result.outcomes if o.outcome is Outcome.FAILED]
    parts += [
        f"{o.check.name}: rollback failed: {o.rollback_error}"
        for o in result.outcomes
        if o.rollback_error
    ]
    return "; ".join(parts) or result.state.value


def host_entry(host: str, result: ApplyResult, containers: int) -> HostBatch:
    return HostBatch(
        host=host,
        state=result.state,
        reason=host_reason(result),
        containers=containers,
        docker_unreachable=result.docker_unreachable,
        seconds=result.seconds,
    )


def merge(
    *,
    batch_id: str,
    who: str,
    started: float,
    seconds: float,
    parts: Sequence[tuple[str, int, ApplyResult]],
    confirm_below_usage: bool,
) -> ApplyResult:
    """One result from the hosts' results (`parts`: host, containers named there, result)."""
    checks: list[ContainerCheck] = []
    budgets: list[HostBudget] = []
    errors: list[PlanError] = []
    outcomes: list[ContainerOutcome] = []
    for _, _, result in parts:
        checks += result.plan.checks
        budgets += result.plan.budgets
        errors += result.plan.errors
        outcomes += result.outcomes
    plan = MemoryPlan(
        ok=bool(parts) and all(r.plan.ok for _, _, r in parts),
        who=who,
        checks=checks,
        budgets=budgets,
        errors=errors,
        confirm_below_usage=confirm_below_usage,
    )
    return ApplyResult(
        batch_id=batch_id,
        who=who,
        state=overall_state([r.state for _, _, r in parts]),
        plan=plan,
        outcomes=outcomes,
        started_at=started,
        seconds=seconds,
        docker_unreachable=any(r.docker_unreachable for _, _, r in parts),
        hosts=[host_entry(host, r, n) for host, n, r in parts],
    )
