"""The memory rebalancing rules as pure functions: every rule, snap, budget arithmetic, swap."""

from __future__ import annotations

from pathlib import Path

import docker.errors
import pytest
from hypothesis import given
from hypothesis import strategies as st

from clawtui.engine import store as core_store
from clawtui.engine.api.memory import (
    ApplyResult,
    BatchState,
    ContainerOutcome,
    MemoryChange,
    Outcome,
    PlanErrorCode,
    Verdict,
    format_bytes,
)
from clawtui.engine.api.models import ContainerInfo
from clawtui.engine.fleet.stats import CgroupPaths
from clawtui.engine.memory import store as memory_store
from clawtui.engine.memory.docker_apply import (
    CgroupMemory,
    cgroup_agrees,
    describe_update_error,
    own_container_ids,
    read_cgroup_memory,
)
from clawtui.engine.memory.notifications import notification_for
from clawtui.engine.memory.rules import (
    Budget,
    Current,
    Rules,
    build_plan,
    check_change,
    snap_problem,
    swap_for,
    why_not_adjustable,
)
from clawtui.engine.memory.store import read_history, write_history
from clawtui.engine.store import Store

MIB = 1024 * 1024
GIB = 1024 * MIB
RULES = Rules(floor=256 * MIB, step=64 * MIB, warn_ratio=1.25)
DEVBOX = {"clawtui.role": "devbox"}


def cur(
    name: str = "dev-a",
    memory: int = 1 * GIB,
    swap: int | None = None,
    usage: int | None = 100 * MIB,
    labels: dict[str, str] | None = None,
    host: str = "local",
    **kw: object,
) -> Current:
    cid = (name.encode().hex() + "0" * 64)[:64]
    return Current(
        key=f"{host}/{cid}",
        host=host,
        id=cid,
        name=name,
        state="running" if usage is not None else "exited",
        memory=memory,
        swap=memory if swap is None else swap,
        labels=DEVBOX if labels is None else labels,
        usage=usage,
        usage_source="cgroup" if usage is not None else None,
        **kw,  # type: ignore[arg-type]
    )


def check(c: Current, requested: int, *, v: str | None = "1", confirm: bool = False):  # type: ignore[no-untyped-def]
    return check_change(c.name, c, requested, RULES, cgroup_version=v, confirm_below_usage=confirm)


# -- rule 4: who may be resized --------------------------------------------------------------
@pytest.mark.parametrize(
    ("labels", "is_engine", "adjustable"),
    [
        ({"clawtui.role": "devbox"}, False, True),
        ({"clawtui.role": "pool", "x": "y"}, False, True),
        ({}, False, False),
        ({"clawtui.role": "infra"}, False, False),
        ({"clawtui.role": "DEVBOX"}, False, False),
        ({"clawtui.role": "devbox"}, True, False),
    ],
)
def test_only_devbox_and_pool_are_adjustable(
    labels: dict[str, str], is_engine: bool, adjustable: bool
) -> None:
    reason = why_not_adjustable(labels, memory=GIB, is_engine=is_engine)
    assert (reason is None) is adjustable
    c = check(cur(labels=labels, is_engine=is_engine), 2 * GIB)
    assert (c.verdict is Verdict.OK) is adjustable
    if not adjustable:
        assert c.reasons[0].startswith("not adjustable")


def test_infra_refused_even_when_unchanged() -> None:
    c = check(cur(labels={"clawtui.role": "infra"}), GIB)
    assert c.verdict is Verdict.REFUSED and "infra" in c.reasons[0]


def test_no_limit_is_refused_because_it_cannot_be_rolled_back() -> None:
    c = check(cur(memory=0, swap=0), GIB)
    assert c.verdict is Verdict.REFUSED
    assert "no memory limit" in c.reasons[0] and "rolled back" in c.reasons[0]


