"""Live memory rebalancing in the engine interface: plans, verdicts, batch results, history rows,
the protocol (`MemoryAPI`, `memory_of`).

These models are the contract between `MemoryManager` and its callers (the TUI's memory panel,
the service's `/api/v1/memory/*` routes, `clawtui mem`). They are plain pydantic data so they
cross the HTTP boundary unchanged (`model_dump(mode="json")` / `model_validate`).

Sizes are bytes. Limits follow Docker's `HostConfig`: `Memory` 0 means no limit, `MemorySwap`
-1 means unlimited swap (and otherwise counts memory + swap, so `MemorySwap == Memory` means no
swap at all).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from enum import StrEnum
from typing import TYPE_CHECKING, Protocol

from pydantic import BaseModel, ConfigDict, Field

from clawtui.config.notify import DEFAULT_ADJUSTABLE_LABELS as DEFAULT_ADJUSTABLE_LABELS

if TYPE_CHECKING:
    from clawtui.engine.api.protocols import EngineAPI

KIB = 1024
MIB = 1024 * KIB
GIB = 1024 * MIB
DOCKER_MIN_MEMORY = 6 * MIB
"""Docker refuses a memory limit below 6 MiB ("Minimum memory limit allowed is 6MB")."""

MAX_BATCH = 500
"""Most containers one batch may name."""
MAX_REF_LENGTH = 256
"""Longest container reference (key, name or id prefix) a batch may use."""
ADJUSTABLE_ROLES = frozenset({"devbox", "pool"})
"""Values of the `clawtui.role` label whose containers may be resized."""


def matches_labels(labels: Mapping[str, str], selectors: Iterable[str]) -> bool:
    """True when `labels` has one of `selectors` (`key=value`, or `key` for any value)."""
    for selector in selectors:
        key, eq, value = selector.partition("=")
        if key in labels and (not eq or labels[key] == value):
            return True
    return False


def format_bytes(value: int | None) -> str:
    """Human size for messages: '512 MiB', '2.0 GiB', '-' for unknown, 'unlimited' for <= 0."""
    if value is None:
        return "-"
    if value <= 0:
        return "unlimited"
    if value >= GIB:
        return f"{value / GIB:.1f} GiB"
    if value >= MIB:
        mib = value / MIB
        return f"{mib:.0f} MiB" if mib == int(mib) else f"{mib:.1f} MiB"
    if value >= KIB:
        return f"{value / KIB:.0f} KiB"
    return f"{value} B"


class Verdict(StrEnum):
    """What validation says of one requested change."""

    OK = "ok"
    WARNING = "warning"  # allowed, with a reason a person should read
    REFUSED = "refused"  # not allowed; the whole batch is refused


class Outcome(StrEnum):
    """What happened to one container when a batch was applied."""

    APPLIED = "applied"  # the new limit is in place
    UNCHANGED = "unchanged"  # the requested limit was the current one: nothing sent
    NOT_APPLIED = "not_applied"  # the batch was refused before any update
    FAILED = "failed"  # Docker refused or did not answer this update
    ROLLED_BACK = "rolled_back"  # applied, then put back because another update failed
    ROLLBACK_FAILED = "rollback_failed"  # applied, and putting it back failed: needs a person


class BatchState(StrEnum):
    """The result of a whole batch."""

    APPLIED = "applied"  # every change is in place
    REFUSED = "refused"  # validation refused it (or another batch held the host): nothing sent
    ROLLED_BACK = "rolled_back"  # an update failed; every applied change was put back
    PARTIAL = "partial"  # an update failed and a rollback failed too: limits are mixed
    MIXED = "mixed"  # a batch over several hosts: applied on some hosts, not on others


class PlanErrorCode(StrEnum):
    EMPTY = "empty"  # no changes were given
    UNKNOWN_CONTAINER = "unknown_container"
    AMBIGUOUS = "ambiguous"  # a name or id prefix matches several containers
    DUPLICATE = "duplicate"  # two references name the same container
    UNKNOWN_HOST = "unknown_host"
    HOST_OFFLINE = "host_offline"
    BUDGET = "budget"  # increases would take a host past its budget
    BUSY = "busy"  # another batch on the host did not finish within `[memory] batch_wait`


class PlanError(BaseModel):
    """A problem of the batch as a whole (not of one container)."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    code: PlanErrorCode
    message: str
    ref: str | None = Field(None, description="The reference the error is about, if one.")
    host: str | None = None


