"""In-memory `actions`, `devboxes`, `memory` and `tmux` for the FakeEngine.

They record what the TUI asked for and answer like the engine does, with knobs a test turns:
an error to raise, an `asyncio.Event` to wait for (to hold a call "in flight"), log lines to
stream. `FakeMemory` validates with the engine's own pure rules (`memory_rules`), so verdicts,
warnings and budgets are the real ones; applying changes the fake containers' limits and
publishes CONTAINER and MEMORY events as the real engine (and Docker) would.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import TYPE_CHECKING

from clawtui.engine.api.devboxes import DevboxInfo
from clawtui.engine.api.memory import (
    ApplyResult,
    BatchState,
    ContainerOutcome,
    MemoryChange,
    MemoryPlan,
    Outcome,
)
from clawtui.engine.api.models import MIB, EventKind
from clawtui.engine.api.tmux import BroadcastOutcome, TmuxListing, TmuxSession, TmuxWindow
from clawtui.engine.memory.host_batches import merge
from clawtui.engine.memory.rules import Budget, Current, Rules, build_plan, check_change
from clawtui.tui.memory_text import rows_from_result

if TYPE_CHECKING:
    from tests.tui.fakes import FakeEngine


class FakeActionError(Exception):
    """What the engine's ActionError is to the TUI: a message for a person."""


class FakeActions:
    """Container actions that record calls; `fail[(verb, key)]` makes one raise."""

    def __init__(self, engine: FakeEngine) -> None:
        self.engine = engine
        self.calls: list[tuple[str, str]] = []
        self.fail: dict[tuple[str, str], str] = {}
        self.log_lines: dict[str, list[str]] = {}
        self.live: dict[str, asyncio.Queue[str | None]] = {}
        self.follows = 0

    async def _do(self, verb: str, key: str) -> None:
        await asyncio.sleep(0)
        self.calls.append((verb, key))
        if (verb, key) in self.fail:
            raise FakeActionError(self.fail[(verb, key)])

    async def start(self, key: str) -> None:
        await self._do("start", key)

    async def stop(self, key: str, *, timeout: int = 10) -> None:
        await self._do("stop", key)

    async def restart(self, key: str, *, timeout: int = 10) -> None:
        await self._do("restart", key)

    async def remove(self, key: str, *, force: bool = False, volumes: bool = False) -> None:
        await self._do("remove", key)

    def push_log(self, key: str, line: str | None) -> None:
        """A new line on a followed log (None ends the stream)."""
        self.live.setdefault(key, asyncio.Queue()).put_nowait(line)

    async def logs(
        self, key: str, *, tail: int | None = 100, follow: bool = False
    ) -> AsyncIterator[str]:
        if ("logs", key) in self.fail:
            raise FakeActionError(self.fail[("logs", key)])
        lines = self.log_lines.get(key, [])
        for line in lines if tail is None else lines[-tail:]:
            yield line
        if not follow:
            return
        self.follows += 1
        queue = self.live.setdefault(key, asyncio.Queue())
        while (pushed := await queue.get()) is not None:
            yield pushed


class FakeDevboxes:
    """Dev box creation that reports progress and adds a container to the fake engine."""

    PROGRESS = (
        "building image clawtui/dev-container:1",
        "Step 1/2 : FROM clawtui-test/debian-base:bookworm",
        "Step 2/2 : RUN useradd dev",
        "waiting for sshd on 127.0.0.1:2201",
    )

    def __init__(self, engine: FakeEngine) -> None:
        self.engine = engine
        self.created: list[dict[str, object]] = []
        self.removed: list[tuple[str, bool, str | None]] = []
        self.gate: asyncio.Event | None = None
        self.error: Exception | None = None

    async def create(
        self,
        name: str,
        pubkey_text: str,
        *,
        memory: int | str | None = None,
        cpus: float | None = None,
        port: int | None = None,
        host: str | None = None,
        sudo: bool = False,
        progress: Callable[[str], None] | None = None,
    ) -> DevboxInfo:
        from tests.tui.fakes import container

        self.created.append({"name": name, "key": pubkey_text, "memory": memory, "cpus": cpus,
                             "port": port, "sudo": sudo})  # fmt: skip
        for line in self.PROGRESS:
            if progress is not None:
                progress(line)
            await asyncio.sleep(0)
        if self.gate is not None:
            await self.gate.wait()
        if self.error is not None:
            raise self.error
        limit = int(memory) if isinstance(memory, int) else 2048 * MIB
        info = container(uuid.uuid4().hex[:6], f"dev-{name}", memory_limit=limit,
                         labels={"clawtui.role": "devbox", "clawtui.owner": name})  # fmt: skip
        self.engine.put_container(info)
        return DevboxInfo(name=name, host=info.host, key=info.key, container=info.name,
                          state="running", port=port or 2201, memory_limit=limit)  # fmt: skip

    async def remove(self, name: str, *, keep_home: bool = False, host: str | None = None) -> str:
        self.removed.append((name, keep_home, host))
        return f"removed dev box {name}"

    def ssh_command(self, box: DevboxInfo) -> str:
        return f"ssh -p {box.port} dev@127.0.0.1"