# -- snap and floor --------------------------------------------------------------------------
def test_snap_to_step() -> None:
    assert snap_problem(3 * GIB, GIB, 64 * MIB) is None
    problem = snap_problem(1000 * MIB, GIB, 64 * MIB)
    assert problem is not None and "960 MiB or 1.0 GiB" in problem and "64 MiB" in problem
    assert snap_problem(1000 * MIB, 1000 * MIB, 64 * MIB) is None  # the current value
    c = check(cur(memory=1000 * MIB), 1000 * MIB)  # unchanged off-grid value is fine
    assert c.verdict is Verdict.OK and c.reasons == ["unchanged"] and not c.changes
    c = check(cur(), GIB + 1)
    assert c.verdict is Verdict.REFUSED and "not a multiple of 64 MiB" in c.reasons[0]


@given(st.integers(min_value=1, max_value=1 << 40))
def test_snap_accepts_exactly_the_multiples(value: int) -> None:
    assert (snap_problem(value, 7, 64 * MIB) is None) == (value % (64 * MIB) == 0 or value == 7)


def test_floor_and_docker_minimum() -> None:
    c = check(cur(usage=None), 192 * MIB)
    assert c.verdict is Verdict.REFUSED and "below the floor of 256 MiB" in " ".join(c.reasons)
    assert check(cur(usage=None), 256 * MIB).verdict is Verdict.OK
    low = Rules(floor=1 * MIB, step=1 * MIB)
    assert low.effective_floor == 6 * MIB  # never below Docker's own minimum
    c = check_change("x", cur(usage=None), 5 * MIB, low, cgroup_version="1")
    assert c.verdict is Verdict.REFUSED and "6 MiB" in c.reasons[0]


def test_reservation() -> None:
    c = check(cur(usage=None, reservation=512 * MIB), 448 * MIB)
    assert c.verdict is Verdict.REFUSED and "reservation" in c.reasons[0]


# -- rule 3: usage ---------------------------------------------------------------------------
def test_below_usage_refused_on_cgroup_v1_even_when_confirmed() -> None:
    for confirm in (False, True):
        c = check(cur(usage=400 * MIB), 320 * MIB, v="1", confirm=confirm)
        assert c.verdict is Verdict.REFUSED
        assert "400 MiB in use" in c.reasons[0] and "EBUSY" in c.reasons[0]
        assert not c.needs_confirmation  # no confirmation can make it happen


@pytest.mark.parametrize("version", ["2", None, "?"])
def test_below_usage_needs_confirmation_on_cgroup_v2(version: str | None) -> None:
    c = check(cur(usage=400 * MIB), 320 * MIB, v=version)
    assert c.verdict is Verdict.REFUSED and "confirm" in c.reasons[0]
    assert c.needs_confirmation
    c = check(cur(usage=400 * MIB), 320 * MIB, v=version, confirm=True)
    assert c.verdict is Verdict.WARNING and "OOM-kill" in c.reasons[0]
    assert c.needs_confirmation
    assert not check(cur(usage=400 * MIB), 448 * MIB, v=version).needs_confirmation


def test_warning_below_ratio_times_usage() -> None:
    assert check(cur(usage=400 * MIB), 448 * MIB).verdict is Verdict.WARNING  # < 500 MiB
    assert "1.25x" in check(cur(usage=400 * MIB), 448 * MIB).reasons[0]
    assert check(cur(usage=400 * MIB), 512 * MIB).verdict is Verdict.OK  # >= 500 MiB
    assert check(cur(usage=None), 256 * MIB).verdict is Verdict.OK  # stopped: no usage


# -- rule 5: swap ----------------------------------------------------------------------------
def test_swap_rules() -> None:
    assert swap_for(-1, GIB) == -1
    assert swap_for(2 * GIB, 3 * GIB) == 3 * GIB  # swap = memory: swap disabled
    assert swap_for(512 * MIB, 256 * MIB) == 256 * MIB
    created_with_memory_only = cur(memory=256 * MIB, swap=512 * MIB, usage=None)
    up = check(created_with_memory_only, GIB)
    assert (up.new_limit, up.new_swap, up.old_swap) == (GIB, GIB, 512 * MIB)
    unlimited = check(cur(memory=GIB, swap=-1), 2 * GIB)
    assert (unlimited.new_limit, unlimited.new_swap) == (2 * GIB, -1)
    same = check(created_with_memory_only, 256 * MIB)  # unchanged: swap left alone too
    assert same.new_swap == 512 * MIB and not same.changes