class ContainerCheck(BaseModel):
    """Validation of one requested change, against state read when the plan was made."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    ref: str = Field(description="The reference as given: a key, a name or an id prefix.")
    key: str = Field(description="host/id")
    host: str
    id: str
    name: str
    role: str | None = None
    state: str = Field(description="Docker state when validated: running, exited, ...")
    old_limit: int = Field(description="HostConfig.Memory before the change (0 = unlimited).")
    new_limit: int = Field(description="The requested HostConfig.Memory.")
    old_swap: int = Field(description="HostConfig.MemorySwap before the change.")
    new_swap: int = Field(description="HostConfig.MemorySwap sent with the new limit.")
    usage: int | None = Field(
        None, description="Memory in use when validated (usage - page cache); None if stopped."
    )
    usage_source: str | None = Field(None, description="'cgroup' or 'api' (one-shot stats).")
    limits_source: str | None = Field(
        None,
        description="Where the current limits were read: 'cgroup' (the kernel's limits "
        "confirmed the engine's model) or 'inspect'.",
    )
    verdict: Verdict
    reasons: list[str] = Field(default_factory=list, description="Why, in plain words.")
    needs_confirmation: bool = Field(
        False,
        description="The new limit is below the memory in use on a host where the kernel "
        "OOM-kills rather than refuses (cgroup v2): applying needs confirm_below_usage. "
        "On cgroup v1 such a change is refused outright and this stays false.",
    )

    @property
    def changes(self) -> bool:
        """Whether applying this check sends an update to Docker."""
        return self.new_limit != self.old_limit or self.new_swap != self.old_swap

    @property
    def delta(self) -> int:
        return self.new_limit - self.old_limit


class HostBudget(BaseModel):
    """The memory budget of one host in a plan: before and after the batch."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    host: str
    total: int = Field(description="Host RAM as Docker reports it.")
    reserve: int = Field(description="`memory_reserve` of the host's config.")
    budget: int = Field(description="total - reserve: what container limits may add up to.")
    allocated_before: int = Field(description="Sum of every container's limit now.")
    allocated_after: int = Field(description="The same sum once the batch is applied.")

    @property
    def available_after(self) -> int:
        return self.budget - self.allocated_after


class MemoryPlan(BaseModel):
    """A validated batch. `ok` means `apply` would send it (warnings do not block)."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    ok: bool
    who: str
    planned_at: float = Field(default_factory=time.time)
    checks: list[ContainerCheck] = Field(default_factory=list)
    budgets: list[HostBudget] = Field(default_factory=list)
    errors: list[PlanError] = Field(default_factory=list)
    confirm_below_usage: bool = False

    @property
    def warnings(self) -> list[ContainerCheck]:
        return [c for c in self.checks if c.verdict is Verdict.WARNING]

    @property
    def refused(self) -> list[ContainerCheck]:
        return [c for c in self.checks if c.verdict is Verdict.REFUSED]

    def hosts_ok(self) -> list[str]:
        """Hosts whose part of the batch `apply` would send (a batch is applied per host), in
        the order the checks name them; none when an error refuses the whole batch (a name
        that is unknown, ambiguous or given twice, an unknown host)."""
        if any(e.host is None or e.code is PlanErrorCode.UNKNOWN_HOST for e in self.errors):
            return []
        bad = {e.host for e in self.errors} | {c.host for c in self.refused}
        return list(dict.fromkeys(c.host for c in self.checks if c.host not in bad))

    def summary(self) -> str:
        """One line saying why the plan is not ok (empty when it is)."""
        parts = [e.message for e in self.errors]
        parts += [f"{c.name}: {'; '.join(c.reasons)}" for c in self.refused]
        return " | ".join(parts)


class ContainerOutcome(BaseModel):
    """What happened to one container of an applied batch."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    check: ContainerCheck
    outcome: Outcome
    error: str | None = Field(None, description="Docker's reason, when an update failed.")
    rollback_error: str | None = None
    warnings: list[str] = Field(
        default_factory=list, description="Warnings Docker returned with the update."
    )
    seconds: float | None = Field(None, description="How long the update call took.")