class FakeMemory:
    """plan / apply / history over the fake engine's containers, with the engine's rules."""

    def __init__(self, engine: FakeEngine) -> None:
        self.engine = engine
        self.rules = Rules()
        self.cgroup_version = "2"
        self.gate: asyncio.Event | None = None
        """When set, apply waits for it (a batch "in flight")."""
        self.fail: Exception | None = None
        """When set, apply raises it (after the gate)."""
        self.docker_error: str | None = None
        """When set, the first update of a batch fails with it and the rest is rolled back."""
        self.plans: list[tuple[dict[str, int], bool]] = []
        self.applied: list[tuple[dict[str, int], bool]] = []
        self.rows: list[MemoryChange] = []

    def _plan(self, changes: Mapping[str, int], who: str, confirm: bool) -> MemoryPlan:
        checks = []
        allocated: dict[str, int] = {}
        for key, limit in changes.items():
            c = self.engine.container(key)
            assert c is not None, key
            usage = c.stats.mem_used if c.stats is not None and c.running else None
            cur = Current(key=c.key, host=c.host, id=c.id, name=c.name, state=c.state,
                          memory=c.memory_limit, swap=c.memory_swap, labels=c.labels,
                          usage=usage, usage_source="cgroup")  # fmt: skip
            checks.append(check_change(key, cur, int(limit), self.rules,
                                       cgroup_version=self.cgroup_version,
                                       confirm_below_usage=confirm))  # fmt: skip
            allocated.setdefault(c.host, 0)
        budgets = []
        for name in allocated:
            info = next(h for h in self.engine.hosts() if h.name == name)
            budgets.append(Budget(host=name, total=info.memory.total, reserve=info.memory.reserve,
                                  allocated=info.memory.allocated))  # fmt: skip
        return build_plan(who, checks, budgets, confirm_below_usage=confirm)

    async def plan(
        self, changes: Mapping[str, int], *, who: str, confirm_below_usage: bool = False
    ) -> MemoryPlan:
        self.plans.append((dict(changes), confirm_below_usage))
        await asyncio.sleep(0)
        return self._plan(changes, who, confirm_below_usage)

    async def apply(
        self, changes: Mapping[str, int], *, who: str, confirm_below_usage: bool = False
    ) -> ApplyResult:
        self.applied.append((dict(changes), confirm_below_usage))
        if self.gate is not None:
            await self.gate.wait()
        if self.fail is not None:
            raise self.fail
        started = time.time()
        by_host: dict[str, dict[str, int]] = {}
        for key, limit in changes.items():  # one all-or-nothing batch per host, as the engine
            by_host.setdefault(key.partition("/")[0], {})[key] = limit
        parts = [(host, len(part), self._apply_host(part, who, confirm_below_usage, started))
                 for host, part in by_host.items()]  # fmt: skip
        result = merge(batch_id=uuid.uuid4().hex[:12], who=who, started=started, seconds=0.01,
                       parts=parts, confirm_below_usage=confirm_below_usage)  # fmt: skip
        state = result.state
        if state is not BatchState.REFUSED:
            self.rows[:0] = rows_from_result(result)
            self.engine.bus.publish(EventKind.MEMORY, host=None, result=result)
        return result

    def _apply_host(
        self, changes: Mapping[str, int], who: str, confirm_below_usage: bool, started: float
    ) -> ApplyResult:
        """One host's part: refused, rolled back (`docker_error`) or applied, on its own."""
        plan = self._plan(changes, who, confirm_below_usage)
        if not plan.ok:
            outcomes = [ContainerOutcome(check=c, outcome=Outcome.NOT_APPLIED) for c in plan.checks]
            state = BatchState.REFUSED
        elif self.docker_error is not None:
            outcomes = [
                ContainerOutcome(check=c, outcome=Outcome.FAILED, error=self.docker_error)
                if n == 0 else ContainerOutcome(check=c, outcome=Outcome.ROLLED_BACK)
                for n, c in enumerate(plan.checks)
            ]  # fmt: skip
            state = BatchState.ROLLED_BACK
        else:
            outcomes = [ContainerOutcome(check=c, outcome=Outcome.APPLIED) for c in plan.checks]
            state = BatchState.APPLIED
            for c in plan.checks:
                info = self.engine.container(c.key)
                assert info is not None
                self.engine.put_container(
                    info.model_copy(update={"memory_limit": c.new_limit, "memory_swap": c.new_swap})
                )
            for budget in plan.budgets:  # the host's budget follows, as the engine's does
                host = next(h for h in self.engine.hosts() if h.name == budget.host)
                delta = budget.allocated_after - budget.allocated_before
                memory = host.memory.model_copy(update={
                    "allocated": host.memory.allocated + delta,
                    "available": host.memory.available - delta,
                })  # fmt: skip
                self.engine.put_host(host.model_copy(update={"memory": memory}))
        return ApplyResult(batch_id="part", who=who, state=state, plan=plan,
                           outcomes=outcomes, started_at=started, seconds=0.01)  # fmt: skip

    async def history(self, limit: int = 100) -> list[MemoryChange]:
        await asyncio.sleep(0)
        return self.rows[:limit]


