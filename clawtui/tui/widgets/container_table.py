"""The live container table: one row per container, keyed by `ContainerInfo.key`.

Used by the Fleet panel (every container; a role filter is available). It is built for a
stream of small changes, not for redraws: rows are added, updated and removed one by one, and
an update only touches the cells whose text changed, so a 1 Hz stats tick over a hundred
containers costs a few cell writes. A tick writes the CPU, memory and uptime cells of the rows
in view only; the others are marked `behind` and written when they are scrolled in or read,
or before the rows are sorted by one of those columns (then every row is written each tick).
Every cell is a rich `Text` (never a markup string),
because names, images and states come from Docker and may contain `[`. A table that is not on
screen (its panel is not in front) only keeps the latest stats samples and notes the uptime
tick; both are applied before it is drawn again or a cell is read (`catch_up`).

The container action keys (`container_actions.CONTAINER_BINDINGS`) work on the marked rows
(space marks, ● in the first column) or, when none is marked, on the row under the cursor.
"""

from __future__ import annotations

from collections.abc import Callable, Container, Iterable, Mapping
from typing import Any, ClassVar

from rich.text import Text
from textual.binding import Binding, BindingType
from textual.geometry import Region
from textual.message import Message
from textual.strip import Strip
from textual.widgets import DataTable
from textual.widgets.data_table import CellDoesNotExist, ColumnKey, RowDoesNotExist, RowKey

from clawtui.engine.api.models import ContainerInfo, ContainerStats
from clawtui.tui.container_actions import CONTAINER_BINDINGS, ContainerActionRequested
from clawtui.tui.format import format_cpu, format_memory, humanize_duration
from clawtui.tui.widgets.cell_table import CellTable
from clawtui.tui.widgets.container_columns import (
    AUTO_WIDTH,
    COLUMNS,
    DEFAULT_SORT,
    MARK,
    SORTABLE,
    STATE_STYLES,
    TICKED,
    Cell,
    ColumnSpec,
)
from clawtui.tui.widgets.host_filter import RowFilter


