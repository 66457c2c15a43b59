"""The Escalations panel: what agents need a person for, health incidents, the morning brief.

The table lists pending escalations first (oldest first, with their age), then open incidents
beside them, then decided / resolved ones. The selected row's full brief (doing / tried /
need / proposed fix) is shown below it; raw evidence (a stack trace, a log excerpt) sits in a
collapsed section and is never the headline. `a` approves, `s` skips, `m` opens an editor
prefilled with the proposed fix and sends the edited text as the decision (modify). The latest
morning brief is shown in full at the bottom. On an incident, `h` hands its report to the
monitor's fix thread, `p` marks a PR ready and `l` restarts the loop (the fix did not hold).

Every text from agents or hosts is shown as rich `Text` (never markup). The panel reaches the
engine through `escalations_of` / `incidents_of` / `briefs_of`, so it works the same over
`--connect` (the remote client's, over REST); an engine without them is "not available here",
and a read that fails (the remote service unreachable) is said in the panel instead of failing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Collapsible, DataTable, Label, Static, TextArea

from clawtui.engine.api.escalations import (
    Action,
    Brief,
    Decision,
    Escalation,
    Incident,
    Status,
    briefs_of,
    escalations_of,
    incidents_of,
)
from clawtui.engine.api.models import EventKind
from clawtui.engine.api.protocols import EngineAPI
from clawtui.tui.messages import EngineEvent

if TYPE_CHECKING:
    from clawtui.engine.api.escalations import BriefAPI, EscalationsAPI, IncidentsAPI

log = logging.getLogger(__name__)
WHO = "tui"
UNAVAILABLE_MESSAGE = (
    "Escalations are not available here: this engine keeps no escalations (it has no "
    "escalation store), so there is nothing to decide here."
)
REMOTE_MESSAGE = (
    "Escalations, incidents and the morning brief are kept by the engine's store; this TUI is "
    "connected to a remote service (--connect) and could not read them from it. Use `clawtui "
    "--connect URL escalations list` and `... escalations decide ID approve|skip|modify`, or "
    "run the TUI where the engine runs."
)


def format_age(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m"
    if seconds < 86400:
        return f"{seconds // 3600}h{(seconds % 3600) // 60:02d}m"
    return f"{seconds // 86400}d{(seconds % 86400) // 3600}h"


def _one_line(text: str, limit: int = 80) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


class ModifyScreen(ModalScreen["str | None"]):
    """An editor prefilled with the proposed fix; Save returns the text, Esc cancels."""

    DEFAULT_CSS = """
    ModifyScreen { align: center middle; }
    ModifyScreen #modify-body { width: 80%; height: 70%; border: round $accent; padding: 1; }
    ModifyScreen #modify-text { height: 1fr; }
    ModifyScreen #modify-buttons { height: auto; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="escalation.modify.cancel"),
        Binding("ctrl+s", "save", "Send", id="escalation.modify.save"),
    ]

    def __init__(self, escalation_id: int, text: str) -> None:
        super().__init__(classes="confirm-screen")
        self.escalation_id = escalation_id
        self.text = text

    def compose(self) -> ComposeResult:
        with Vertical(id="modify-body") as body:
            body.border_title = f"Modify escalation #{self.escalation_id}"
            yield Label(Text("The fix to apply instead (sent to the agent's thread):"))
            yield TextArea(self.text, id="modify-text", soft_wrap=True)
            with Horizontal(id="modify-buttons"):
                yield Button("Send (ctrl+s)", id="modify-save", variant="primary")
                yield Button("Cancel", id="modify-cancel")

    def on_mount(self) -> None:
        self.query_one(TextArea).focus()

    def action_save(self) -> None:
        text = self.query_one(TextArea).text.strip()
        if not text:
            self.notify("Write the fix to apply instead.", severity="warning")
            return
        self.dismiss(text)

    def action_cancel(self) -> None:
        self.dismiss(None)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "modify-save":
            self.action_save()
        else:
            self.action_cancel()


