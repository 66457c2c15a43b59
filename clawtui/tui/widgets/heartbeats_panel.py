"""The Heartbeats panel: per thread, the age of each tier, due / overdue, the next beat,
liveness, runs / stale skips / failures, urgent flags and the last reply; below, the latest
HEARTBEAT events. Rows are updated in place from THREAD events, the log from HEARTBEAT and KB
events (both routed by MainScreen); ages are refreshed every few seconds.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import DataTable, RichLog, Static

from clawtui.config import Settings
from clawtui.engine.api.models import EventKind
from clawtui.engine.api.protocols import EngineAPI, ThreadsAPI, threads_of
from clawtui.tui.messages import EngineEvent
from clawtui.tui.threads_text import heartbeat_detail, heartbeat_row, status_of
from clawtui.tui.widgets.empty_state import EmptyState

COLUMNS = ("ID", "Name", "Quick", "Hourly", "Daily", "Next beat", "Liveness",
           "Runs/stale/failed", "Urgent", "Last reply / problem")  # fmt: skip


class HeartbeatsPanel(Vertical, can_focus=False):
    ENGINE_EVENTS: ClassVar[frozenset[EventKind]] = frozenset(
        {EventKind.THREAD, EventKind.HEARTBEAT, EventKind.KB}
    )
    REPLAY_EVENTS: ClassVar[frozenset[EventKind]] = frozenset({EventKind.HEARTBEAT, EventKind.KB})
    """Log lines the thread statuses read at mount do not hold: handed over when the panel is
    composed after they came (`MainScreen.compose_panel`)."""

    # The table takes the rows it has (up to 60 %); the selected thread's problems and last
    # reply, wrapped in full, and the log of beats share the rest.
    DEFAULT_CSS = """
    HeartbeatsPanel #heartbeats-table { height: auto; max-height: 60%; }
    HeartbeatsPanel #heartbeats-detail { height: auto; max-height: 12; padding: 0 1;
                                         border-top: solid $panel; }
    HeartbeatsPanel #heartbeats-log { height: 1fr; min-height: 4; border-top: solid $panel; }
    HeartbeatsPanel #heartbeats-summary { height: 1; color: $text-muted; }
    """

    def __init__(self, clock: Callable[[], float], engine: EngineAPI, settings: Settings) -> None:
        super().__init__(id="heartbeats-panel")
        self._clock = clock
        self.engine = engine
        self.settings = settings
        self.api: ThreadsAPI | None = threads_of(engine)
        self._rows: dict[str, Any] = {}

    def compose(self) -> ComposeResult:
        if self.api is None:
            yield EmptyState(
                "Heartbeats not available here",
                "Heartbeats run in the engine; this engine does not offer the threads API.",
                id="heartbeats-unavailable",
            )
            return
        cfg = self.settings.threads
        yield Static(
            Text(
                f"Every {cfg.heartbeat_interval / 60:g} min per thread, staggered; one beat in "
                f"flight; skipped after waiting {cfg.stale_fraction:.0%} of the interval; "
                f"runner: {cfg.runner}"
                + ("" if cfg.heartbeat else " (scheduler off: [threads] heartbeat = false)")
            ),
            id="heartbeats-summary",
        )
        table: DataTable[Text] = DataTable(id="heartbeats-table", cursor_type="row")
        for col in COLUMNS:
            table.add_column(col, key=col)
        yield table
        yield Static(Text(""), id="heartbeats-detail")
        yield RichLog(id="heartbeats-log", max_lines=200, markup=False)

    def on_mount(self) -> None:
        self.reload()
        self.set_interval(5.0, self.refresh_ages)

    @property
    def table(self) -> DataTable[Text]:
        return self.query_one("#heartbeats-table", DataTable)

    def reload(self) -> None:
        if self.api is None:
            return
        table = self.table
        table.clear()
        now = self._clock()
        for s in self.api.statuses():
            self._rows[str(s.thread.id)] = s
            table.add_row(*heartbeat_row(s, now), key=str(s.thread.id))
        self.show_selected()

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.data_table.id == "heartbeats-table":
            self.show_selected()

    def show_selected(self) -> None:
        """The highlighted thread's problems and last reply in full, wrapped (the table's
        column shows only their first line)."""
        table = self.table
        s = None
        if table.row_count:
            key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
            s = self._rows.get(str(key))
        self.query_one("#heartbeats-detail", Static).update(
            heartbeat_detail(s) if s is not None else Text("")
        )

    def refresh_ages(self) -> None:
        if self.api is None:
            return
        now = self._clock()
        for key, s in self._rows.items():
            for col, cell in zip(COLUMNS, heartbeat_row(s, now), strict=True):
                self.table.update_cell(key, col, cell, update_width=True)

    def on_engine_event(self, message: EngineEvent) -> None:
        if message.kind is EventKind.THREAD:
            self.update_thread(message.data["thread"])
        elif message.kind is EventKind.HEARTBEAT:
            self.heartbeat_event(message.data)
        elif message.kind is EventKind.KB:
            self.kb_event(message.data)

    def update_thread(self, data: Any) -> None:
        if self.api is None:
            return
        s = status_of(data)
        key = str(s.thread.id)
        self._rows[key] = s
        cells = heartbeat_row(s, self._clock())
        if key in self.table.rows:
            for col, cell in zip(COLUMNS, cells, strict=True):
                self.table.update_cell(key, col, cell, update_width=True)
        else:
            self.table.add_row(*cells, key=key)
        self.show_selected()

    def heartbeat_event(self, data: dict[str, Any]) -> None:
        if self.api is None:
            return
        line = Text()
        action = str(data.get("action", "?"))
        style = {"ran": "green" if data.get("ok") else "yellow", "skipped": "dim"}.get(
            action, "red"
        )
        line.append(f"thread {data.get('thread_id')} {action}", style=style)
        tiers = data.get("tiers") or []
        if tiers:
            line.append(f" ({'+'.join(str(t) for t in tiers)})")
        reply = str(data.get("reply") or "")
        if reply:
            line.append(": " + reply.replace("\n", " ")[:200])
        self.query_one("#heartbeats-log", RichLog).write(line)

    def kb_event(self, data: dict[str, Any]) -> None:
        if self.api is None:
            return
        line = Text(f"knowledge base: {data.get('action')}", style="cyan")
        if data.get("thread_id") is not None:
            line.append(f" from thread {data.get('thread_id')}")
        self.query_one("#heartbeats-log", RichLog).write(line)
