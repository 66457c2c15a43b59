"""The main screen: the panels in tabs over the activity log, and the routing of engine events.

The app owns the engine's lifecycle and the subscription; this screen owns what is drawn. It
turns each engine event into an `EngineEvent` message for every widget that subscribes to the
event's kind (`ENGINE_EVENTS`, handled in `on_engine_event`); each makes the smallest change
that shows it: a host header, one table row, a few cells, one card, one log line. Panel keys
(1-7 by default) live here, each with a binding id from `PANELS` so `[keymap]` can move them.
Container actions asked for by the Fleet table or the Dev containers panel are carried out by
this screen's `ContainerActionRunner`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import DataTable, Footer, Header, TabbedContent, TabPane, Tabs

from clawtui.engine.api.models import (
    ActivityEntry,
    ContainerInfo,
    ContainerStats,
    Event,
    EventKind,
    HostInfo,
)
from clawtui.engine.api.protocols import EngineAPI
from clawtui.tui.container_actions import ContainerActionRequested, ContainerActionRunner
from clawtui.tui.messages import as_model, post_engine_event
from clawtui.tui.widgets.activity_log import ActivityLog
from clawtui.tui.widgets.container_table import ContainerTable
from clawtui.tui.widgets.devbox_panel import DevboxesPanel
from clawtui.tui.widgets.escalations_panel import EscalationsPanel
from clawtui.tui.widgets.heartbeats_panel import HeartbeatsPanel
from clawtui.tui.widgets.ingress_panel import IngressPanel
from clawtui.tui.widgets.panels import PANEL_IDS, PANELS, FleetPanel, placeholder_panel
from clawtui.tui.widgets.pools_panel import PoolsPanel
from clawtui.tui.widgets.threads_panel import ThreadsPanel

if TYPE_CHECKING:
    from clawtui.config import Settings

_PANELS_GROUP = Binding.Group("Panels", compact=True)


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

    def __init__(self, clock: Callable[[], float], engine: EngineAPI, settings: Settings) -> None:
        super().__init__(id="main")
        self._clock = clock
        self.engine = engine
        self.settings = settings
        self.actions = ContainerActionRunner(self, engine)

    def compose(self) -> ComposeResult:
        yield Header(icon="≡")
        with TabbedContent(initial="fleet", id="panels"):
            for spec in PANELS:
                with TabPane(spec.title, id=spec.id):
                    yield self._panel_widget(spec.id)
        yield ActivityLog(id="activity")
        yield Footer(show_command_palette=False)

    def _panel_widget(self, panel_id: str) -> Widget:
        """The widget of one panel. Each capability adds its panel here (one line each)."""
        factories: dict[str, Callable[[], Widget]] = {
            "fleet": lambda: FleetPanel(self._clock),
            "devboxes": lambda: DevboxesPanel(self._clock, self.engine, self.settings),
            "threads": lambda: ThreadsPanel(self._clock, self.engine),
            "heartbeats": lambda: HeartbeatsPanel(self._clock, self.engine, self.settings),
            "escalations": lambda: EscalationsPanel(self._clock, self.engine),
            "ingress": lambda: IngressPanel(self.engine),
            "pools": lambda: PoolsPanel(self._clock, self.engine, self.settings),
        }
        factory = factories.get(panel_id)
        return factory() if factory is not None else placeholder_panel(panel_id)

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
        pane = self.query_one(f"TabPane#{panel_id}")
        tables = pane.query(ContainerTable)
        if tables:
            tables.first().focus()
        elif panel_id == "devboxes":
            self.devboxes.focus_first()
        elif panel_id in ("threads", "heartbeats", "escalations") and pane.query(DataTable):
            pane.query(DataTable).first().focus()
        elif panel_id == "ingress":
            self.query_one("#ingress-routes").focus()
        elif panel_id == "pools" and pane.query(PoolsPanel):
            pane.query_one(PoolsPanel).focus()
        else:
            self.query_one(TabbedContent).query_one(Tabs).focus()

    def action_toggle_activity(self) -> None:
        log = self.query_one(ActivityLog)
        log.display = not log.display

    # -- container actions ---------------------------------------------------------------------
    def on_container_action_requested(self, message: ContainerActionRequested) -> None:
        message.stop()
        self.actions.handle(message.verb, message.containers)

    def container_command(self, verb: str) -> None:
        """A container action from the palette: on the Fleet table or the Dev containers panel,
        whichever is in front."""
        panel = self.active_panel
        if panel == "fleet":
            self.query_one("#fleet-table", ContainerTable).action_container(verb)
        elif panel == "devboxes":
            self.devboxes.action_container(verb)
        else:
            self.notify("Go to Fleet or Dev containers first.", title="Containers")

    # -- engine data ---------------------------------------------------------------------------
    @property
    def tables(self) -> list[ContainerTable]:
        return list(self.query(ContainerTable))

    @property
    def devboxes(self) -> DevboxesPanel:
        return self.query_one(DevboxesPanel)

    def load(self, hosts: Iterable[HostInfo], containers: Iterable[ContainerInfo]) -> None:
        """Show a full snapshot (start, RESYNC, refresh)."""
        hosts, containers = list(hosts), list(containers)
        self.query_one(FleetPanel).load(hosts, containers)
        self.devboxes.load(hosts, containers)
        self.query_one(ThreadsPanel).reload()
        self.query_one(HeartbeatsPanel).reload()
        self.query_one(IngressPanel).load_routes()
        for escalations in self.query(EscalationsPanel):  # `r`: lists and ages read again
            escalations.action_reload()

    def load_activity(self, entries: Iterable[ActivityEntry]) -> None:
        self.query_one(ActivityLog).load(entries)

    def apply_event(self, event: Event) -> None:
        """Hand one engine event to the widgets that subscribe to its kind, as an `EngineEvent`
        message each (`tui/messages.py`). STATS come here only when not throttled by the app:
        they take the direct path of `apply_stats`."""
        if event.kind is EventKind.STATS:
            self.apply_stats(event.host or "", event.data.get("stats", {}))
        else:
            post_engine_event(self, event)

    def apply_stats(self, host: str, stats: Mapping[str, Any]) -> int:
        """One host's latest stats tick; returns how many table cells changed."""
        samples = {cid: as_model(ContainerStats, s) for cid, s in stats.items()}
        for devboxes in self.query(DevboxesPanel):  # none while the screen is torn down
            devboxes.apply_stats(host, samples)
        return sum(table.apply_stats(host, samples) for table in self.tables)

    def tick(self) -> None:
        """Once a second: uptimes."""
        for table in self.tables:
            table.tick()

    def set_palette(self, palette: Mapping[str, str]) -> None:
        for table in self.tables:
            table.set_palette(palette)
