"""The Ingress panel: relay routes, and recent webhook deliveries and relay traffic.

Routes (the `[relay] routes` whitelist) can be added (`n`) and removed (`d`); the engine writes
the whole list to the runtime settings file and applies it at once. Below, every webhook
delivery and relay message the engine accepted, delivered, ignored, quarantined or refused,
newest at the bottom, with the reason of a refusal. Names, summaries and reasons come from outside
(CI payloads, agents) and are shown as plain `Text`, never markup.

Routes are read, added and removed through the engine's `IngressAPI` (`relay_routes`,
`add_route`, `remove_route`), so the panel works the same over a remote engine (`clawtui
--connect`, the service's /api/v1/relay/routes); there it shows only the traffic that arrives as
events from then on (nothing made up). An engine without ingress gets a message saying so.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from functools import partial
from typing import ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, DataTable, Input, Label, Static

from clawtui.engine.api.ingress import IngressRecord, RelayRoutes
from clawtui.engine.api.models import EventKind
from clawtui.engine.api.protocols import EngineAPI, IngressAPI, ingress_of
from clawtui.tui.messages import EngineEvent, as_model
from clawtui.tui.screens.confirm import ConfirmScreen

log = logging.getLogger(__name__)

MAX_ROWS = 200
RESULT_STYLES = {
    "accepted": "green",
    "delivered": "green",
    "duplicate": "dim",
    "ignored": "dim",
    "quarantined": "yellow",
    "rejected": "red",
    "unavailable": "red",
    "failed": "red",
}
REMOTE_TEXT = (
    "Relay routes need a local engine: this TUI is connected to a remote `clawtui serve`, so "
    "routes cannot be listed or changed here (run `clawtui relay routes` on that machine). "
    "Traffic below is what arrived since this TUI connected."
)
REMOTE_TRAFFIC_TEXT = (
    "Connected to a remote `clawtui serve`: routes are that engine's; traffic below is what "
    "arrived since this TUI connected."
)


def record_cells(rec: IngressRecord) -> tuple[Text, ...]:
    """One traffic row as plain Text cells (untrusted text is never parsed as markup)."""
    when = Text(time.strftime("%H:%M:%S", time.localtime(rec.ts)))
    result = Text(rec.result, style=RESULT_STYLES.get(rec.result, ""))
    if rec.status:
        result.append(f" {rec.status}", style="dim")
    who = Text(f"{rec.sender} → {rec.target}" if rec.sender or rec.target else "")
    thread = Text("" if rec.thread_id is None else str(rec.thread_id))
    what = Text(
        rec.reason
        if rec.result in ("rejected", "unavailable", "failed", "quarantined")
        else rec.summary
    )
    return when, Text(rec.kind), result, who, thread, what


class RouteForm(ModalScreen["tuple[str, str, str] | None"]):
    """Ask for a new route: from, to and an optional note."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="route.cancel"),
    ]
    DEFAULT_CSS = """
    RouteForm { align: center middle; }
    RouteForm > Vertical {
        width: 64; height: auto; padding: 1 2; border: round $accent; background: $surface;
    }
    RouteForm Horizontal { height: auto; margin-top: 1; }
    """

    def __init__(self, agents: Iterable[str]) -> None:
        super().__init__()
        self.agent_names = list(agents)

    def compose(self) -> ComposeResult:
        with Vertical() as body:
            body.border_title = "New relay route"
            yield Label(Text("Agents: " + (", ".join(self.agent_names) or "none configured")))
            yield Input(placeholder="from (agent)", id="route-from")
            yield Input(placeholder="to (agent)", id="route-to")
            yield Input(placeholder="note: what the route is for (optional)", id="route-note")
            with Horizontal():
                yield Button("Add", variant="primary", id="route-add")
                yield Button("Cancel", id="route-cancel")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "route-add":
            self._submit()
        else:
            self.dismiss(None)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._submit()

    def _submit(self) -> None:
        values = [
            self.query_one(f"#route-{k}", Input).value.strip() for k in ("from", "to", "note")
        ]
        if not values[0] or not values[1]:
            self.notify("Give both agents: from and to.", severity="warning", title="Route")
            return
        self.dismiss((values[0], values[1], values[2]))

    def action_cancel(self) -> None:
        self.dismiss(None)


