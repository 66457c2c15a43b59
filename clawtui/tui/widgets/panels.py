"""The panels of the main screen, and the one table that says which they are.

`PANELS` is the single list of panels: the main screen builds its tabs and key bindings from
it, the command palette its "Go to" entries, the help screen its descriptions. Fleet, Dev
containers, Threads, Heartbeats and Ingress show live engine data (their own modules); the
other panels belong to capabilities that are not built yet and show an honest empty state
naming what will appear and which config section feeds it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import Vertical

from clawtui.engine.api.models import ContainerInfo, EventKind, HostInfo
from clawtui.tui.messages import EngineEvent, as_model
from clawtui.tui.widgets.container_detail import ContainerDetail
from clawtui.tui.widgets.container_table import ContainerTable
from clawtui.tui.widgets.empty_state import EmptyState
from clawtui.tui.widgets.host_filter import FilterBar, FilteredPanel, RowFilter, filter_binding
from clawtui.tui.widgets.host_header import HostHeader, HostHeaders


@dataclass(frozen=True)
class PanelSpec:
    """One panel: pane id, tab title, default key and what it is for."""

    id: str
    title: str
    key: str
    description: str

    @property
    def binding_id(self) -> str:
        """The id users remap in `[keymap]` (e.g. `panel.fleet = "f1"`)."""
        return f"panel.{self.id}"


PANELS: tuple[PanelSpec, ...] = (
    PanelSpec("fleet", "Fleet", "1", "Hosts, memory budgets and every container"),
    PanelSpec("threads", "Threads", "2", "Agent threads and what they last reported"),
    PanelSpec("heartbeats", "Heartbeats", "3", "HEARTBEAT.md checks per thread"),
    PanelSpec(
        "devboxes",
        "Dev containers",
        "4",
        "Dev and pool containers: memory sliders, actions, new dev containers",
    ),
    PanelSpec("pools", "Pools", "5", "Warm container pools and their claims"),
    PanelSpec("escalations", "Escalations", "6", "What agents need a person for"),
    PanelSpec("ingress", "Ingress", "7", "CI webhook deliveries and the inter-agent relay"),
)
PANEL_IDS = tuple(p.id for p in PANELS)


@dataclass(frozen=True)
class Placeholder:
    title: str
    body: str
    hint: str


PLACEHOLDERS: dict[str, Placeholder] = {
    "threads": Placeholder(
        "No threads yet",
        "Each agent thread will be listed here: its agent and working directory, its last\n"
        "message, and when it last reported to the master thread's knowledge base.\n"
        "This panel arrives with the threads capability.",
        "Fed by the [threads] section of config.toml.",
    ),
    "heartbeats": Placeholder(
        "No heartbeats yet",
        "Each thread's HEARTBEAT.md will be tracked here: the last quick, hourly and daily\n"
        "check, the next one due, and runs skipped as stale or held back by the concurrency cap.\n"
        "This panel arrives with the heartbeats capability.",
        "Fed by the [heartbeats] section of config.toml (cadence, stagger, concurrency cap).",
    ),
    "pools": Placeholder(
        "No pools yet",
        "Warm container pools will be shown here: each pool's min / max / idle timeout, its\n"
        "free and claimed containers, the tenant of each claim and its state sync.\n"
        "This panel arrives with the pools capability.",
        "Fed by the [pools] section of config.toml (workload and pool specs).",
    ),
    "escalations": Placeholder(
        "No escalations",
        "When an agent is stuck it escalates here: what it was doing, what it tried, what it\n"
        "needs, and a proposed fix you can approve, skip or modify.\n"
        "This panel arrives with the escalations capability.",
        "Fed by the [escalations] section of config.toml and the notifier channels.",
    ),
}


class FleetPanel(FilteredPanel, Vertical):
    """Host headers over the table of every container, and the selected container's details.

    `/` filters by text (here), `H` cycles hosts (a key of the table); `host_filter.py`."""

    ENGINE_EVENTS: ClassVar[frozenset[EventKind]] = frozenset(
        {EventKind.HOST, EventKind.CONTAINER, EventKind.CONTAINER_REMOVED}
    )
    BINDINGS: ClassVar[list[BindingType]] = [filter_binding("fleet", "name, image or host")]

    def __init__(
        self,
        clock: Callable[[], float],
        initial: tuple[list[HostInfo], list[ContainerInfo]] | None = None,
    ) -> None:
        super().__init__(id="fleet-panel")
        self._clock = clock
        self.row_filter = RowFilter()
        self._initial = initial
        """Hosts and containers drawn in the first frame (see `MainScreen`)."""

    def compose(self) -> ComposeResult:
        hosts = self._initial[0] if self._initial is not None else []
        yield HostHeaders(*(HostHeader(info) for info in hosts), id="host-headers")
        yield FilterBar("filter: part of a name, image or host", prefix="fleet")
        yield ContainerTable(clock=self._clock, id="fleet-table", row_filter=self.row_filter)
        yield ContainerDetail(id="fleet-detail", classes="container-detail")

    def on_mount(self) -> None:
        if self._initial is not None:
            self.table.load(self._initial[1])
            self._initial = None

    @property
    def table(self) -> ContainerTable:
        return self.query_one("#fleet-table", ContainerTable)

    def load(self, hosts: Iterable[HostInfo], containers: Iterable[ContainerInfo]) -> None:
        self.query_one(HostHeaders).load(hosts)
        self.table.load(containers)

    def update_host(self, info: HostInfo) -> None:
        self.query_one(HostHeaders).update_host(info)

    def on_engine_event(self, message: EngineEvent) -> None:
        if message.kind is EventKind.HOST:
            self.update_host(as_model(HostInfo, message.data["info"]))
        elif message.kind is EventKind.CONTAINER:
            self.table.upsert(as_model(ContainerInfo, message.data["container"]))
        elif message.kind is EventKind.CONTAINER_REMOVED:
            self.table.remove_container(message.container_key)

    def on_container_table_selected(self, event: ContainerTable.Selected) -> None:
        self.query_one(ContainerDetail).show(event.container)

    # -- filters: `/` text (FilteredPanel), `H` cycles hosts (ContainerTable) ------------------
    def filter_hosts(self) -> list[str]:
        return self.table.known_hosts()

    def show_filtered(self) -> int:
        return self.table.apply_filter()

    def filter_done(self) -> None:
        self.table.focus()

    def on_container_table_filters_changed(self, event: ContainerTable.FiltersChanged) -> None:
        bar = self.filter_bar
        if bar is not None:
            bar.show_state(event.table.filter, len(event.table.infos))


def placeholder_panel(panel_id: str) -> EmptyState:
    """The empty state of a capability that is not built yet."""
    spec = PLACEHOLDERS[panel_id]
    return EmptyState(spec.title, spec.body, hint=spec.hint, id=f"{panel_id}-empty")