class ContainerTable(CellTable):
    """Containers as rows, updated cell by cell; click a header (or press `s`) to sort."""

    DEFAULT_CSS = """
    ContainerTable {
        height: 1fr;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        *CONTAINER_BINDINGS,
        Binding(
            "e",
            "attach",
            "Attach",
            id="table.attach",
            tooltip="Attach to the container: tmux over SSH when it publishes sshd, else "
            "docker exec (tmux if the image has it, else a login shell)",
        ),
        Binding(
            "H",
            "cycle_host",
            "Host",
            id="table.host",
            show=False,
            tooltip="Show one host's containers, the next host, ... then every host again",
        ),
        Binding(
            "o",
            "cycle_sort",
            "Sort",
            id="table.sort",
            show=False,
            tooltip="Sort by the next column",
        ),
    ]

    class FiltersChanged(Message):
        """The host or text filter changed (the panel shows what is filtered)."""

        def __init__(self, table: ContainerTable) -> None:
            super().__init__()
            self.table = table

        @property
        def control(self) -> ContainerTable:
            return self.table

    class Selected(Message):
        """The highlighted container changed (None: the table is empty)."""

        def __init__(self, table: ContainerTable, container: ContainerInfo | None) -> None:
            super().__init__()
            self.table = table
            self.container = container

        @property
        def control(self) -> ContainerTable:
            return self.table

    def __init__(
        self,
        *,
        role: str | None = None,
        clock: Callable[[], float],
        id: str | None = None,
        classes: str | None = None,
        row_filter: RowFilter | None = None,
    ) -> None:
        super().__init__(id=id, classes=classes, cursor_type="row", zebra_stripes=True)
        self.role = role
        """Only containers with this `clawtui.role` label are shown (None: all)."""
        self.clock = clock
        self.infos: dict[str, ContainerInfo] = {}
        """The container of each row, by `ContainerInfo.key`."""
        self.sort_column: str | None = None
        """Column the rows are sorted by; None means host, then name."""
        self.sort_reverse = False
        self.marked: set[str] = set()
        """Keys of the marked rows."""
        self.filter = row_filter or RowFilter()
        """Only containers of its host (None: every host) whose name, image or host contain
        its text (any case) are shown (shared with the panel's `/` box)."""
        self._stats: dict[str, ContainerStats] = {}
        """The latest stats sample of each shown container, by key, when newer than its
        `ContainerInfo.stats` (a tick does not copy the containers: see `current`)."""
        self._known: dict[str, ContainerInfo] = {}
        """Every container offered that has the role, shown or filtered out, by key."""
        self._palette: Mapping[str, str] = {}
        self._deferred: dict[str, dict[str, ContainerStats]] = {}
        """The latest samples by host, then container id, kept while not on screen."""
        self._uptimes_due = False
        """An uptime tick came while not on screen."""

    # -- setup ---------------------------------------------------------------------------------
    def on_mount(self) -> None:
        for column in COLUMNS:
            self.add_column(self._header(column), key=column.key, width=column.width)

    def _header(self, column: ColumnSpec) -> Text:
        mark = " "
        if column.key == self.sort_column:
            mark = "▼" if self.sort_reverse else "▲"
        label = f"{column.label}{mark}"
        return Text(label, justify="right" if column.right else "left", no_wrap=True)

    def set_palette(self, palette: Mapping[str, str]) -> None:
        """Theme colors by name (success, warning, ...); restyles the state cells."""
        self._palette = dict(palette)
        for key, info in self.infos.items():
            self._set(key, "state", self._state_cell(info), force=True)
        self.flush_cells()

    # -- cells ---------------------------------------------------------------------------------
    def _state_cell(self, info: ContainerInfo) -> Cell:
        color = self._palette.get(STATE_STYLES.get(info.state, ""), "")
        return Cell(info.state, info.state, style=color)

    def current(self, info: ContainerInfo) -> ContainerInfo:
        """The container with its latest stats sample."""
        stats = self._stats.get(info.key)
        return info if stats is None else info.model_copy(update={"stats": stats})

    def _cells(self, info: ContainerInfo) -> dict[str, Cell]:
        stats = self._stats.get(info.key, info.stats) if info.running else None
        cpu = stats.cpu_percent if stats and stats.cpu_percent is not None else -1.0
        used = stats.mem_used if stats and stats.mem_used is not None else -1
        marked = info.key in self.marked
        return {
            "mark": Cell(MARK if marked else " ", not marked),
            "name": Cell(info.name, info.name.lower()),
            "host": Cell(info.host, info.host),
            "image": Cell(info.image, info.image.lower()),
            "state": self._state_cell(info),
            "cpu": Cell(format_cpu(info, stats), cpu, right=True),
            "mem": Cell(format_memory(info, stats), (used, info.memory_limit), right=True),
            "uptime": self._uptime_cell(info),
        }

    def _uptime_cell(self, info: ContainerInfo) -> Cell:
        seconds = info.uptime(self.clock())
        text = humanize_duration(seconds) if seconds is not None else ""
        return Cell(text, seconds if seconds is not None else -1.0, right=True)

    def _set(self, key: str, column: str, cell: Cell, *, force: bool = False) -> bool:
        """Write one cell if its text changed; True when written. A fixed-width cell is drawn
        by the next `flush_cells` (only if it is on screen)."""
        try:
            current = self.get_cell(key, column)
        except CellDoesNotExist:
            return False
        if not force and current.plain == cell.plain:
            if isinstance(current, Cell):
                current.sort_key = cell.sort_key
            return False
        if column in AUTO_WIDTH:
            self.update_cell(key, column, cell, update_width=True)
        else:
            self.write_cell(key, column, cell)
        return True

    # -- changes -------------------------------------------------------------------------------
    def wants(self, info: ContainerInfo) -> bool:
        return self._has_role(info) and self._passes_filters(info)

    def _has_role(self, info: ContainerInfo) -> bool:
        return self.role is None or info.role == self.role

    def _passes_filters(self, info: ContainerInfo) -> bool:
        return self.filter.passes(info.host, info.name, info.image)

    @property
    def host_filter(self) -> str | None:
        """Only this host's containers are shown (None: every host)."""
        return self.filter.host

    @property
    def text_filter(self) -> str:
        """Only containers whose name, image or host contain this (any case) are shown."""
        return self.filter.text

    def known_hosts(self) -> list[str]:
        """Hosts of every container offered (shown or filtered out), sorted."""
        return sorted({info.host for info in self._known.values()})

    def set_filters(self, *, host: str | bool | None = False, text: str | None = None) -> None:
        """Change the host filter (None: every host; False: leave it) and/or the text filter,
        and redraw the rows from every container offered so far."""
        changed = False
        if host is not False and host != self.filter.host:
            self.filter.host = host if isinstance(host, str) else None
            changed = True
        if text is not None and text != self.filter.text:
            self.filter.text = text
            changed = True
        if changed:
            self.apply_filter()

    def apply_filter(self) -> int:
        """Redraw the rows from every container offered so far; how many are shown."""
        self.load([self.current(info) for info in self._known.values()])
        self.post_message(self.FiltersChanged(self))
        return len(self.infos)

    def action_cycle_host(self) -> None:
        self.set_filters(host=self.filter.next_host(self.known_hosts()))

    def load(self, containers: Iterable[ContainerInfo]) -> None:
        """Replace every row (a RESYNC or the first snapshot); keeps the cursor on its row."""
        selected = self.selected_key
        self._deferred.clear()  # the snapshot is newer
        self._stats.clear()
        self.clear()
        self.infos.clear()
        self._known.clear()
        for info in containers:
            if self._has_role(info):
                self._known[info.key] = info
            if self.wants(info):
                self.infos[info.key] = info
                cells = self._cells(info)
                self.add_row(*(cells[c.key] for c in COLUMNS), key=info.key)
        self.marked &= set(self.infos)  # marks of containers that are gone are dropped
        self._resort()
        if selected is not None and selected in self.infos:
            self.move_cursor(row=self.get_row_index(selected))
        self._announce()

    def upsert(self, info: ContainerInfo) -> None:
        """Add or update one container's row (or drop it if it no longer matches the filter)."""
        key = info.key
        self._deferred.get(info.host, {}).pop(info.id, None)  # the event is newer
        self.behind.discard(key)  # every cell is written from the event below
        if self._has_role(info):
            self._known[key] = info
        else:
            self._known.pop(key, None)
        if not self.wants(info):
            self._drop_row(key)
            return
        old = self.infos.get(key)
        latest = self._stats.pop(key, None)
        if latest is None and old is not None:
            latest = old.stats
        if latest is not None and info.stats is None and info.running:
            info = info.model_copy(update={"stats": latest})
        self.infos[key] = info
        cells = self._cells(info)
        if old is None:
            self.add_row(*(cells[c.key] for c in COLUMNS), key=key)
            self._resort()
            if self.row_count == 1:
                self._announce()
            return
        changed = [column for column, cell in cells.items() if self._set(key, column, cell)]
        self.flush_cells()
        if self.sort_column in changed or (self.sort_column is None and "name" in changed):
            self._resort()
        if key == self.selected_key:
            self._announce()

    def remove_container(self, key: str) -> None:
        """Forget one container and drop its row, if shown."""
        self._known.pop(key, None)
        self._drop_row(key)

    def _drop_row(self, key: str) -> None:
        self.marked.discard(key)
        latest = self._stats.pop(key, None)
        known = self._known.get(key)
        if latest is not None and known is not None and known.stats is None and known.running:
            # filtered out by an event without stats: keep the sample for when it is shown
            self._known[key] = known.model_copy(update={"stats": latest})
        if self.infos.pop(key, None) is None:
            return
        was_selected = key == self.selected_key
        try:
            self.remove_row(key)
        except RowDoesNotExist:
            return
        if was_selected or not self.infos:
            self._announce()

    def apply_stats(self, host: str, stats: Mapping[str, ContainerStats]) -> int:
        """One stats tick of `host`: update the CPU and memory cells that changed; return count."""
        return self.apply_stats_of_hosts({host: stats})

    def apply_stats_of_hosts(self, ticks: Mapping[str, Mapping[str, ContainerStats]]) -> int:
        """The latest stats tick of each host, drawn (and re-sorted) once for all; returns how
        many cells changed on screen. A table not on screen (its panel is not in front) only
        keeps the latest samples, applied before it is drawn again (`catch_up`); a row
        scrolled out of view gets its new cells when it is drawn or read (`behind`)."""
        if not self.is_on_screen:
            for host, stats in ticks.items():
                self._deferred.setdefault(host, {}).update(stats)
            return 0
        shown = self._rows_to_write()
        written = sum(self._apply_samples(host, stats, shown) for host, stats in ticks.items())
        self.flush_cells()
        if written and self.sort_column in ("cpu", "mem"):
            self._resort()
        return written

    def catch_up(self) -> int:
        """Apply the samples and the uptime tick kept while the table was not on screen;
        returns how many cells changed."""
        deferred, self._deferred = self._deferred, {}
        uptimes, self._uptimes_due = self._uptimes_due, False
        shown = self._rows_to_write()
        written = sum(self._apply_samples(host, s, shown) for host, s in deferred.items())
        if uptimes:
            written += self._tick_uptimes(shown)
        self.flush_cells()
        if written and self.sort_column in ("cpu", "mem", "uptime"):
            self._resort()
        return written

    def render_lines(self, crop: Region) -> list[Strip]:
        if self._deferred or self._uptimes_due:  # shown again: current values from the start
            self.catch_up()
        return super().render_lines(crop)

    def get_cell(self, row_key: RowKey | str, column_key: ColumnKey | str) -> Text:
        if self._deferred or self._uptimes_due:
            self.catch_up()
        return super().get_cell(row_key, column_key)

    def _rows_to_write(self) -> Container[Any] | None:
        """The rows a tick writes now (None: all, when the rows are sorted by a ticked
        column); the others are marked `behind`."""
        if self.sort_column in TICKED:
            return None
        return self.visible_rows()

    def write_behind_row(self, key: str, *, repaint: bool) -> int:
        """Write the CPU, memory and uptime cells of a row marked `behind`."""
        info, cells = self.infos.get(key), self.row_cells.get(key)
        if info is None or cells is None or not info.running:
            return 0
        stats = self._stats.get(key, info.stats)
        written = self._put_stats(key, cells, info, stats, repaint) if stats is not None else 0
        return written + self._put_uptime(key, cells, info, self.clock(), repaint)

    def _apply_samples(
        self, host: str, stats: Mapping[str, ContainerStats], shown: Container[Any] | None
    ) -> int:
        written = 0
        infos, latest, rows, behind = self.infos, self._stats, self.row_cells, self.behind
        for cid, sample in stats.items():
            key = f"{host}/{cid}"
            info = infos.get(key)  # a row is shown for each
            if info is None or not info.running:
                continue
            latest[key] = sample
            if shown is not None and key not in shown:
                behind.add(key)
            elif (cells := rows.get(key)) is not None:
                written += self._put_stats(key, cells, info, sample, True)
        return written

    def _put(
        self,
        key: str,
        cells: Mapping[Any, Text],
        column: str,
        text: str,
        sort: Any,
        repaint: bool = True,
    ) -> bool:
        """`_set` of a right-aligned fixed-width cell (CPU, memory, uptime) for the per-tick
        paths: the new Cell is only made when the text changed."""
        current = cells[column]  # cells are keyed by ColumnKey, which equals its str
        if current.plain == text:
            if isinstance(current, Cell):
                current.sort_key = sort
            return False
        self.write_row_cell(key, cells, column, Cell(text, sort, right=True), repaint=repaint)
        return True

    def _put_stats(
        self,
        key: str,
        cells: Mapping[Any, Text],
        info: ContainerInfo,
        stats: ContainerStats,
        repaint: bool,
    ) -> int:
        used = stats.mem_used if stats.mem_used is not None else -1
        cpu = stats.cpu_percent or 0.0
        written = self._put(key, cells, "cpu", format_cpu(info, stats), cpu, repaint)
        mem = (used, info.memory_limit)
        return written + self._put(key, cells, "mem", format_memory(info, stats), mem, repaint)

    def _put_uptime(
        self, key: str, cells: Mapping[Any, Text], info: ContainerInfo, now: float, repaint: bool
    ) -> bool:
        seconds = info.uptime(now)
        text = humanize_duration(seconds) if seconds is not None else ""
        sort = seconds if seconds is not None else -1.0
        return self._put(key, cells, "uptime", text, sort, repaint)

    def tick(self) -> int:
        """Advance the uptime cells to the clock; return how many changed (a table not on
        screen does it when it is drawn again)."""
        if not self.is_on_screen:
            self._uptimes_due = True
            return 0
        written = self._tick_uptimes(self._rows_to_write())
        self.flush_cells()
        return written

    def _tick_uptimes(self, shown: Container[Any] | None) -> int:
        written = 0
        now, rows, behind = self.clock(), self.row_cells, self.behind
        for key, info in self.infos.items():  # a row is shown for each
            if not info.running:
                continue
            if shown is not None and key not in shown:
                behind.add(key)
            elif (cells := rows.get(key)) is not None:
                written += self._put_uptime(key, cells, info, now, True)
        return written

    # -- sorting -------------------------------------------------------------------------------
    def sort_by(self, column: str | None, *, reverse: bool = False) -> None:
        """Sort by one column (None: host, then name) and show the direction in its header."""
        self.sort_column, self.sort_reverse = column, reverse
        for spec in COLUMNS:
            self.columns[ColumnKey(spec.key)].label = self._header(spec)
        self._resort()

    def _resort(self) -> None:
        """Put rows in sort order.

        A cursor below the first row follows its container (the admin is looking at it); a
        cursor on the first row stays there, so the table opens at the top while the engine's
        first reconcile streams containers in.
        """
        selected = self.selected_key
        follow = self.cursor_row > 0
        columns = (self.sort_column,) if self.sort_column else DEFAULT_SORT
        if self.sort_column in TICKED:
            self.bring_up_to_date()

        def key(cells: Any) -> Any:
            values = cells if isinstance(cells, tuple) else (cells,)
            return tuple(getattr(v, "sort_key", str(v)) for v in values)

        self.sort(*columns, key=key, reverse=self.sort_reverse if self.sort_column else False)
        if follow and selected is not None and selected in self.infos:
            self.move_cursor(row=self.get_row_index(selected))
        elif self.selected_key != selected:
            self._announce()  # same cursor row, another container under it

    def on_data_table_header_selected(self, event: DataTable.HeaderSelected) -> None:
        event.stop()
        column = str(event.column_key.value)
        if column not in SORTABLE:
            return
        if column == self.sort_column:
            if self.sort_reverse:
                self.sort_by(None)
            else:
                self.sort_by(column, reverse=True)
        else:
            self.sort_by(column)

    def action_cycle_sort(self) -> None:
        keys = [None, *SORTABLE]
        index = keys.index(self.sort_column) if self.sort_column in keys else 0
        self.sort_by(keys[(index + 1) % len(keys)])

    # -- selection -----------------------------------------------------------------------------
    @property
    def selected_key(self) -> str | None:
        """Key of the row under the cursor, if any."""
        if not self.row_count:
            return None
        try:
            row_key, _ = self.coordinate_to_cell_key(self.cursor_coordinate)
        except CellDoesNotExist:
            return None
        return row_key.value

    @property
    def selected(self) -> ContainerInfo | None:
        key = self.selected_key
        info = self.infos.get(key) if key else None
        return self.current(info) if info is not None else None

    # -- marks and actions ---------------------------------------------------------------------
    def toggle_mark(self, key: str) -> None:
        """Mark or unmark one row."""
        if key not in self.infos:
            return
        if key in self.marked:
            self.marked.discard(key)
        else:
            self.marked.add(key)
        self._set(key, "mark", self._cells(self.infos[key])["mark"])
        self.flush_cells()

    def action_toggle_mark(self) -> None:
        """Mark or unmark the row under the cursor, and go to the next row."""
        key = self.selected_key
        if key is None:
            return
        self.toggle_mark(key)
        self.action_cursor_down()

    def targets(self) -> list[ContainerInfo]:
        """The marked containers in row order, else the one under the cursor."""
        if self.marked:
            return [self.current(self.infos[str(row.key.value)]) for row in self.ordered_rows
                    if row.key.value in self.marked]  # fmt: skip
        selected = self.selected
        return [selected] if selected is not None else []

    def action_container(self, verb: str) -> None:
        self.post_message(ContainerActionRequested(self, verb, self.targets()))

    def action_attach(self) -> None:
        """Attach to the container under the cursor (never the marked ones: one terminal)."""
        selected = self.selected
        self.post_message(
            ContainerActionRequested(self, "attach", [selected] if selected is not None else [])
        )

    def _announce(self) -> None:
        self.post_message(self.Selected(self, self.selected))

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        self._announce()
