"""A memory batch over several hosts is one all-or-nothing batch per host (issue 18): the split,
each host's part validated against its own budget, the overall state, and the merged result."""

from __future__ import annotations

import pytest

from clawtui.engine.api.memory import (
    ApplyResult,
    BatchState,
    ContainerCheck,
    ContainerOutcome,
    MemoryPlan,
    Outcome,
    PlanError,
    PlanErrorCode,
    Verdict,
)
from clawtui.engine.memory.docker_apply import Wanted
from clawtui.engine.memory.host_batches import merge, overall_state, split_by_host
from clawtui.engine.memory.notifications import notification_for
from clawtui.engine.memory.rules import Budget, Current, build_plan, check_change
from clawtui.tui.memory_text import result_lines
from tests.unit.test_memory_rules import GIB, MIB, RULES, cur


def _cur(name: str, host: str) -> Current:
    return cur(name, memory=GIB, usage=100 * MIB, host=host)


def _check(c: Current, new: int) -> ContainerCheck:
    return check_change(c.name, c, new, RULES, cgroup_version="1")


def _host_result(
    plan: MemoryPlan, state: BatchState, outcome: Outcome, **kw: object
) -> ApplyResult:
    return ApplyResult(
        batch_id="b1",
        who="t",
        state=state,
        plan=plan,
        outcomes=[ContainerOutcome(check=c, outcome=outcome, **kw) for c in plan.checks],  # type: ignore[arg-type]
        started_at=0.0,
        seconds=0.1,
    )


def test_split_by_host_keeps_each_hosts_entries_in_the_order_first_named() -> None:
    items = [
        Wanted("a1", "b/1", "b", "1", GIB),
        Wanted("x", "local/2", "local", "2", GIB),
        Wanted("a2", "b/3", "b", "3", 2 * GIB),
    ]
    parts = split_by_host(items)
    assert list(parts) == ["b", "local"]
    assert [w.ref for w in parts["b"]] == ["a1", "a2"]
    assert [w.ref for w in parts["local"]] == ["x"]


@pytest.mark.parametrize(
    ("states", "overall"),
    [
        ([BatchState.APPLIED], BatchState.APPLIED),
        ([BatchState.APPLIED, BatchState.APPLIED], BatchState.APPLIED),
        ([BatchState.APPLIED, BatchState.ROLLED_BACK], BatchState.MIXED),
        ([BatchState.REFUSED, BatchState.APPLIED], BatchState.MIXED),
        ([BatchState.APPLIED, BatchState.PARTIAL], BatchState.PARTIAL),
        ([BatchState.REFUSED, BatchState.ROLLED_BACK], BatchState.ROLLED_BACK),
        ([BatchState.REFUSED, BatchState.REFUSED], BatchState.REFUSED),
        ([BatchState.ROLLED_BACK], BatchState.ROLLED_BACK),
        ([], BatchState.REFUSED),
    ],
)
def test_overall_state_of_the_hosts_parts(states: list[BatchState], overall: BatchState) -> None:
    assert overall_state(states) is overall


def test_each_hosts_part_is_judged_by_its_own_budget() -> None:
    """h1 has 1 GiB free, h2 plenty: validated apart, h1's increase is refused with h1 named
    and h2's part is ok on its own (it would be applied), which one plan over both is not."""
    a, b = _cur("a", "h1"), _cur("b", "h2")
    budgets = {
        "h1": Budget(host="h1", total=4 * GIB, reserve=GIB, allocated=2 * GIB),
        "h2": Budget(host="h2", total=64 * GIB, reserve=GIB, allocated=GIB),
    }
    p1 = build_plan("t", [_check(a, 3 * GIB)], [budgets["h1"]])
    p2 = build_plan("t", [_check(b, 8 * GIB)], [budgets["h2"]])
    assert not p1.ok and [e.code for e in p1.errors] == [PlanErrorCode.BUDGET]
    assert p1.errors[0].host == "h1" and p1.checks[0].verdict is Verdict.REFUSED
    assert p2.ok and p2.budgets[0].allocated_after == 8 * GIB
    whole = build_plan("t", [_check(a, 3 * GIB), _check(b, 8 * GIB)], budgets.values())
    assert not whole.ok  # the old single batch: h1's refusal stopped h2 too