# -- rule 1: budget --------------------------------------------------------------------------
def plan_for(budget: Budget, *pairs: tuple[Current, int]):  # type: ignore[no-untyped-def]
    checks = [check(c, new) for c, new in pairs]
    return build_plan("test", checks, [budget])


def test_budget_arithmetic_increase_within_and_beyond() -> None:
    a = cur("a", memory=2 * GIB)
    # total 10 GiB, reserve 2 GiB: budget 8 GiB; 6 GiB allocated now (a, b and 2 GiB others).
    budget = Budget(host="local", total=10 * GIB, reserve=2 * GIB, allocated=6 * GIB)
    ok = plan_for(budget, (a, 4 * GIB))
    assert ok.ok and ok.budgets[0].allocated_after == 8 * GIB
    assert ok.budgets[0].available_after == 0
    over = plan_for(budget, (a, 4 * GIB + 64 * MIB))
    assert not over.ok
    assert (
        over.errors[0].code is PlanErrorCode.BUDGET and "64 MiB too much" in over.errors[0].message
    )
    assert over.checks[0].verdict is Verdict.REFUSED
    assert over.checks[0].reasons[-1].startswith("over budget")


def test_budget_decreases_fund_increases_in_the_same_batch() -> None:
    a, b = cur("a", memory=2 * GIB), cur("b", memory=2 * GIB)
    budget = Budget(host="local", total=10 * GIB, reserve=2 * GIB, allocated=8 * GIB)
    assert not plan_for(budget, (a, 3 * GIB)).ok
    rebalance = plan_for(budget, (a, 3 * GIB), (b, GIB))
    assert rebalance.ok and rebalance.budgets[0].allocated_after == 8 * GIB


def test_decrease_always_allowed_even_over_budget() -> None:
    a, b = cur("a", memory=4 * GIB, usage=None), cur("b", memory=4 * GIB, usage=None)
    budget = Budget(host="local", total=4 * GIB, reserve=2 * GIB, allocated=12 * GIB)
    down = plan_for(budget, (a, 3 * GIB), (b, 2 * GIB))
    assert down.ok and down.budgets[0].allocated_after == 9 * GIB > down.budgets[0].budget
    mixed = plan_for(budget, (a, 2 * GIB), (b, 5 * GIB))  # net decrease, still over: refused
    assert not mixed.ok
    verdicts = {c.name: c.verdict for c in mixed.checks}
    assert verdicts == {"a": Verdict.OK, "b": Verdict.REFUSED}


def test_budget_unknown_total_refuses_increases_only() -> None:
    a = cur("a", memory=2 * GIB, usage=None)
    budget = Budget(host="local", total=0, reserve=2 * GIB, allocated=2 * GIB)
    assert not plan_for(budget, (a, 3 * GIB)).ok
    assert plan_for(budget, (a, GIB)).ok


def test_budget_is_per_host() -> None:
    a, b = cur("a", memory=GIB, host="h1"), cur("b", memory=GIB, host="h2")
    budgets = [
        Budget(host="h1", total=4 * GIB, reserve=GIB, allocated=3 * GIB),
        Budget(host="h2", total=64 * GIB, reserve=GIB, allocated=GIB),
    ]
    plan = build_plan("t", [check(a, 2 * GIB), check(b, 8 * GIB)], budgets)
    assert not plan.ok
    assert [e.host for e in plan.errors] == ["h1"]
    assert {c.name: c.verdict for c in plan.checks} == {"a": Verdict.REFUSED, "b": Verdict.OK}


def test_empty_plan_is_an_error() -> None:
    plan = build_plan("t", [], [])
    assert not plan.ok and plan.errors[0].code is PlanErrorCode.EMPTY


def test_warnings_do_not_block() -> None:
    budget = Budget(host="local", total=64 * GIB, reserve=2 * GIB, allocated=GIB)
    plan = plan_for(budget, (cur(usage=400 * MIB), 448 * MIB))
    assert plan.ok and plan.warnings and not plan.refused


