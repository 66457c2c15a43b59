"""The Threads panel: every agent thread, its repo and queues; detail and send below.

Rows come from `threads.statuses()` and are updated in place from THREAD events (routed by
MainScreen). Selecting a row loads its detail (HEARTBEAT.md, recent outgoing replies, git log;
for the master thread also the knowledge base and its git log) in a worker. The input at the
bottom sends a message to the selected thread through the engine's queue. Everything read from
files is shown as rich Text, never as markup.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.widgets import DataTable, Input, Static

from clawtui.engine.api.models import EventKind
from clawtui.engine.api.protocols import EngineAPI, ThreadsAPI, threads_of
from clawtui.engine.api.threads import ThreadStatus
from clawtui.tui.messages import EngineEvent
from clawtui.tui.threads_text import detail_text, status_of, thread_row
from clawtui.tui.widgets.empty_state import EmptyState

COLUMNS = ("ID", "Name", "Branch", "Dirty", "±origin", "In/Out", "Activity", "Heartbeat",
           "Urgent", "Cwd")  # fmt: skip
UNAVAILABLE = (
    "Threads are read by the engine from the TinyClaw home and each thread's HEARTBEAT.md.\n"
    "This engine does not offer them (a remote connection without the threads API)."
)
EMPTY = (
    "No threads yet. Add [[threads.threads]] entries (id, name, cwd) to config.toml,\n"
    "or point [threads] home at a TinyClaw home with a threads.json."
)


class ThreadsPanel(Vertical, can_focus=False):
    """Thread table, detail of the selected thread, and a message box."""

    ENGINE_EVENTS: ClassVar[frozenset[EventKind]] = frozenset({EventKind.THREAD})

    DEFAULT_CSS = """
    ThreadsPanel #threads-table { height: 1fr; min-height: 5; }
    ThreadsPanel #thread-detail-scroll { height: 1fr; border-top: solid $panel; }
    ThreadsPanel #thread-send { dock: bottom; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("b", "beat", "Beat now", id="threads.beat", tooltip="Run a heartbeat now"),
        Binding("m", "compose", "Message", id="threads.message",
                tooltip="Write a message to the selected thread"),
        Binding("R", "reload", "Reload", id="threads.reload", tooltip="Re-read every thread"),
    ]  # fmt: skip

    def __init__(self, clock: Callable[[], float], engine: EngineAPI) -> None:
        super().__init__(id="threads-panel")
        self._clock = clock
        self.engine = engine
        self.api: ThreadsAPI | None = threads_of(engine)
        self.selected: int | None = None

    def compose(self) -> ComposeResult:
        if self.api is None:
            yield EmptyState("Threads not available here", UNAVAILABLE, id="threads-unavailable")
            return
        table: DataTable[Text] = DataTable(
            id="threads-table", cursor_type="row", zebra_stripes=True
        )
        for col in COLUMNS:
            table.add_column(col, key=col)
        yield table
        with VerticalScroll(id="thread-detail-scroll"):
            yield Static(Text(EMPTY, style="dim"), id="thread-detail")
        yield Input(placeholder="Message to the selected thread (Enter sends)", id="thread-send")

    def on_mount(self) -> None:
        self.reload()

    @property
    def table(self) -> DataTable[Text]:
        return self.query_one("#threads-table", DataTable)

    def reload(self) -> None:
        if self.api is None:
            return
        rows = self.api.statuses()
        table = self.table
        table.clear()
        now = self._clock()
        for s in rows:
            table.add_row(*thread_row(s, now), key=str(s.thread.id))
        if rows and self.selected is None:
            self.selected = rows[0].thread.id
            self.load_detail(self.selected)

    def on_engine_event(self, message: EngineEvent) -> None:
        self.update_thread(message.data["thread"])

    def update_thread(self, data: Any) -> None:
        """One THREAD event: replace (or add) the thread's row in place."""
        if self.api is None:
            return
        s: ThreadStatus = status_of(data)
        table = self.table
        key = str(s.thread.id)
        cells = thread_row(s, self._clock())
        if key in table.rows:
            for col, cell in zip(COLUMNS, cells, strict=True):
                table.update_cell(key, col, cell, update_width=True)  # "no origin" fits
        else:
            table.add_row(*cells, key=key)
        if s.thread.id == self.selected:
            self.load_detail(s.thread.id)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.data_table.id != "threads-table" or event.row_key.value is None:
            return
        self.selected = int(event.row_key.value)
        self.load_detail(self.selected)

    @work(exclusive=True, group="thread-detail")
    async def load_detail(self, thread_id: int) -> None:
        if self.api is None:
            return
        try:
            detail = await self.api.detail(thread_id)
            kb: list[str] = []
            if detail.status.thread.is_master:
                try:
                    kb = [(await self.api.kb_file("active-projects.md"))[:3000], "", "git log:"]
                    kb += await self.api.kb_log(10)
                except Exception as exc:
                    kb = [str(exc)]
        except Exception as exc:
            self.query_one("#thread-detail", Static).update(
                Text(f"cannot load: {exc}", style="red")
            )
            return
        self.query_one("#thread-detail", Static).update(detail_text(detail, self._clock(), kb))

    def action_compose(self) -> None:
        if self.api is not None:
            self.query_one("#thread-send", Input).focus()

    def action_reload(self) -> None:
        self.reload()

    async def action_beat(self) -> None:
        if self.api is None or self.selected is None:
            self.notify("Select a thread first.", title="Heartbeat")
            return
        try:
            await self.api.beat_now(self.selected)
        except Exception as exc:
            self.notify(str(exc), title="Heartbeat", severity="error", markup=False)
            return
        self.notify(f"Heartbeat of thread {self.selected} queued.", title="Heartbeat", markup=False)

    async def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id != "thread-send":
            return
        event.stop()
        text = event.value.strip()
        if self.api is None or self.selected is None:
            self.notify("Select a thread first.", title="Send", severity="warning")
            return
        if not text:
            return
        try:
            msg = await self.api.send(self.selected, text, sender="tui")
        except Exception as exc:
            self.notify(str(exc), title="Send", severity="error", markup=False)
            return
        event.input.value = ""
        self.notify(
            f"Queued {msg.messageId} for thread {self.selected}.", title="Send", markup=False
        )