def test_merge_applied_on_one_host_rolled_back_on_the_other() -> None:
    a, b = _cur("dev-a", "h1"), _cur("dev-b", "h2")
    ok_plan = build_plan("t", [_check(a, 2 * GIB)], [])
    bad_plan = build_plan("t", [_check(b, 2 * GIB)], [])
    applied = _host_result(ok_plan, BatchState.APPLIED, Outcome.APPLIED)
    failed = _host_result(
        bad_plan, BatchState.ROLLED_BACK, Outcome.FAILED, error="the container no longer exists"
    )
    result = merge(
        batch_id="b1",
        who="t",
        started=0.0,
        seconds=0.2,
        parts=[("h1", 1, applied), ("h2", 1, failed)],
        confirm_below_usage=False,
    )
    assert result.state is BatchState.MIXED and not result.ok
    assert [(h.host, h.state, h.containers) for h in result.hosts] == [
        ("h1", BatchState.APPLIED, 1),
        ("h2", BatchState.ROLLED_BACK, 1),
    ]
    assert result.hosts[0].reason is None
    assert result.hosts[1].reason == "dev-b: the container no longer exists"
    assert [(o.check.host, o.outcome) for o in result.outcomes] == [
        ("h1", Outcome.APPLIED),
        ("h2", Outcome.FAILED),
    ]
    assert result.plan.ok and len(result.plan.checks) == 2
    summary = result.summary()
    assert "host h1 applied" in summary
    assert "host h2 rolled back (dev-b: the container no longer exists)" in summary
    # Only the applied host's row records a change that stays; the failed one is recorded too.
    assert {(r.host, r.outcome) for r in result.history_rows()} == {
        ("h1", Outcome.APPLIED),
        ("h2", Outcome.FAILED),
    }
    note = notification_for(result)
    assert note is not None and note.kind == "memory.mixed"
    assert note.text.startswith("Memory rebalance applied on some hosts only (by t):")
    assert "host h2: rolled back (dev-b: the container no longer exists)" in note.text
    assert note.data["hosts"] == {"h1": "applied", "h2": "rolled_back"}
    shown = [line.plain for line in result_lines(result)]
    assert shown[0].startswith("Applied on some hosts only")
    assert "host h2: rolled back: dev-b: the container no longer exists" in shown


def test_merge_refused_host_says_why_and_the_json_roundtrips() -> None:
    a, b = _cur("dev-a", "h1"), _cur("dev-b", "h2")
    refused_plan = build_plan(
        "t", [_check(a, 3 * GIB)], [Budget(host="h1", total=2 * GIB, reserve=GIB, allocated=GIB)]
    )
    refused = _host_result(refused_plan, BatchState.REFUSED, Outcome.NOT_APPLIED)
    applied = _host_result(build_plan("t", [_check(b, 2 * GIB)], []), BatchState.APPLIED,
                           Outcome.APPLIED)  # fmt: skip
    result = merge(
        batch_id="b1",
        who="t",
        started=0.0,
        seconds=0.2,
        parts=[("h1", 1, refused), ("h2", 1, applied)],
        confirm_below_usage=False,
    )
    assert result.state is BatchState.MIXED
    reason = result.hosts[0].reason
    assert reason is not None and "host h1: the batch would allocate" in reason
    assert not result.plan.ok and [e.host for e in result.plan.errors] == ["h1"]
    again = ApplyResult.model_validate(result.model_dump(mode="json"))
    assert again == result
    # A result from an engine without per-host parts still reads (the field is optional).
    old = result.model_dump(mode="json")
    del old["hosts"]
    assert ApplyResult.model_validate(old).hosts == []


def test_plan_hosts_ok_names_the_hosts_whose_part_would_be_applied() -> None:
    a, b, c = _cur("a", "h1"), _cur("b", "h2"), _cur("c", "h3")
    over = Budget(host="h1", total=2 * GIB, reserve=GIB, allocated=GIB)
    plan = build_plan("t", [_check(a, 3 * GIB), _check(b, 2 * GIB), _check(c, 2 * GIB)], [over])
    assert not plan.ok and plan.hosts_ok() == ["h2", "h3"]
    offline = PlanError(code=PlanErrorCode.HOST_OFFLINE, message="host h3 is offline", host="h3")
    plan = build_plan("t", [_check(b, 2 * GIB), _check(c, 2 * GIB)], [], [offline])
    assert plan.hosts_ok() == ["h2"]
    # A name the engine cannot resolve refuses the whole batch: no host goes ahead.
    unknown = PlanError(code=PlanErrorCode.UNKNOWN_CONTAINER, message="no container 'x'", ref="x")
    assert build_plan("t", [_check(b, 2 * GIB)], [], [unknown]).hosts_ok() == []
    bad_host = PlanError(code=PlanErrorCode.UNKNOWN_HOST, message="unknown host", host="h9")
    assert build_plan("t", [_check(b, 2 * GIB)], [], [bad_host]).hosts_ok() == []