# -- Docker's errors, messages, history --------------------------------------------------------
def test_kernel_ebusy_reason_is_kept() -> None:
    explanation = (
        "Cannot update container 4abc8f2aa820057307d330d3701c56b4936a5ed9a7931cee0ebc8f515485908e:"
        " runc did not terminate successfully: exit status 1: unable to set memory limit to "
        "134217728 (current usage: 158326784, peak usage: 158769152)\n: unknown"
    )
    failure = describe_update_error(docker.errors.APIError("500", explanation=explanation))
    assert "EBUSY" in failure.reason and not failure.unreachable
    assert "unable to set memory limit to 134217728 (current usage: 158326784" in failure.reason
    assert "128 MiB is below the 151.0 MiB in use" in failure.reason
    assert "Cannot update container" not in failure.reason
    gone = describe_update_error(docker.errors.NotFound("404", explanation="No such container"))
    assert "no longer exists" in gone.reason
    down = describe_update_error(ConnectionError("Connection refused"))
    assert down.unreachable and "did not answer" in down.reason


def test_format_bytes() -> None:
    assert format_bytes(2 * GIB) == "2.0 GiB"
    assert format_bytes(3 * GIB) == "3.0 GiB"
    assert format_bytes(768 * MIB) == "768 MiB"
    assert format_bytes(0) == "unlimited" and format_bytes(None) == "-"


def test_notification_text_like_the_seed() -> None:
    c = check(cur("dev-alice", memory=2 * GIB, usage=None), 3 * GIB)
    result = ApplyResult(
        batch_id="b1",
        who="tui",
        state=BatchState.APPLIED,
        plan=build_plan("tui", [c], []),
        outcomes=[ContainerOutcome(check=c, outcome=Outcome.APPLIED)],
        started_at=0.0,
        seconds=0.1,
    )
    note = notification_for(result)
    assert note is not None
    assert note.text == "Memory rebalanced: dev-alice 2.0 GiB → 3.0 GiB (by tui)"
    assert note.data["changes"][0]["new_limit"] == 3 * GIB


def test_history_roundtrip(tmp_path: Path) -> None:
    # The shared steps and memory's own: memory owns its table (memory/store.py).
    store = Store(tmp_path / "c.db", migrations=[*core_store.MIGRATIONS, *memory_store.MIGRATIONS])
    store.open()
    rows = [
        MemoryChange(
            ts=float(i), batch_id="b", who="cli", host="local", container_id="c" * 64,
            name=f"n{i}", old_limit=GIB, new_limit=2 * GIB, old_swap=2 * GIB,
            new_swap=2 * GIB, outcome=Outcome.APPLIED,
        )
        for i in range(3)
    ]  # fmt: skip
    write_history(store, rows)
    got = read_history(store, 2)
    assert [r.name for r in got] == ["n2", "n1"]
    assert got[0] == rows[2]
    store.close()


def test_own_container_ids(tmp_path: Path) -> None:
    cid = "ab" * 32
    (tmp_path / "cgroup").write_text(f"12:memory:/docker/{cid}\n0::/\n")
    (tmp_path / "mountinfo").write_text("1 2 0:1 / / rw - overlay overlay rw\n")
    assert own_container_ids(tmp_path) == {cid}
    assert own_container_ids(tmp_path / "nope") == frozenset()


# -- the cgroup fast path --------------------------------------------------------------------
def _cgroup_dir(tmp_path: Path, version: int, files: dict[str, str]) -> CgroupPaths:
    base = tmp_path / f"v{version}"
    base.mkdir()
    for name, text in files.items():
        (base / name).write_text(text + "\n")
    return CgroupPaths(version, str(base), str(base), None)


def _model(memory: int, swap: int) -> ContainerInfo:
    return ContainerInfo(
        id="c" * 64, host="local", name="dev", image="x", state="running", pid=1,
        memory_limit=memory, memory_swap=swap,
    )  # fmt: skip