class EscalationsPanel(Vertical, can_focus=True):
    """Escalations and incidents with their decisions, and the latest brief."""

    ENGINE_EVENTS: ClassVar[frozenset[EventKind]] = frozenset(
        {EventKind.ESCALATION, EventKind.INCIDENT, EventKind.BRIEF}
    )

    DEFAULT_CSS = """
    EscalationsPanel { height: 1fr; }
    EscalationsPanel #escalations-table { height: 1fr; min-height: 5; }
    EscalationsPanel #escalation-detail-box { height: 1fr; }
    EscalationsPanel #escalation-buttons { height: auto; }
    EscalationsPanel #escalation-buttons Button { margin-right: 1; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("a", "decide('approve')", "Approve", id="escalation.approve"),
        Binding("s", "decide('skip')", "Skip", id="escalation.skip"),
        Binding("m", "modify", "Modify", id="escalation.modify"),
        Binding("p", "incident('pr_ready')", "PR ready", id="incident.pr_ready"),
        Binding("l", "incident('restarting')", "Loop restarting", id="incident.restarting"),
        Binding("h", "incident('hand_off')", "Hand off", id="incident.hand_off"),
        Binding("R", "reload", "Reload", id="escalation.reload", show=False),
    ]

    def __init__(self, clock: Callable[[], float], engine: EngineAPI) -> None:
        super().__init__(id="escalations-panel")
        self._clock = clock
        self.engine = engine
        self.escalations_api: EscalationsAPI | None = escalations_of(engine)
        self.incidents_api: IncidentsAPI | None = incidents_of(engine)
        self.briefs_api: BriefAPI | None = briefs_of(engine)
        self.escalations: dict[int, Escalation] = {}
        self.incidents: dict[int, Incident] = {}
        self.brief: Brief | None = None
        self.loads = 0
        self._age_column: Any = None

    @property
    def available(self) -> bool:
        return self.escalations_api is not None and self.incidents_api is not None

    def compose(self) -> ComposeResult:
        if not self.available:
            yield Static(Text(UNAVAILABLE_MESSAGE), id="escalations-unavailable")
            return
        failed = Static(Text(""), id="escalations-unavailable")
        failed.display = False
        yield failed
        table: DataTable[Any] = DataTable(id="escalations-table", cursor_type="row")
        _, self._age_column, *_ = table.add_columns("", "Age", "From", "What", "State")
        yield table
        with VerticalScroll(id="escalation-detail-box"):
            yield Static(Text("Nothing selected."), id="escalation-detail")
            with Collapsible(title="Raw evidence", collapsed=True, id="escalation-raw"):
                yield Static(Text(""), id="escalation-raw-text")
            with Horizontal(id="escalation-buttons"):
                yield Button("Approve (a)", id="escalation-approve", variant="success")
                yield Button("Skip (s)", id="escalation-skip")
                yield Button("Modify (m)", id="escalation-modify", variant="primary")
            with Collapsible(title="Morning brief", collapsed=False, id="escalation-brief"):
                yield Static(Text("No brief yet."), id="escalation-brief-text")

    AGE_SECONDS: ClassVar[float] = 1.0
    """How often the Age column advances."""

    def on_mount(self) -> None:
        if self.available:
            self.reload()
            self.set_interval(self.AGE_SECONDS, self.refresh_ages)

    def refresh_ages(self) -> None:
        """Age every row again from the clock (they are not frozen at load time)."""
        try:
            table = self.query_one("#escalations-table", DataTable)
        except Exception:
            return
        now = self._clock()
        for row in table.ordered_rows:
            key = str(row.key.value)
            item: Escalation | Incident | None = (
                self.escalations.get(int(key[1:]))
                if key.startswith("e")
                else self.incidents.get(int(key[1:]))
            )
            if item is None:
                continue
            since = item.created_at if isinstance(item, Escalation) else item.opened_at
            age = format_age(now - since)
            if str(table.get_cell(row.key, self._age_column)) != age:
                table.update_cell(row.key, self._age_column, age)

    # -- data ----------------------------------------------------------------------------------
    @work(exclusive=True, group="escalations-load", exit_on_error=False)
    async def reload(self) -> None:
        if self.escalations_api is None or self.incidents_api is None:
            return
        try:
            escalations = await self.escalations_api.find()
            incidents = await self.incidents_api.find()
            brief = await self.briefs_api.latest() if self.briefs_api is not None else None
        except Exception as exc:  # the engine's errors are meant for a person
            self.read_failed(exc)
            return
        self.query_one("#escalations-unavailable", Static).display = False
        self.load(escalations, incidents, brief)

    def read_failed(self, exc: Exception) -> None:
        """Say that the lists could not be read (and, over --connect, what else to use)."""
        log.info("escalations: read failed: %s", exc)
        failed = self.query_one("#escalations-unavailable", Static)
        message = f"Could not read escalations: {exc}"
        if self.engine.is_remote:
            message += f"\n{REMOTE_MESSAGE}"
        failed.update(Text(message))
        failed.display = True

    def action_reload(self) -> None:
        if self.available:
            self.reload()

    def load(
        self, escalations: list[Escalation], incidents: list[Incident], brief: Brief | None
    ) -> None:
        before = self.selected_escalation
        self.escalations = {e.id: e for e in escalations}
        after = self.escalations.get(before.id) if before is not None else None
        # Just decided: go on to the oldest pending one instead of staying on it.
        just_decided = before is not None and before.pending and not (after and after.pending)
        self.incidents = {i.id: i for i in incidents}
        self.brief = brief
        self.loads += 1
        table = self.query_one("#escalations-table", DataTable)
        current = self.selected_key
        table.clear()
        now = self._clock()
        pending = [e for e in escalations if e.status is Status.PENDING]
        pending.sort(key=lambda e: (e.created_at, e.id))
        for e in pending:
            table.add_row(
                Text("●", style="bold yellow"),
                format_age(now - e.created_at),
                Text(_one_line(e.agent, 24)),
                Text(_one_line(f"{e.doing} → {e.need}")),
                Text("pending", style="bold"),
                key=f"e{e.id}",
            )
        for i in incidents:
            if i.state.value == "resolved":
                continue
            table.add_row(
                Text("▲", style="bold red"),
                format_age(now - i.opened_at),
                Text(_one_line(i.monitor, 24)),
                Text(_one_line(i.summary)),
                Text(i.state.value),
                key=f"i{i.id}",
            )
        for e in escalations:
            if e.status is not Status.PENDING:
                table.add_row(
                    Text("✓", style="green"),
                    format_age(now - e.created_at),
                    Text(_one_line(e.agent, 24)),
                    Text(_one_line(f"{e.doing} → {e.need}")),
                    Text(e.status.value),
                    key=f"e{e.id}",
                )
        for i in incidents:
            if i.state.value == "resolved":
                table.add_row(
                    Text("✓", style="green"),
                    format_age(now - i.opened_at),
                    Text(_one_line(i.monitor, 24)),
                    Text(_one_line(i.summary)),
                    Text("resolved"),
                    key=f"i{i.id}",
                )
        keys = [row.value for row in table.rows]
        if current in keys and not just_decided:
            table.move_cursor(row=keys.index(current))
        self.show_selected()
        brief_text = self.query_one("#escalation-brief-text", Static)
        if brief is None:
            brief_text.update(Text("No brief yet (built daily at the [brief] time)."))
        else:
            note = "" if brief.needs_human else "\n(nothing needed you: not sent)"
            brief_text.update(Text(brief.text() + note))

    @property
    def selected_key(self) -> str | None:
        try:
            table = self.query_one("#escalations-table", DataTable)
        except Exception:
            return None
        if table.row_count == 0:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key
        return str(key.value) if key.value is not None else None

    @property
    def selected_escalation(self) -> Escalation | None:
        key = self.selected_key
        if key and key.startswith("e"):
            return self.escalations.get(int(key[1:]))
        return None

    @property
    def selected_incident(self) -> Incident | None:
        key = self.selected_key
        if key and key.startswith("i"):
            return self.incidents.get(int(key[1:]))
        return None

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        self.show_selected()

    def show_selected(self) -> None:
        detail = self.query_one("#escalation-detail", Static)
        raw = self.query_one("#escalation-raw-text", Static)
        key = self.selected_key
        text = Text()
        raw_text = ""
        if key and key.startswith("e") and int(key[1:]) in self.escalations:
            e = self.escalations[int(key[1:])]
            text.append(f"#{e.id} {e.agent}", style="bold")
            text.append(f"  {e.severity.value} · {e.source.value} · {e.status.value}\n")
            text.append("Doing: ", style="bold")
            text.append(f"{e.doing}\n")
            for t in e.tried:
                text.append("Tried: ", style="bold")
                text.append(f"{t}\n")
            text.append("Needs: ", style="bold")
            text.append(f"{e.need}\n")
            if e.proposed_fix:
                text.append("Proposed fix: ", style="bold green")
                text.append(f"{e.proposed_fix}\n")
            if e.decision or e.decided_by:
                text.append("Decision: ", style="bold")
                text.append(f"{e.status.value} by {e.decided_by}: {e.decision or ''}\n")
            if e.thread_id is None:
                text.append("(no thread: the decision is recorded, not delivered)\n", style="dim")
            raw_text = e.detail or ""
        elif key and key.startswith("i") and int(key[1:]) in self.incidents:
            i = self.incidents[int(key[1:])]
            r = i.report
            text.append(f"Incident #{i.id} on {i.monitor}", style="bold")
            text.append(f"  {i.severity} · {i.state.value} · seen {i.occurrences}×\n")
            text.append("Summary: ", style="bold")
            text.append(f"{r.summary}\n")
            if r.affected_services:
                text.append("Affected: ", style="bold")
                text.append(", ".join(r.affected_services) + "\n")
            if r.root_cause:
                text.append("Root cause: ", style="bold")
                text.append(f"{r.root_cause}\n")
            if r.immediate_action:
                text.append("Immediate action: ", style="bold")
                text.append(f"{r.immediate_action}\n")
            if r.recommended_fix:
                text.append("Recommended fix: ", style="bold green")
                text.append(f"{r.recommended_fix}\n")
            raw_text = "\n".join(r.evidence)
        else:
            text.append("No escalations or incidents. Silence = all clear.")
        detail.update(text)
        raw.update(Text(raw_text or "(none)"))
        self.query_one("#escalation-raw", Collapsible).display = bool(raw_text)
        pending = self.selected_escalation is not None and self.selected_escalation.pending
        for button in self.query("#escalation-buttons Button"):
            button.disabled = not pending

    # -- decisions -----------------------------------------------------------------------------
    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "escalation-approve":
            self.action_decide("approve")
        elif event.button.id == "escalation-skip":
            self.action_decide("skip")
        elif event.button.id == "escalation-modify":
            self.action_modify()

    def _pending_selected(self) -> Escalation | None:
        if not self.available:
            self.notify("Escalations are not available here.", title="Escalations",
                        severity="warning")  # fmt: skip
            return None
        esc = self.selected_escalation
        if esc is None or not esc.pending:
            self.notify("Select a pending escalation first.", title="Escalations")
            return None
        return esc

    def action_decide(self, action: str) -> None:
        esc = self._pending_selected()
        if esc is not None:
            self.send_decision(esc.id, Decision(action=Action(action), by=WHO))

    def action_modify(self) -> None:
        esc = self._pending_selected()
        if esc is None:
            return

        def done(text: str | None) -> None:
            if text:
                self.send_decision(esc.id, Decision(action=Action.MODIFY, text=text, by=WHO))

        self.app.push_screen(ModifyScreen(esc.id, esc.proposed_fix or ""), done)

    @work(group="escalations-decide", exit_on_error=False)
    async def send_decision(self, escalation_id: int, decision: Decision) -> None:
        if self.escalations_api is None:
            return
        try:
            esc = await self.escalations_api.decide(escalation_id, decision)
        except Exception as exc:  # EscalationError, or the remote service unreachable
            self.notify(str(exc), title="Escalation", severity="error", markup=False)
            return
        where = (
            f"sent to thread {esc.thread_id}"
            if esc.delivered_message_id
            else "recorded (no thread to deliver to)"
        )
        self.notify(f"#{esc.id} {esc.status.value}: {where}", title="Escalation", markup=False)
        self.reload()

    def action_incident(self, step: str) -> None:
        """p / l / h on an incident: PR ready, restarting (the fix did not hold), hand off."""
        incident = self.selected_incident if self.available else None
        if incident is None:
            self.notify("Select an incident first.", title="Incidents")
            return
        self.move_incident(incident.id, step)

    @work(group="incidents-step", exit_on_error=False)
    async def move_incident(self, incident_id: int, step: str) -> None:
        if self.incidents_api is None:
            return
        try:
            if step == "hand_off":
                done = await self.incidents_api.hand_off(incident_id)
                text = f"#{incident_id} handed to thread {done.thread_id}"
            elif step == "pr_ready":
                inc = await self.incidents_api.mark_pr_ready(incident_id)
                text = f"#{inc.id} {inc.state.value}"
            else:
                inc = await self.incidents_api.mark_restarting(incident_id)
                text = f"#{inc.id} {inc.state.value}"
        except Exception as exc:  # IncidentError, or the remote service unreachable
            self.notify(str(exc), title="Incident", severity="error", markup=False)
            return
        self.notify(text, title="Incident", markup=False)
        self.reload()

    # -- events --------------------------------------------------------------------------------
    def on_engine_event(self, message: EngineEvent) -> None:
        self.engine_event()

    def engine_event(self) -> None:
        """An ESCALATION, INCIDENT or BRIEF event: re-read (the lists are small)."""
        if self.available and self.is_mounted:
            self.reload()