class HostBatch(BaseModel):
    """What one host's part of a batch came to. A batch is split by host; each host's part is
    validated against that host's budget and applied all or nothing on that host."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    host: str
    state: BatchState = Field(
        description="applied, refused (nothing sent), rolled_back or partial (a rollback "
        "failed); never mixed."
    )
    reason: str | None = Field(
        None, description="Why the host's part was not applied (refusal or Docker's reasons)."
    )
    containers: int = Field(0, description="Containers of the batch on this host.")
    docker_unreachable: bool = Field(
        False, description="An update on this host failed because its Docker did not answer."
    )
    seconds: float = Field(0.0, description="From validation to the host's last update.")


class ApplyResult(BaseModel):
    """The result of `MemoryManager.apply`."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    batch_id: str
    who: str
    state: BatchState
    plan: MemoryPlan
    outcomes: list[ContainerOutcome] = Field(default_factory=list)
    started_at: float
    seconds: float = Field(description="From the call until the result, including waiting.")
    docker_unreachable: bool = Field(
        False, description="A failed update failed because Docker did not answer."
    )
    hosts: list[HostBatch] = Field(
        default_factory=list,
        description="Per host, what its part of the batch came to (one entry per host the "
        "batch named; empty when the batch was refused before it was split).",
    )

    @property
    def ok(self) -> bool:
        return self.state is BatchState.APPLIED

    def summary(self) -> str:
        """One line for logs and error messages."""
        if len(self.hosts) > 1 and self.state is not BatchState.APPLIED:
            return f"{self.state.value.replace('_', ' ')}: " + "; ".join(
                f"host {h.host} {h.state.value.replace('_', ' ')}"
                + (f" ({h.reason})" if h.reason else "")
                for h in self.hosts
            )
        if self.state is BatchState.REFUSED:
            return f"refused: {self.plan.summary()}"
        failed = [o for o in self.outcomes if o.outcome is Outcome.FAILED]
        if self.state is BatchState.APPLIED:
            n = sum(1 for o in self.outcomes if o.outcome is Outcome.APPLIED)
            return f"applied {n} change(s)"
        reasons = "; ".join(f"{o.check.name}: {o.error}" for o in failed)
        return f"{self.state.value.replace('_', ' ')}: {reasons}"

    def history_rows(self) -> list[MemoryChange]:
        """The history rows of this batch: one per container whose update touched Docker."""
        return [
            MemoryChange(
                ts=self.started_at,
                batch_id=self.batch_id,
                who=self.who,
                host=o.check.host,
                container_id=o.check.id,
                name=o.check.name,
                old_limit=o.check.old_limit,
                new_limit=o.check.new_limit,
                old_swap=o.check.old_swap,
                new_swap=o.check.new_swap,
                outcome=o.outcome,
                reason=o.error or o.rollback_error,
            )
            for o in self.outcomes
            if o.outcome not in (Outcome.UNCHANGED, Outcome.NOT_APPLIED)
        ]


class MemoryChange(BaseModel):
    """One row of the memory change history (one container of one batch)."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    ts: float
    batch_id: str
    who: str
    host: str
    container_id: str
    name: str
    old_limit: int
    new_limit: int
    old_swap: int
    new_swap: int
    outcome: Outcome
    reason: str | None = None


class ContainerMemory(BaseModel):
    """One container of a host's memory view (what the memory panel shows per slider)."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    key: str
    id: str
    name: str
    role: str | None
    state: str
    limit: int = Field(description="HostConfig.Memory (0 = unlimited).")
    swap: int = Field(description="HostConfig.MemorySwap.")
    usage: int | None = Field(None, description="Latest sampled use (usage - page cache).")
    adjustable: bool
    why_not: str | None = Field(None, description="Why the container cannot be resized.")
    floor: int = Field(description="Lowest limit the engine would accept for it now.")
    ceiling: int = Field(
        description="Highest limit that fits the host's budget if only this container changes."
    )


class HostMemoryView(BaseModel):
    """A host's memory budget and its containers, for the memory panel and the API."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    host: str
    state: str
    cgroup_version: str | None
    total: int
    reserve: int
    budget: int
    allocated: int
    available: int
    step: int = Field(description="New limits must be multiples of this.")
    floor: int = Field(description="The configured floor ([memory] floor).")
    warn_ratio: float
    containers: list[ContainerMemory]


class MemoryAPI(Protocol):
    """Live memory rebalancing: validate a batch of new limits, apply it, read the history."""

    async def plan(
        self, changes: Mapping[str, int], *, who: str, confirm_below_usage: bool = False
    ) -> MemoryPlan:
        """Validate `changes` ({container key: new limit in bytes}); nothing is changed."""
        ...

    async def apply(
        self, changes: Mapping[str, int], *, who: str, confirm_below_usage: bool = False
    ) -> ApplyResult:
        """Validate against fresh state and apply all of `changes`, or none."""
        ...

    async def history(self, limit: int = 100) -> list[MemoryChange]:
        """The newest recorded changes, newest first."""
        ...


def memory_of(engine: EngineAPI) -> MemoryAPI | None:
    """The engine's memory rebalancing, or None when it has none."""
    memory: MemoryAPI | None = getattr(engine, "memory", None)
    return memory


class MemoryViewAPI(Protocol):
    """A host's memory as the engine's model has it, synchronously (an engine in this process)."""

    def view(self, host: str) -> HostMemoryView:
        """The host's budget and its containers' limits and latest sampled use (no Docker call)."""
        ...


def memory_view_of(engine: EngineAPI) -> MemoryViewAPI | None:
    """The engine's memory view, or None for a remote engine or one without memory rebalancing."""
    memory = None if engine.is_remote else getattr(engine, "memory", None)
    if not callable(getattr(memory, "view", None)):
        return None
    view: MemoryViewAPI = memory  # type: ignore[assignment]  # checked above
    return view