def test_read_cgroup_memory_v1(tmp_path: Path) -> None:
    paths = _cgroup_dir(
        tmp_path,
        1,
        {
            "memory.limit_in_bytes": str(512 * MIB),
            "memory.memsw.limit_in_bytes": str(GIB),
            "memory.soft_limit_in_bytes": "9223372036854771712",
            "memory.usage_in_bytes": str(300 * MIB),
            "memory.stat": f"cache {100 * MIB}\ntotal_cache {100 * MIB}",
            "cpuacct.usage": "1000",
        },
    )
    cg = read_cgroup_memory(paths)
    assert cg == CgroupMemory(limit=512 * MIB, memsw=GIB, reservation=0, used=200 * MIB)
    assert cgroup_agrees(_model(512 * MIB, GIB), cg)
    assert not cgroup_agrees(_model(512 * MIB, 512 * MIB), cg)  # swap differs: inspect
    assert not cgroup_agrees(_model(768 * MIB, GIB), cg)  # the model is stale: inspect
    assert not cgroup_agrees(_model(0, 0), cg)


def test_read_cgroup_memory_v2_unlimited_swap(tmp_path: Path) -> None:
    paths = _cgroup_dir(
        tmp_path,
        2,
        {
            "memory.max": str(GIB),
            "memory.swap.max": "max",
            "memory.low": str(256 * MIB),
            "memory.current": str(50 * MIB),
            "memory.stat": f"anon 1\ninactive_file {10 * MIB}",
            "cpu.stat": "usage_usec 5",
        },
    )
    cg = read_cgroup_memory(paths)
    assert cg == CgroupMemory(limit=GIB, memsw=None, reservation=256 * MIB, used=40 * MIB)
    assert cgroup_agrees(_model(GIB, -1), cg)
    assert not cgroup_agrees(_model(GIB, 2 * GIB), cg)


def test_read_cgroup_memory_missing_files(tmp_path: Path) -> None:
    # No memory.memsw.* (swap accounting off): swap cannot be confirmed, so inspect instead.
    paths = _cgroup_dir(tmp_path, 1, {"memory.limit_in_bytes": str(GIB)})
    assert read_cgroup_memory(paths) is None


# -- issue 19: suggestions above the floor, box names, the summary agrees with the row --------
def test_snap_suggests_only_sizes_the_floor_allows() -> None:
    problem = snap_problem(100 * MIB, GIB, 64 * MIB, 256 * MIB)
    assert problem is not None and "use 256 MiB" in problem and "64 MiB or" not in problem
    problem = snap_problem(300 * MIB, GIB, 64 * MIB, 256 * MIB)
    assert problem is not None and "256 MiB or 320 MiB" in problem
    c = check(cur(), 100 * MIB)
    assert "use 256 MiB" in c.reasons[0] and "below the floor of 256 MiB" in c.reasons[1]


def test_memory_batch_names_a_dev_box_by_its_own_name() -> None:
    from types import SimpleNamespace

    from clawtui.engine.memory.references import resolve

    def info(name: str, labels: dict[str, str]) -> ContainerInfo:
        return ContainerInfo(
            id=(name.encode().hex() + "0" * 64)[:64], host="local", name=name, image="i",
            state="running", labels=labels,
        )  # fmt: skip

    box = info("dev-sam", {"clawtui.role": "devbox", "clawtui.owner": "sam"})
    other = info("sam-helper", {})
    monitors = {"local": SimpleNamespace(containers={c.id: c for c in (box, other)})}
    assert resolve(monitors, "dev-sam") == (box.key, None)  # type: ignore[arg-type]
    assert resolve(monitors, "sam") == (box.key, None)  # type: ignore[arg-type]
    assert resolve(monitors, "local/sam") == (box.key, None)  # type: ignore[arg-type]
    key, error = resolve(monitors, "nobody")  # type: ignore[arg-type]
    assert key is None and error is not None


def test_mem_set_summary_says_too_much_like_the_row() -> None:
    from clawtui.cli.mem import format_plan
    from clawtui.engine.api.memory import HostBudget, MemoryPlan

    over = HostBudget(
        host="local", total=16 * GIB, reserve=2 * GIB, budget=14 * GIB,
        allocated_before=4 * GIB, allocated_after=20 * GIB,
    )  # fmt: skip
    text = format_plan(MemoryPlan(ok=False, who="cli", budgets=[over]))
    assert "6.0 GiB too much" in text and "unlimited" not in text
    fits = over.model_copy(update={"allocated_after": 10 * GIB})
    assert "4.0 GiB left" in format_plan(MemoryPlan(ok=True, who="cli", budgets=[fits]))
