"""The main screen: the panels in tabs over the activity log, and the routing of engine events.

The app owns the engine's lifecycle and the subscription; this screen owns what is drawn. It
turns each engine event into an `EngineEvent` message for every widget that subscribes to the
event's kind (`ENGINE_EVENTS`, handled in `on_engine_event`); each makes the smallest change
that shows it: a host header, one table row, a few cells, one card, one log line. Panel keys
(1-7 by default) live here, each with a binding id from `PANELS` so `[keymap]` can move them.
Container actions asked for by the Fleet table or the Dev containers panel are carried out by
this screen's `ContainerActionRunner`.

Only the Fleet panel is composed before the first frame. The others (and their modules) come
later: all of them one after the other once the app calls `compose_pending_panels` after the
first frame, or one at once when it is brought to the front first (`show_panel`). A panel
composed late reads the engine's current state as any panel does when mounted (the Dev
containers panel is handed the current hosts and containers), and is handed the events of the
kinds in its `REPLAY_EVENTS` (what a snapshot does not hold, e.g. heartbeat log lines) that
arrived before it existed. `panels_ready` is set when every panel is composed.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from importlib import import_module
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
from clawtui.tui.container_actions import ContainerActionRequested, ContainerActionRunner
from clawtui.tui.messages import EngineEvent, as_model, post_engine_event
from clawtui.tui.widgets.activity_log import ActivityLog
from clawtui.tui.widgets.container_table import ContainerTable
from clawtui.tui.widgets.panels import PANEL_IDS, PANELS, FleetPanel, placeholder_panel

if TYPE_CHECKING:
    from clawtui.config import Settings
    from clawtui.engine.api.protocols import EngineAPI
    from clawtui.tui.widgets.devbox_panel import DevboxesPanel

_PANELS_GROUP = Binding.Group("Panels", compact=True)

FIRST_PANEL = "fleet"
"""The panel in front at start: the only one composed before the first frame."""

MISSED_EVENTS = 1000
"""At most this many events are kept for panels not composed yet (`REPLAY_EVENTS`)."""

# panel id -> (module, class) of its widget, imported when the panel is composed.
_PANEL_CLASSES: dict[str, tuple[str, str]] = {
    "devboxes": ("clawtui.tui.widgets.devbox_panel", "DevboxesPanel"),
    "threads": ("clawtui.tui.widgets.threads_panel", "ThreadsPanel"),
    "heartbeats": ("clawtui.tui.widgets.heartbeats_panel", "HeartbeatsPanel"),
    "escalations": ("clawtui.tui.widgets.escalations_panel", "EscalationsPanel"),
    "ingress": ("clawtui.tui.widgets.ingress_panel", "IngressPanel"),
    "pools": ("clawtui.tui.widgets.pools_panel", "PoolsPanel"),
}


def panel_class(panel_id: str) -> type[Widget]:
    """The widget class of a panel composed late (its module is imported here)."""
    module, name = _PANEL_CLASSES[panel_id]
    cls: type[Widget] = getattr(import_module(module), name)
    return cls


class KeysFooter(Footer):
    """Textual's footer, with its keys in the first frame.

    Textual's Footer composes no keys until the screen first publishes its bindings (a focus
    change after mounting), and then recomposes after the next refresh: the keys appeared some
    200 ms (headless) to 500 ms (in tmux) after the rest of the first frame. The bindings the
    screen and the app have are known when the footer is composed, so this one shows them at
    once; later binding changes recompose it as Textual's does. (`_bindings_ready` is Textual
    8.2's own flag for "the bindings are known"; Textual is pinned in pyproject.)
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.set_reactive(Footer._bindings_ready, True)


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

    def __init__(
        self,
        clock: Callable[[], float],
        engine: EngineAPI | Callable[[], EngineAPI],
        settings: Settings,
        *,
        initial: Callable[[], tuple[list[HostInfo], list[ContainerInfo]] | None] | None = None,
    ) -> None:
        super().__init__(id="main")
        self._initial = initial
        """Hosts and containers to show in the first frame, when there are (`compose`)."""
        self._clock = clock
        self._engine_of: Callable[[], EngineAPI] = engine if callable(engine) else lambda: engine
        self.settings = settings
        self._actions: ContainerActionRunner | None = None
        self._composed: dict[str, asyncio.Future[Widget]] = {}
        """Panels composed (or being composed): their widget once mounted."""
        self._missed: deque[Event] = deque(maxlen=MISSED_EVENTS)
        self.panels_ready = asyncio.Event()
        """Set when every panel is composed."""
        self._tables: tuple[int, list[ContainerTable]] | None = None

    @property
    def engine(self) -> EngineAPI:
        """The app's engine (an app given an engine factory builds it after the first frame;
        the panels that use the engine are composed after that)."""
        return self._engine_of()

    @property
    def actions(self) -> ContainerActionRunner:
        """Container actions over the engine."""
        if self._actions is None:
            self._actions = ContainerActionRunner(self, self.engine)
        return self._actions

    def compose(self) -> ComposeResult:
        yield Header(icon="≡")
        with TabbedContent(initial=FIRST_PANEL, id="panels"):
            for spec in PANELS:
                with TabPane(spec.title, id=spec.id):
                    if spec.id == FIRST_PANEL:
                        # The fleet read before the engine was built, if it is read by now.
                        initial = self._initial() if self._initial is not None else None
                        yield FleetPanel(self._clock, initial)
        yield ActivityLog(id="activity")
        yield KeysFooter(show_command_palette=False)

    def on_mount(self) -> None:
        done: asyncio.Future[Widget] = asyncio.get_running_loop().create_future()
        done.set_result(self.query_one(FleetPanel))
        self._composed[FIRST_PANEL] = done
        self.query_one("#fleet-table", ContainerTable).focus()

    # -- panels composed late ------------------------------------------------------------------
    def is_composed(self, panel_id: str) -> bool:
        """Whether the panel's widget is mounted."""
        done = self._composed.get(panel_id)
        return done is not None and done.done() and not done.cancelled()

    @property
    def pending_panels(self) -> list[str]:
        """The panels not composed (nor being composed) yet, in tab order."""
        return [p for p in PANEL_IDS if p not in self._composed]

    def _panel_widget(self, panel_id: str) -> Widget:
        """The widget of one panel. Each capability adds its panel here (one line each)."""
        if panel_id not in _PANEL_CLASSES:
            return placeholder_panel(panel_id)
        cls: Any = panel_class(panel_id)
        args: dict[str, tuple[Any, ...]] = {
            "devboxes": (self._clock, self.engine, self.settings),
            "threads": (self._clock, self.engine),
            "heartbeats": (self._clock, self.engine, self.settings),
            "escalations": (self._clock, self.engine),
            "ingress": (self.engine,),
            "pools": (self._clock, self.engine, self.settings),
        }
        widget: Widget = cls(*args[panel_id])
        return widget

    async def compose_panel(self, panel_id: str) -> Widget:
        """Compose one panel now if it is not yet (or wait for it if it is being composed);
        returns its widget, mounted."""
        done = self._composed.get(panel_id)
        if done is None:
            done = asyncio.get_running_loop().create_future()
            self._composed[panel_id] = done
            try:
                widget = await self._mount_panel(panel_id)
            except BaseException as exc:
                done.set_exception(exc)
                done.exception()  # retrieved: raised below, not logged as "never retrieved"
                raise
            done.set_result(widget)
            if not self.pending_panels:
                self._missed.clear()
                self.panels_ready.set()
            return widget
        return await asyncio.shield(done)

    async def _mount_panel(self, panel_id: str) -> Widget:
        engine_ready = getattr(self.app, "engine_ready", None)
        if isinstance(engine_ready, asyncio.Event):
            await engine_ready.wait()
        load_css = getattr(self.app, "load_late_css", None)  # the panels' stylesheets
        if callable(load_css):
            load_css()
        widget = self._panel_widget(panel_id)
        replay: frozenset[EventKind] = getattr(widget, "REPLAY_EVENTS", frozenset())
        missed = [e for e in self._missed if e.kind in replay]
        pane = self.query_one(f"TabPane#{panel_id}", TabPane)
        mounted = pane.mount(widget)
        # From here on the widget is in the screen: events reach it as they come, queued after
        # the ones it missed.
        for event in missed:
            widget.post_message(EngineEvent(event))
        await mounted
        if panel_id == "devboxes":
            self.devboxes.load(self.engine.hosts(), self.engine.containers())
        return widget

    async def compose_pending_panels(self) -> None:
        """Compose every panel not composed yet, one after the other (the app calls this
        after the first frame; the screen stays live in between)."""
        for panel_id in self.pending_panels:
            if not self.is_attached:
                return
            await self.compose_panel(panel_id)
        if not self.pending_panels:
            self.panels_ready.set()

    # -- panels --------------------------------------------------------------------------------
    @property
    def active_panel(self) -> str:
        return self.query_one(TabbedContent).active

    def action_show_panel(self, panel_id: str) -> None:
        """Bring a panel to the front and put the keyboard in it (composing it first if it is
        not yet)."""
        if panel_id not in PANEL_IDS:
            return
        if self.is_composed(panel_id):
            self._front(panel_id)
        else:
            self.run_worker(self.show_panel(panel_id), group=f"show-panel-{panel_id}")

    async def show_panel(self, panel_id: str) -> Widget:
        """Compose the panel if needed, bring it to the front with the keyboard in it."""
        widget = await self.compose_panel(panel_id)
        self._front(panel_id)
        return widget

    def _front(self, panel_id: str) -> None:
        self.query_one(TabbedContent).active = panel_id
        self._focus_panel(panel_id)

    def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        """A tab clicked (or reached with the arrow keys): compose its panel if needed."""
        panel_id = event.pane.id
        if panel_id in PANEL_IDS and panel_id not in self._composed:
            self.run_worker(self.compose_panel(panel_id), group=f"show-panel-{panel_id}")

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
        elif panel_id == "pools" and pane.children:
            pane.children[0].focus()
        else:
            self.query_one(TabbedContent).query_one(Tabs).focus()

    def action_toggle_activity(self) -> None:
        log = self.query_one(ActivityLog)
        log.display = not log.display

    # -- container actions ---------------------------------------------------------------------
    def on_container_action_requested(self, message: ContainerActionRequested) -> None:
        message.stop()
        engine_ready = getattr(self.app, "engine_ready", None)
        if isinstance(engine_ready, asyncio.Event) and not engine_ready.is_set():
            # Rows of the first snapshot can be acted on before the engine is built.
            self.run_worker(self._action_when_ready(engine_ready, message), group="actions")
            return
        self.actions.handle(message.verb, message.containers)

    async def _action_when_ready(
        self, engine_ready: asyncio.Event, message: ContainerActionRequested
    ) -> None:
        await engine_ready.wait()
        self.actions.handle(message.verb, message.containers)

    def container_command(self, verb: str) -> None:
        """A container action from the palette: on the Fleet table or the Dev containers panel,
        whichever is in front."""
        panel = self.active_panel
        if panel == "fleet":
            self.query_one("#fleet-table", ContainerTable).action_container(verb)
        elif panel == "devboxes" and self.is_composed("devboxes"):
            self.devboxes.action_container(verb)
        else:
            self.notify("Go to Fleet or Dev containers first.", title="Containers")

    # -- engine data ---------------------------------------------------------------------------
    @property
    def tables(self) -> list[ContainerTable]:
        """The container tables (looked up again only when panels were composed since)."""
        composed = sum(done.done() for done in self._composed.values())
        tables = self._tables
        if tables is None or tables[0] != composed or not all(t.is_attached for t in tables[1]):
            tables = self._tables = (composed, list(self.query(ContainerTable)))
        return tables[1]

    @property
    def devboxes(self) -> DevboxesPanel:
        """The Dev containers panel (composed: see `compose_panel`)."""
        from clawtui.tui.widgets.devbox_panel import DevboxesPanel

        return self.query_one(DevboxesPanel)

    def _composed_panel(self, panel_id: str) -> Any:
        """The panel's widget if it is composed, else None."""
        done = self._composed.get(panel_id)
        return done.result() if done is not None and self.is_composed(panel_id) else None

    def load(self, hosts: Iterable[HostInfo], containers: Iterable[ContainerInfo]) -> None:
        """Show a full snapshot (start, RESYNC, refresh). Panels not composed yet read theirs
        when they are."""
        hosts, containers = list(hosts), list(containers)
        self.query_one(FleetPanel).load(hosts, containers)
        if (devboxes := self._composed_panel("devboxes")) is not None:
            devboxes.load(hosts, containers)
        for panel_id in ("threads", "heartbeats"):
            if (panel := self._composed_panel(panel_id)) is not None:
                panel.reload()
        if (ingress := self._composed_panel("ingress")) is not None:
            ingress.load_routes()
        if (escalations := self._composed_panel("escalations")) is not None:
            escalations.action_reload()  # `r`: lists and ages read again

    def load_activity(self, entries: Iterable[ActivityEntry]) -> None:
        self.query_one(ActivityLog).load(entries)

    def apply_event(self, event: Event) -> None:
        """Hand one engine event to the widgets that subscribe to its kind, as an `EngineEvent`
        message each (`tui/messages.py`). STATS come here only when not throttled by the app:
        they take the direct path of `apply_stats`."""
        if event.kind is EventKind.STATS:
            self.apply_stats(event.host or "", event.data.get("stats", {}))
            return
        if self.pending_panels:  # kept for the panels composed later (REPLAY_EVENTS)
            self._missed.append(event)
        post_engine_event(self, event)

    def apply_stats(self, host: str, stats: Mapping[str, Any]) -> int:
        """One host's latest stats tick; returns how many table cells changed."""
        return self.apply_stats_of_hosts({host: stats})

    def apply_stats_of_hosts(self, ticks: Mapping[str, Mapping[str, Any]]) -> int:
        """The latest stats tick of each host (each panel draws them once for all)."""
        devboxes = self._composed_panel("devboxes")
        if devboxes is not None and not devboxes.is_attached:
            devboxes = None
        samples = {
            host: {cid: as_model(ContainerStats, s) for cid, s in stats.items()}
            for host, stats in ticks.items()
        }
        if devboxes is not None:
            for host, of_host in samples.items():
                devboxes.apply_stats(host, of_host)
        return sum(table.apply_stats_of_hosts(samples) for table in self.tables)

    def tick(self) -> None:
        """Once a second: uptimes."""
        for table in self.tables:
            table.tick()

    def set_palette(self, palette: Mapping[str, str]) -> None:
        for table in self.tables:
            table.set_palette(palette)