class IngressPanel(Vertical, can_focus=False):
    """Routes over recent traffic."""

    ENGINE_EVENTS: ClassVar[frozenset[EventKind]] = frozenset({EventKind.INGRESS})

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "n",
            "add_route",
            "Add route",
            id="ingress.route_add",
            tooltip="Allow one more relay path (saved in the runtime settings file)",
        ),
        Binding(
            "d",
            "remove_route",
            "Remove route",
            id="ingress.route_remove",
            tooltip="Refuse the selected relay path from now on",
        ),
    ]
    DEFAULT_CSS = """
    IngressPanel { height: 1fr; }
    IngressPanel #ingress-summary { height: auto; padding: 0 1; }
    IngressPanel #ingress-remote { height: auto; padding: 0 1; color: $warning; }
    IngressPanel #ingress-routes { height: auto; max-height: 12; }
    IngressPanel #ingress-traffic { height: 1fr; }
    IngressPanel .ingress-title { padding: 1 1 0 1; text-style: bold; }
    """

    def __init__(self, engine: EngineAPI) -> None:
        super().__init__(id="ingress-panel")
        self.engine = engine
        self.ingress: IngressAPI | None = ingress_of(engine)
        self._counts: dict[tuple[str, str], int] = {}

    def compose(self) -> ComposeResult:
        if self.ingress is None:
            yield Static(Text(REMOTE_TEXT, style="italic"), id="ingress-remote")
        elif getattr(self.engine, "is_remote", False):
            yield Static(Text(REMOTE_TRAFFIC_TEXT, style="italic"), id="ingress-remote")
        yield Static(id="ingress-summary")
        yield Static(Text("Relay routes (n add, d remove)"), classes="ingress-title")
        routes: DataTable[Text] = DataTable(id="ingress-routes", cursor_type="row")
        yield routes
        yield Static(Text("Recent webhook deliveries and relay messages"), classes="ingress-title")
        traffic: DataTable[Text] = DataTable(id="ingress-traffic", cursor_type="row")
        yield traffic

    def on_mount(self) -> None:
        routes = self.query_one("#ingress-routes", DataTable)
        routes.add_columns("From", "To", "Used for")
        traffic = self.query_one("#ingress-traffic", DataTable)
        traffic.add_columns("Time", "Kind", "Result", "From → to", "Thread", "What / why")
        if self.ingress is None:
            self._show_summary()
            return
        self._load_routes()
        for rec in list(self.ingress.recent)[-MAX_ROWS:]:
            self.add_record(rec)
        self._show_summary()

    # -- data --------------------------------------------------------------------------------
    def load_routes(self) -> None:
        """Read the routes from the engine again (a worker; also on RESYNC)."""
        if self.ingress is not None and self.is_mounted:
            self._load_routes()

    @work(exclusive=True, group="ingress-routes-load", exit_on_error=False)
    async def _load_routes(self) -> None:
        await self._reload()

    async def _reload(self) -> bool:
        assert self.ingress is not None
        try:
            listing = await self.ingress.relay_routes()
        except Exception as exc:  # a remote engine may be unreachable: say so, keep the rows
            log.warning("could not read the relay routes: %s", exc)
            self.notify(str(exc), severity="warning", title="Relay routes", markup=False)
            return False
        self._show_routes(listing)
        return True

    def _show_routes(self, listing: RelayRoutes) -> None:
        table = self.query_one("#ingress-routes", DataTable)
        table.clear()
        for route in listing.routes:
            table.add_row(
                Text(route.sender),
                Text(route.to),
                Text(route.note),
                key=f"{route.sender}>{route.to}",
            )

    def on_engine_event(self, message: EngineEvent) -> None:
        self.add_record(as_model(IngressRecord, message.data["record"]))

    def add_record(self, rec: IngressRecord) -> None:
        """One INGRESS event: newest row on top, at most MAX_ROWS kept."""
        table = self.query_one("#ingress-traffic", DataTable)
        self._counts[(rec.kind, rec.result)] = self._counts.get((rec.kind, rec.result), 0) + 1
        key = f"r{sum(self._counts.values())}"
        table.add_row(*record_cells(rec), key=key)
        while table.row_count > MAX_ROWS:
            table.remove_row(next(iter(table.rows)))
        if not table.has_focus:  # follow the newest row unless the user is reading
            table.scroll_end(animate=False)
        self._show_summary()

    def _show_summary(self) -> None:
        def n(kind: str, *results: str) -> int:
            return sum(self._counts.get((kind, r), 0) for r in results)

        text = Text()
        text.append("Webhook ", style="bold")
        text.append(
            f"{n('webhook', 'accepted')} queued, {n('webhook', 'delivered')} delivered, "
            f"{n('webhook', 'ignored', 'duplicate')} ignored/duplicate, "
            f"{n('webhook', 'quarantined')} quarantined, "
        )
        text.append(f"{n('webhook', 'rejected', 'unavailable')} rejected", style="red")
        text.append("   Relay ", style="bold")
        text.append(f"{n('relay', 'accepted')} accepted, {n('relay', 'delivered')} delivered, ")
        text.append(f"{n('relay', 'rejected', 'unavailable')} rejected", style="red")
        self.query_one("#ingress-summary", Static).update(text)

    # -- actions -----------------------------------------------------------------------------
    def action_add_route(self) -> None:
        if self.ingress is None:
            self.notify(REMOTE_TEXT, severity="warning", title="Relay routes", markup=False)
            return
        self.app.push_screen(RouteForm(self.ingress.agents()), self._route_entered)

    def _route_entered(self, answer: tuple[str, str, str] | None) -> None:
        if answer is not None:
            self._add(*answer)

    @work(exclusive=True, group="ingress-routes")
    async def _add(self, sender: str, to: str, note: str) -> None:
        assert self.ingress is not None
        try:
            await self.ingress.add_route(sender, to, note)
        except Exception as exc:  # the engine's message is meant for a person
            self.notify(str(exc), severity="error", title="Route not added", markup=False)
            return
        await self._reload()
        self.notify(
            f"{sender} → {to} allowed (saved; in effect now).", title="Relay routes", markup=False
        )

    def action_remove_route(self) -> None:
        if self.ingress is None:
            self.notify(REMOTE_TEXT, severity="warning", title="Relay routes", markup=False)
            return
        table = self.query_one("#ingress-routes", DataTable)
        if table.row_count == 0:
            self.notify("There is no route to remove.", title="Relay routes")
            return
        row_key, _ = table.coordinate_to_cell_key(table.cursor_coordinate)
        sender, _, to = str(row_key.value).partition(">")
        self.app.push_screen(
            ConfirmScreen(
                "Remove relay route",
                [Text(f"Refuse messages from {sender} to {to} from now on?")],
                yes="Remove",
            ),
            partial(self._confirmed_remove, sender, to),
        )

    def _confirmed_remove(self, sender: str, to: str, answer: object) -> None:
        if answer is not None:
            self._remove(sender, to)

    @work(exclusive=True, group="ingress-routes")
    async def _remove(self, sender: str, to: str) -> None:
        assert self.ingress is not None
        try:
            await self.ingress.remove_route(sender, to)
        except Exception as exc:
            self.notify(str(exc), severity="error", title="Route not removed", markup=False)
            return
        await self._reload()
        self.notify(
            f"{sender} → {to} removed (saved; in effect now).", title="Relay routes", markup=False
        )