class FakeTmux:
    """`TmuxAPI` in memory: `listings` per container name, every run / broadcast recorded.

    `fail[name]` makes calls about that container raise (or, in a broadcast, fail for it alone);
    run and broadcast publish TMUX events as the engine does, and a run adds its window to the
    container's listing so a refresh shows it.
    """

    def __init__(self, engine: FakeEngine) -> None:
        self.engine = engine
        self.listings: dict[str, TmuxListing] = {}
        self.fail: dict[str, str] = {}
        self.calls: list[tuple[str, ...]] = []
        self.runs: list[tuple[str, list[str], str, str | None, str | None]] = []
        self.broadcasts: list[tuple[list[str], str, str]] = []

    def _check(self, container: str) -> None:
        if container in self.fail:
            raise FakeActionError(self.fail[container])

    async def sessions(self, container: str) -> TmuxListing:
        await asyncio.sleep(0)
        self.calls.append(("sessions", container))
        self._check(container)
        return self.listings.get(container, TmuxListing(container, [], []))

    async def run(
        self,
        container: str,
        command: Sequence[str],
        *,
        session: str | None = None,
        window: str | None = None,
        cwd: str | None = None,
    ) -> str:
        await asyncio.sleep(0)
        self._check(container)
        name = session or "main"
        self.runs.append((container, list(command), name, window, cwd))
        old = self.listings.get(container, TmuxListing(container, [], []))
        sessions = [s for s in old.sessions if s.name != name]
        mine = [w for w in old.windows if w.session == name]
        sessions.append(TmuxSession(name, len(mine) + 1, 0, 0.0))
        new_window = TmuxWindow(name, len(mine), window or command[0], False, command[0])
        self.listings[container] = TmuxListing(container, sessions, [*old.windows, new_window])
        self.engine.bus.publish(EventKind.TMUX, action="run", target=container, session=name,
                                window=window)  # fmt: skip
        return name

    async def send(
        self,
        container: str,
        text: str,
        *,
        session: str | None = None,
        keys: bool = False,
        window: str | None = None,
    ) -> str:
        await asyncio.sleep(0)
        self._check(container)
        self.calls.append(("send", container, text))
        return session or "main"

    async def broadcast(
        self, containers: Sequence[str], text: str, *, session: str | None = None
    ) -> list[BroadcastOutcome]:
        await asyncio.sleep(0)
        name = session or "main"
        self.broadcasts.append((list(containers), text, name))
        out = [BroadcastOutcome(c, c not in self.fail, self.fail.get(c)) for c in containers]
        self.engine.bus.publish(EventKind.TMUX, action="broadcast", session=name,
                                targets=[o.container for o in out if o.ok],
                                ok=sum(o.ok for o in out))  # fmt: skip
        return out
