"""One line (two when it is in trouble) per Docker host above the Fleet table.

It answers the first questions an admin has about a host: is it reachable (and if not, why,
in the engine's own words), which Docker it runs, and how much memory is left to give
containers. Memory is the budget of seed 000's validation rules: total RAM minus the OS
reserve, of which `allocated` (the sum of container limits) is spoken for; its color says how
much of that budget is still available. Colors come from the theme through CSS classes.
"""

from __future__ import annotations

from collections.abc import Iterable

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.css.query import NoMatches
from textual.widgets import Label

from clawtui.engine.models import HostInfo, HostState
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


def memory_text(info: HostInfo) -> str:
    """The memory budget line: RAM, allocated, available, reserve (and unlimited containers)."""
    mem = info.memory
    if mem.total <= 0:
        return "memory: not reported yet"
    text = (
        f"RAM {format_bytes(mem.total)} · alloc {format_bytes(mem.allocated)} · "
        f"avail {format_bytes(mem.available)} · reserve {format_bytes(mem.reserve)}"
    )
    if mem.unlimited:
        text += f" · {mem.unlimited} unlimited"
    return text


class HostHeader(Vertical):
    """The state, Docker version and memory budget of one host."""

    def __init__(self, info: HostInfo) -> None:
        super().__init__(classes="host-header")
        self.info = info

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
        memory.update(Text(memory_text(info)))
        error.update(Text(info.error or ""))
        error.display = bool(info.error)
        for state in HostState:
            self.set_class(info.state is state, f"-{state.value}")
        level = budget_level(info.memory)
        for each in BudgetLevel:
            self.set_class(level is each, f"-mem-{each.value}")


class HostHeaders(Vertical):
    """One HostHeader per configured host, in engine order."""

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
        self.mount(HostHeader(info))
