"""One line (two when it is in trouble) per Docker host above the Fleet table.

It answers the first questions an admin has about a host: is it reachable (and if not, why,
in the engine's own words), which Docker it runs, and how much memory is left to give
containers. Memory is the budget of seed 000's validation rules: total RAM minus the OS
reserve, of which `allocated` (the sum of container limits) is spoken for; its color says how
much of that budget is still available. Colors come from the theme through CSS classes.

The Dev containers panel shows the same headers, one per host with its own budget (RAM minus
that host's `memory_reserve`) named, with the limits its sliders would set counted in
(`pending`): allocated and available then say what the host would look like after Apply. Each
slider stops at its own host's free budget.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.css.query import NoMatches
from textual.widgets import Label

from clawtui.engine.api.models import HostInfo, HostMemory, HostState
from clawtui.tui.format import BudgetLevel, budget_level, format_bytes

_STATE_MARK = {HostState.ONLINE: "●", HostState.CONNECTING: "◌", HostState.OFFLINE: "✖"}


def docker_text(info: HostInfo) -> str:
    """Container counts, CPUs and Docker version (cut first when space is short)."""
    parts = []
    if info.state is HostState.ONLINE or info.containers:
        parts.append(f"{info.running}/{info.containers} running")
    if info.ncpu:
        parts.append(f"{info.ncpu} CPUs")
    if info.docker_version:
        parts.append(f"Docker {info.docker_version}")
    return " · ".join(parts)


def error_text(info: HostInfo) -> str:
    """Why the host is offline, after the local time it went away (when the engine knows it)."""
    if not info.error:
        return ""
    if info.offline_since is None:
        return info.error
    since = time.strftime("%H:%M:%S", time.localtime(info.offline_since))
    return f"offline since {since}: {info.error}"


def with_pending(memory: HostMemory, pending: int) -> HostMemory:
    """The budget as it would be once limits change by `pending` bytes in all."""
    if not pending:
        return memory
    return memory.model_copy(
        update={"allocated": memory.allocated + pending, "available": memory.available - pending}
    )


def memory_text(info: HostInfo, pending: int = 0, *, budget: bool = False) -> str:
    """The memory budget line: RAM, with `budget` the budget (RAM - reserve), allocated,
    available (what is free of the budget), reserve (and unlimited containers);
    `pending` bytes of limit changes not applied yet are counted in, and named."""
    mem = with_pending(info.memory, pending)
    if mem.total <= 0:
        return "memory: not reported yet"
    alloc = format_bytes(mem.allocated)
    if pending:
        alloc += f" ({'+' if pending > 0 else '-'}{format_bytes(abs(pending))} pending)"
    shown_budget = f"budget {format_bytes(mem.total - mem.reserve)} · " if budget else ""
    text = (
        f"RAM {format_bytes(mem.total)} · {shown_budget}alloc {alloc} · "
        f"avail {format_bytes(mem.available)} · reserve {format_bytes(mem.reserve)}"
    )
    if mem.unlimited:
        text += f" · {mem.unlimited} unlimited"
    return text


class HostHeader(Vertical):
    """The state, Docker version and memory budget of one host."""

    def __init__(self, info: HostInfo, *, budget: bool = False) -> None:
        super().__init__(classes="host-header")
        self.info = info
        self.budget = budget
        """Name the budget (RAM - reserve) too: the memory sliders' headers do."""
        self.pending = 0
        """Bytes of limit changes not applied yet, counted into allocated and available."""

    def compose(self) -> ComposeResult:
        with Horizontal(classes="host-line"):
            yield Label(classes="host-name")
            yield Label(classes="host-state")
            yield Label(classes="host-docker")
            yield Label(classes="host-memory")
        yield Label(classes="host-error")

    def on_mount(self) -> None:
        self.show(self.info, force=True)

    def show(self, info: HostInfo, *, force: bool = False) -> None:
        """Redraw from a new HostInfo (only the labels whose content changed)."""
        old, self.info = self.info, info
        if not force and old == info:
            return
        try:
            name, state, docker, memory, error = (
                self.query_one(f".host-{part}", Label)
                for part in ("name", "state", "docker", "memory", "error")
            )
        except NoMatches:  # not composed yet: on_mount draws self.info
            return
        mark = _STATE_MARK.get(info.state, "?")
        name.update(Text(f"{mark} {info.name}"))
        state.update(Text(info.state.value))
        docker.update(Text(docker_text(info)))
        error.update(Text(error_text(info)))
        error.display = bool(info.error)
        for each in HostState:
            self.set_class(info.state is each, f"-{each.value}")
        self._show_memory(memory)

    def set_pending(self, pending: int) -> None:
        """Count `pending` bytes of not-yet-applied limit changes in (0: none)."""
        if pending == self.pending:
            return
        self.pending = pending
        try:
            memory = self.query_one(".host-memory", Label)
        except NoMatches:
            return
        self._show_memory(memory)

    def _show_memory(self, label: Label) -> None:
        label.update(Text(memory_text(self.info, self.pending, budget=self.budget)))
        level = budget_level(with_pending(self.info.memory, self.pending))
        for each in BudgetLevel:
            self.set_class(level is each, f"-mem-{each.value}")
        self.set_class(bool(self.pending), "-pending")


class HostHeaders(Vertical):
    """One HostHeader per configured host, in engine order (`budget`: each names its budget,
    as over the memory sliders, where every host's own budget bounds its sliders)."""

    def __init__(self, *headers: HostHeader, budget: bool = False, id: str | None = None) -> None:
        super().__init__(*headers, id=id)  # headers: drawn in the first frame (first snapshot)
        self.budget = budget

    def load(self, hosts: Iterable[HostInfo]) -> None:
        """Replace every header (first snapshot or RESYNC)."""
        hosts = list(hosts)
        names = {info.name for info in hosts}
        for header in self.query(HostHeader):
            if header.info.name not in names:
                header.remove()
        for info in hosts:
            self.update_host(info)

    def update_host(self, info: HostInfo) -> None:
        """Apply one HOST event; a host we have not seen is appended."""
        for header in self.query(HostHeader):
            if header.info.name == info.name:
                header.show(info)
                return
        self.mount(HostHeader(info, budget=self.budget))

    def set_pending(self, host: str, pending: int) -> None:
        """Count not-yet-applied limit changes into one host's budget."""
        for header in self.query(HostHeader):
            if header.info.name == host:
                header.set_pending(pending)
