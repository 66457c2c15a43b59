"""Live memory rebalancing: validate a batch of new limits against fresh state, apply it all or
nothing, record it, tell people.

The admin moves sliders in the TUI (or calls the API / `clawtui mem set`); one batch holds every
changed container. `MemoryManager`:

* resolves references (a `host/id` key, a container name, or a unique id prefix);
* reads each container's state when asked, never a cached UI value (`docker_apply.py`: cgroup
  files on a local host, `inspect` and one-shot stats otherwise);
* validates with the pure rules of `rules.py` (budget, floor, usage, labels, swap, snap);
* splits the batch by host (`host_batches.py`): each host's part is validated against that
  host's budget and applied on its own, all or nothing on that host, the hosts at once; one
  host refused, offline or rolled back does not stop the others (`ApplyResult.hosts` says per
  host what happened; `state` is `mixed` when some hosts applied and others did not);
* applies a host's part with all its updates in flight at once (`asyncio.gather` over the
  host's thread pool), each sending Memory and MemorySwap together. If any update fails, every
  update on that host that succeeded is put back (Memory and MemorySwap), and the result says
  per container what happened: applied / rolled_back / failed / rollback_failed;
* records every attempted change in the store (`memory_changes`), publishes an
  `EventKind.MEMORY` event with the result and hands a notification to the engine's notifier.

Concurrency: one batch per host at a time. A second batch for a busy host waits for the first
to finish, up to `[memory] batch_wait` seconds, and is then validated against the state the
first one left; past that wait it is refused with a "batch in flight" error (code `busy`). The
guard holds across processes on one machine too (`clawtui mem set` beside `clawtui serve`): a
`flock` on a file per host in the engine's state folder. Once validation passes, the batch runs
to its end even if the caller is cancelled (a half-applied batch is worse than a late answer).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from clawtui.engine.api.memory import (
    ApplyResult,
    BatchState,
    ContainerCheck,
    ContainerMemory,
    ContainerOutcome,
    HostMemoryView,
    MemoryChange,
    MemoryPlan,
    Outcome,
    PlanError,
    PlanErrorCode,
)
from clawtui.engine.memory.docker_apply import (
    FreshReader,
    UpdateFailure,
    Wanted,
    describe_update_error,
    own_container_ids,
)
from clawtui.engine.memory.host_batches import merge, split_by_host
from clawtui.engine.memory.locks import Busy, flock_until, unflock
from clawtui.engine.memory.notifications import report
from clawtui.engine.memory.references import resolve, resolve_all
from clawtui.engine.memory.rules import (
    Budget,
    Current,
    Rules,
    build_plan,
    ceil_to_step,
    check_change,
    why_not_adjustable,
)
from clawtui.engine.memory.store import read_history

if TYPE_CHECKING:
    from clawtui.config import MemoryConfig
    from clawtui.engine.context import Context
    from clawtui.engine.fleet.hosts import HostMonitor
    from clawtui.engine.notifier import Notifier

log = logging.getLogger(__name__)

_WHO_RE = re.compile(r"^[A-Za-z0-9_.:@-]{1,40}$")

ValidatedHook = Callable[[MemoryPlan], Awaitable[None]]


def rules_from_config(cfg: MemoryConfig) -> Rules:
    return Rules(
        floor=int(cfg.floor),
        step=int(cfg.step),
        warn_ratio=cfg.warn_ratio,
        adjustable_labels=tuple(cfg.adjustable_labels),
    )


# -- the manager ------------------------------------------------------------------------------
class MemoryManager:
    """Plans and applies memory limit changes for the engine's hosts."""

    def __init__(self, ctx: Context, notifier: Notifier) -> None:
        self._ctx = ctx
        self._notifier = notifier
        self._locks: dict[str, asyncio.Lock] = {}
        self._reader = FreshReader(own_container_ids())
        self._tasks: set[asyncio.Task[Any]] = set()
        self.on_validated: ValidatedHook | None = None
        """Test seam: awaited after a batch passed validation and before any update is sent
        (tests use it to change the world in between, e.g. remove a container)."""

    @property
    def rules(self) -> Rules:
        return rules_from_config(self._ctx.settings.memory)

    # -- references ----------------------------------------------------------------------------
    def resolve(self, ref: str) -> tuple[str | None, PlanError | None]:
        """(key, None) for a `host/id`, `host/name`, name or unique id prefix; else an error."""
        return resolve(self._ctx.monitors, ref)

    # -- fresh state ---------------------------------------------------------------------------
    def _allocated(self, monitor: HostMonitor, fresh: Mapping[str, Current]) -> int:
        """Sum of the limits of every container on the host, fresh values where read."""
        total = 0
        for cid, c in monitor.containers.items():
            limit = fresh[cid].memory if cid in fresh else c.memory_limit
            total += max(0, limit)
        total += sum(max(0, c.memory) for cid, c in fresh.items() if cid not in monitor.containers)
        return total

    async def _validate(
        self,
        resolved: list[Wanted],
        errors: list[PlanError],
        *,
        who: str,
        confirm_below_usage: bool,
    ) -> MemoryPlan:
        rules = self.rules
        by_host: dict[str, list[Wanted]] = {}
        for item in resolved:
            by_host.setdefault(item.host, []).append(item)
        monitors = self._ctx.monitors
        fresh_lists = await asyncio.gather(
            *(self._reader.read(monitors[host], items) for host, items in by_host.items())
        )
        all_errors = list(errors)
        checks: list[ContainerCheck] = []
        budgets: list[Budget] = []
        for (host, items), (fresh, host_errors) in zip(by_host.items(), fresh_lists, strict=True):
            all_errors.extend(host_errors)
            monitor = monitors[host]
            for item in items:
                cur = fresh.get(item.id)
                if cur is None:
                    continue
                checks.append(
                    check_change(
                        item.ref,
                        cur,
                        item.requested,
                        rules,
                        cgroup_version=monitor.info.cgroup_version,
                        confirm_below_usage=confirm_below_usage,
                    )
                )
            if fresh:
                budgets.append(
                    Budget(
                        host=host,
                        total=monitor.info.memory.total,
                        reserve=int(monitor.cfg.memory_reserve),
                        allocated=self._allocated(monitor, fresh),
                    )
                )
        return build_plan(who, checks, budgets, all_errors, confirm_below_usage=confirm_below_usage)

    # -- public API ----------------------------------------------------------------------------
    async def plan(
        self, changes: Mapping[str, int], *, who: str, confirm_below_usage: bool = False
    ) -> MemoryPlan:
        """Validate `changes` ({reference: new limit in bytes}) against state read now.

        Nothing is changed. `ok` says whether `apply` would go ahead if nothing moves meanwhile.
        """
        who = _check_who(who)
        resolved, errors = resolve_all(self._ctx.monitors, changes)
        return await self._validate(
            resolved, errors, who=who, confirm_below_usage=confirm_below_usage
        )

    async def apply(
        self, changes: Mapping[str, int], *, who: str, confirm_below_usage: bool = False
    ) -> ApplyResult:
        """Validate `changes` against fresh state and apply them all, or none.

        Returns the result whatever happened (refused, applied, rolled back); raises only on
        bad arguments (ValueError). A batch that passed validation runs to its end even when
        the caller is cancelled.
        """
        who = _check_who(who)
        task = asyncio.create_task(
            self._apply(dict(changes), who, confirm_below_usage), name="memory:apply"
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return await asyncio.shield(task)

    async def history(self, limit: int = 100) -> list[MemoryChange]:
        """The newest `limit` recorded changes, newest first."""
        store = self._ctx.store
        return await asyncio.to_thread(read_history, store, limit)

    def view(self, host: str) -> HostMemoryView:
        """A host's budget and its containers' limits and latest sampled use (no Docker call).

        For display only: `plan` and `apply` read state afresh.
        """
        monitor = self._ctx.monitors[host]
        rules = self.rules
        info = monitor.info
        reserve = int(monitor.cfg.memory_reserve)
        budget = info.memory.total - reserve
        allocated = sum(max(0, c.memory_limit) for c in monitor.containers.values())
        rows: list[ContainerMemory] = []
        for c in sorted(monitor.containers.values(), key=lambda c: c.name):
            usage = c.stats.mem_used if c.stats is not None and c.running else None
            why_not = why_not_adjustable(
                c.labels,
                memory=c.memory_limit,
                is_engine=c.id in self._reader.own_ids,
                selectors=rules.adjustable_labels,
            )
            floor = rules.effective_floor
            if usage is not None and info.cgroup_version == "1":
                floor = max(floor, ceil_to_step(usage, rules.step))
            ceiling = c.memory_limit + max(0, budget - allocated)
            ceiling -= ceiling % rules.step
            rows.append(
                ContainerMemory(
                    key=c.key,
                    id=c.id,
                    name=c.name,
                    role=c.role,
                    state=c.state,
                    limit=c.memory_limit,
                    swap=c.memory_swap,
                    usage=usage,
                    adjustable=why_not is None,
                    why_not=why_not,
                    floor=ceil_to_step(floor, rules.step),
                    ceiling=max(ceiling, c.memory_limit),
                )
            )
        return HostMemoryView(
            host=host,
            state=info.state.value,
            cgroup_version=info.cgroup_version,
            total=info.memory.total,
            reserve=reserve,
            budget=budget,
            allocated=allocated,
            available=budget - allocated,
            step=rules.step,
            floor=rules.effective_floor,
            warn_ratio=rules.warn_ratio,
            containers=rows,
        )

    async def wait_idle(self) -> None:
        """Wait for batches still running (e.g. whose callers were cancelled)."""
        if self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    # -- applying ------------------------------------------------------------------------------
    @contextlib.asynccontextmanager
    async def _host_locks(self, hosts: Iterable[str]) -> AsyncIterator[None]:
        """Hold the in-process and cross-process locks of `hosts` (in name order)."""
        deadline = time.monotonic() + self._ctx.settings.memory.batch_wait
        held: list[asyncio.Lock] = []
        fds: list[int] = []
        lock_dir = self._ctx.settings.engine.resolved_state_dir / "locks"
        try:
            for host in sorted(hosts):
                lock = self._locks.setdefault(host, asyncio.Lock())
                try:
                    async with asyncio.timeout(max(0.0, deadline - time.monotonic())):
                        await lock.acquire()
                except TimeoutError:
                    raise Busy(host) from None
                held.append(lock)
                try:
                    fd = await asyncio.to_thread(
                        flock_until, lock_dir / f"memory-{host}.lock", deadline
                    )
                except OSError as exc:  # no writable state dir: the in-process lock still holds
                    log.warning("cannot take the cross-process memory lock of %s: %s", host, exc)
                    continue
                if fd is None:
                    raise Busy(host)
                fds.append(fd)
            yield
        finally:
            for fd in fds:
                unflock(fd)
            for lock in held:
                lock.release()

    async def _apply(
        self, changes: dict[str, int], who: str, confirm_below_usage: bool
    ) -> ApplyResult:
        started = time.time()
        t0 = time.perf_counter()
        batch_id = uuid.uuid4().hex[:12]
        resolved, errors = resolve_all(self._ctx.monitors, changes)
        if errors or not resolved:  # the caller's mistake: the whole batch is refused
            plan = await self._validate(
                resolved, errors, who=who, confirm_below_usage=confirm_below_usage
            )
            result = self._refused(batch_id, who, plan, started, t0)
        else:
            parts = split_by_host(resolved)
            results = await asyncio.gather(
                *(
                    self._apply_host(host, items, batch_id, who, confirm_below_usage, started)
                    for host, items in parts.items()
                )
            )
            result = merge(
                batch_id=batch_id,
                who=who,
                started=started,
                seconds=time.perf_counter() - t0,
                parts=[
                    (host, len(items), r)
                    for (host, items), r in zip(parts.items(), results, strict=True)
                ],
                confirm_below_usage=confirm_below_usage,
            )
        await report(self._ctx, self._notifier, result)
        return result

    async def _apply_host(
        self,
        host: str,
        items: list[Wanted],
        batch_id: str,
        who: str,
        confirm_below_usage: bool,
        started: float,
    ) -> ApplyResult:
        """One host's part of a batch: validated against that host's budget under its lock,
        then applied all or nothing there. Never raises for the host's state: an offline host,
        a busy lock or a failed read is a refused part, so the other hosts go on."""
        t0 = time.perf_counter()
        try:
            async with self._host_locks([host]):
                try:
                    plan = await self._validate(
                        items, [], who=who, confirm_below_usage=confirm_below_usage
                    )
                except Exception as exc:  # a reply we could not read: this host only
                    log.exception("memory batch %s: reading host %s failed", batch_id, host)
                    error = PlanError(
                        code=PlanErrorCode.HOST_OFFLINE,
                        message=f"host {host}: the containers' state could not be read: "
                        f"{str(exc)[:300] or type(exc).__name__}",
                        host=host,
                    )
                    plan = MemoryPlan(
                        ok=False, who=who, errors=[error], confirm_below_usage=confirm_below_usage
                    )
                if plan.ok and self.on_validated is not None:
                    await self.on_validated(plan)
                if not plan.ok:
                    return self._refused(batch_id, who, plan, started, t0)
                return await self._run_batch(batch_id, who, plan, started, t0)
        except Busy as busy:
            error = PlanError(
                code=PlanErrorCode.BUSY,
                message=f"another memory batch on host {busy.host} is in flight and did not "
                f"finish within {self._ctx.settings.memory.batch_wait:g}s: try again",
                host=busy.host,
            )
            plan = MemoryPlan(
                ok=False, who=who, errors=[error], confirm_below_usage=confirm_below_usage
            )
            return self._refused(batch_id, who, plan, started, t0)

    def _refused(
        self, batch_id: str, who: str, plan: MemoryPlan, started: float, t0: float
    ) -> ApplyResult:
        outcomes = [ContainerOutcome(check=c, outcome=Outcome.NOT_APPLIED) for c in plan.checks]
        return ApplyResult(
            batch_id=batch_id,
            who=who,
            state=BatchState.REFUSED,
            plan=plan,
            outcomes=outcomes,
            started_at=started,
            seconds=time.perf_counter() - t0,
        )

    async def _update(self, check: ContainerCheck, memory: int, swap: int) -> list[str]:
        """Send one update (Memory and MemorySwap together); Docker's warnings, or raise."""
        monitor = self._ctx.monitors[check.host]
        client = monitor.client
        if client is None:
            raise UpdateFailure(f"host {check.host} is not connected", unreachable=True)
        try:
            reply = await monitor.call(
                client.update_container, check.id, mem_limit=memory, memswap_limit=swap
            )
        except Exception as exc:
            raise describe_update_error(exc) from exc
        warnings = reply.get("Warnings") if isinstance(reply, dict) else None
        return [str(w)[:300] for w in warnings] if isinstance(warnings, list) else []

    async def _timed_update(
        self, check: ContainerCheck, memory: int, swap: int
    ) -> tuple[list[str], float]:
        t = time.perf_counter()
        warnings = await self._update(check, memory, swap)
        return warnings, time.perf_counter() - t

    async def _run_batch(
        self, batch_id: str, who: str, plan: MemoryPlan, started: float, t0: float
    ) -> ApplyResult:
        to_send = [c for c in plan.checks if c.changes]
        results = await asyncio.gather(
            *(self._timed_update(c, c.new_limit, c.new_swap) for c in to_send),
            return_exceptions=True,
        )
        done: dict[str, tuple[list[str], float]] = {}
        failed: dict[str, UpdateFailure] = {}
        for check, res in zip(to_send, results, strict=True):
            if isinstance(res, BaseException):
                failed[check.key] = (
                    res if isinstance(res, UpdateFailure) else describe_update_error(res)
                )
            else:
                done[check.key] = res
        rollback_errors: dict[str, str] = {}
        if failed and done:
            back = [c for c in to_send if c.key in done]
            undo = await asyncio.gather(
                *(self._update(c, c.old_limit, c.old_swap) for c in back),
                return_exceptions=True,
            )
            for check, answer in zip(back, undo, strict=True):
                if isinstance(answer, BaseException):
                    failure = (
                        answer
                        if isinstance(answer, UpdateFailure)
                        else describe_update_error(answer)
                    )
                    rollback_errors[check.key] = failure.reason
        outcomes: list[ContainerOutcome] = []
        for check in plan.checks:
            if check.key in failed:
                outcome = ContainerOutcome(
                    check=check, outcome=Outcome.FAILED, error=failed[check.key].reason
                )
            elif check.key in done:
                warnings, seconds = done[check.key]
                if not failed:
                    kind = Outcome.APPLIED
                elif check.key in rollback_errors:
                    kind = Outcome.ROLLBACK_FAILED
                else:
                    kind = Outcome.ROLLED_BACK
                outcome = ContainerOutcome(
                    check=check,
                    outcome=kind,
                    warnings=warnings,
                    seconds=seconds,
                    rollback_error=rollback_errors.get(check.key),
                )
            else:
                outcome = ContainerOutcome(check=check, outcome=Outcome.UNCHANGED)
            outcomes.append(outcome)
        if not failed:
            state = BatchState.APPLIED
        elif rollback_errors:
            state = BatchState.PARTIAL
        else:
            state = BatchState.ROLLED_BACK
        return ApplyResult(
            batch_id=batch_id,
            who=who,
            state=state,
            plan=plan,
            outcomes=outcomes,
            started_at=started,
            seconds=time.perf_counter() - t0,
            docker_unreachable=any(f.unreachable for f in failed.values()),
        )


def _check_who(who: str) -> str:
    if not isinstance(who, str) or not _WHO_RE.fullmatch(who):
        raise ValueError(
            f"who must be 1-40 letters, digits or '_.:@-' (like 'tui', 'api', 'cli'), got {who!r}"
        )
    return who
