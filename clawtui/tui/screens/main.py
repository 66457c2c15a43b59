"""The main screen: six panels in tabs over the activity log, and the routing of engine events.

The app owns the engine's lifecycle and the subscription; this screen owns what is drawn. It
turns each engine event into the smallest change of the widgets that show it: a host header,
one table row, a few cells, one log line. Panel keys (1-6 by default) live here, each with a
binding id from `PANELS` so `[keymap]` can move them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import Footer, Header, TabbedContent, TabPane, Tabs

from clawtui.engine.models import (
    ActivityEntry,
    ContainerInfo,
    ContainerStats,
    Event,
    EventKind,
    HostInfo,
)
from clawtui.tui.widgets.activity_log import ActivityLog
from clawtui.tui.widgets.container_table import ContainerTable
from clawtui.tui.widgets.panels import (
    PANEL_IDS,
    PANELS,
    DevboxesPanel,
    FleetPanel,
    placeholder_panel,
)

M = TypeVar("M", bound=BaseModel)

_PANELS_GROUP = Binding.Group("Panels", compact=True)


def _model(cls: type[M], value: Any) -> M:
    """Events from a local engine carry models; a remote one may hand over plain dicts."""
    return value if isinstance(value, cls) else cls.model_validate(value)


class MainScreen(Screen[None]):
    """Fleet, Threads, Heartbeats, Dev containers, Pools, Escalations; activity at the bottom."""

    BINDINGS: ClassVar[list[BindingType]] = [
        *(
            Binding(
                p.key,
                f"show_panel('{p.id}')",
                p.title,
                id=p.binding_id,
                group=_PANELS_GROUP,
                tooltip=p.description,
            )
            for p in PANELS
        ),
        Binding(
            "a", "toggle_activity", "Activity", id="app.activity", tooltip="Show or hide the log"
        ),
    ]

    def __init__(self, clock: Callable[[], float]) -> None:
        super().__init__(id="main")
        self._clock = clock

    def compose(self) -> ComposeResult:
        yield Header(icon="≡")
        with TabbedContent(initial="fleet", id="panels"):
            for spec in PANELS:
                with TabPane(spec.title, id=spec.id):
                    if spec.id == "fleet":
                        yield FleetPanel(self._clock)
                    elif spec.id == "devboxes":
                        yield DevboxesPanel(self._clock)
                    else:
                        yield placeholder_panel(spec.id)
        yield ActivityLog(id="activity")
        yield Footer(show_command_palette=False)

    def on_mount(self) -> None:
        self.query_one("#fleet-table", ContainerTable).focus()

    # -- panels --------------------------------------------------------------------------------
    @property
    def active_panel(self) -> str:
        return self.query_one(TabbedContent).active

    def action_show_panel(self, panel_id: str) -> None:
        """Bring a panel to the front and put the keyboard in it."""
        if panel_id not in PANEL_IDS:
            return
        tabs = self.query_one(TabbedContent)
        tabs.active = panel_id
        self._focus_panel(panel_id)

    def _focus_panel(self, panel_id: str) -> None:
        tables = self.query_one(f"TabPane#{panel_id}").query(ContainerTable)
        if tables:
            tables.first().focus()
        else:
            self.query_one(TabbedContent).query_one(Tabs).focus()

    def action_toggle_activity(self) -> None:
        log = self.query_one(ActivityLog)
        log.display = not log.display

    # -- engine data ---------------------------------------------------------------------------
    @property
    def tables(self) -> list[ContainerTable]:
        return list(self.query(ContainerTable))

    def load(self, hosts: Iterable[HostInfo], containers: Iterable[ContainerInfo]) -> None:
        """Show a full snapshot (start, RESYNC, refresh)."""
        containers = list(containers)
        self.query_one(FleetPanel).load(hosts, containers)
        self.query_one(DevboxesPanel).table.load(containers)

    def load_activity(self, entries: Iterable[ActivityEntry]) -> None:
        self.query_one(ActivityLog).load(entries)

    def apply_event(self, event: Event) -> None:
        """One HOST, CONTAINER, CONTAINER_REMOVED or LOG event (STATS: `apply_stats`)."""
        data = event.data
        if event.kind is EventKind.HOST:
            self.query_one(FleetPanel).update_host(_model(HostInfo, data["info"]))
        elif event.kind is EventKind.CONTAINER:
            info = _model(ContainerInfo, data["container"])
            for table in self.tables:
                table.upsert(info)
        elif event.kind is EventKind.CONTAINER_REMOVED:
            key = f"{event.host or data.get('host', '')}/{data['id']}"
            for table in self.tables:
                table.remove_container(key)
        elif event.kind is EventKind.STATS:
            self.apply_stats(event.host or "", data.get("stats", {}))
        elif event.kind is EventKind.LOG:
            self.query_one(ActivityLog).add_event_data(data, event.host, event.ts)

    def apply_stats(self, host: str, stats: Mapping[str, Any]) -> int:
        """One host's latest stats tick; returns how many cells changed."""
        samples = {cid: _model(ContainerStats, s) for cid, s in stats.items()}
        return sum(table.apply_stats(host, samples) for table in self.tables)

    def tick(self) -> None:
        """Once a second: uptimes."""
        for table in self.tables:
            table.tick()

    def set_palette(self, palette: Mapping[str, str]) -> None:
        for table in self.tables:
            table.set_palette(palette)
