"""A DataTable for many small cell changes: it repaints only the cells that changed and are
visible.

Textual's `DataTable.update_cell` is built for occasional edits: each call refreshes the whole
widget, and every edit invalidates the rendering of every cell (its caches are keyed by one
table-wide update counter), so one stats tick over 300 rows cost 600 refreshes and a re-render of
every visible cell. Here:

* `write_cell` only stores the new value; `flush_cells` then bumps the update counter once and
  asks for a repaint of just the regions of the changed cells that are on screen (a changed row
  scrolled out of view is drawn with its new value when it is scrolled in);
* `_render_cell` keeps each cell's last rendering with the value object it was made from and
  the style, size and position it was made for, and reuses it while they are the same, so a
  repainted row renders only its changed cells again.

Relies on DataTable internals of the pinned Textual version (`_data`, `_update_count`,
`_row_locations`, `_column_locations`, `_y_offsets`, `_render_cell`); the TUI tests check that
changed values are shown.
"""

from __future__ import annotations

from typing import Any

from rich.style import Style
from rich.text import Text
from textual.geometry import Region
from textual.strip import Strip
from textual.widgets import DataTable
from textual.widgets.data_table import CellDoesNotExist, ColumnKey, RowKey

SegmentLines = Any  # textual.widgets._data_table.SegmentLines (list of lines of segments)


class CellTable(DataTable[Text]):
    """A DataTable whose cells are written in batches and repainted one by one."""

    def __init__(self, **kwargs: Any) -> None:
        # Set before DataTable.__init__, whose reactive watchers call _clear_caches.
        self._pending_cells: list[tuple[RowKey, ColumnKey]] = []
        self._rendered_cells: dict[tuple[RowKey, ColumnKey], tuple[object, tuple[Any, ...], Any]]
        self._rendered_cells = {}
        self._pass_styles: dict[object, Style] | None = None
        super().__init__(**kwargs)

    # -- writes --------------------------------------------------------------------------------
    def write_cell(self, row_key: str, column_key: str, value: Text) -> None:
        """Store a cell's new value (fixed-width columns only); drawn by `flush_cells`."""
        row, column = RowKey(row_key), ColumnKey(column_key)
        cells = self._data.get(row)
        if cells is None or column not in self._column_locations:
            raise CellDoesNotExist(f"no cell at row {row_key!r}, column {column_key!r}")
        cells[column] = value
        self._pending_cells.append((row, column))

    def flush_cells(self) -> int:
        """Repaint the cells written since the last flush that are on screen; returns how many
        were written."""
        pending, self._pending_cells = self._pending_cells, []
        if not pending:
            return 0
        self._update_count += 1  # row renderables and line caches hold the old values
        window = self.window_region
        if not window.area:
            return len(pending)
        header = self.header_height if self.show_header else 0
        offsets = self._y_offsets
        visible: dict[RowKey, int] = {}
        for y in range(max(window.y, header), window.bottom):
            if 0 <= y - header < len(offsets):
                key, line = offsets[y - header]
                if line == 0:
                    visible[key] = y
        if not visible:
            return len(pending)
        x = self._row_label_column_width
        columns: dict[ColumnKey, tuple[int, int]] = {}
        for column in self.ordered_columns:
            width = column.get_render_width(self)
            columns[column.key] = (x, width)
            x += width
        for row, column_key in pending:
            top = visible.get(row)
            if top is None:
                continue
            cx, cw = columns[column_key]
            height = self.rows[row].height
            self.refresh(Region(cx, top, cw, height).translate(-self.scroll_offset))
        return len(pending)

    # -- rendering -----------------------------------------------------------------------------
    def render_lines(self, crop: Region) -> list[Strip]:
        # Styles cannot change while the lines of one pass are drawn: compute each once.
        self._pass_styles = {}
        try:
            return super().render_lines(crop)
        finally:
            self._pass_styles = None

    @property
    def rich_style(self) -> Style:
        memo = self._pass_styles
        if memo is None:
            return super().rich_style
        style = memo.get("")
        if style is None:
            style = memo[""] = super().rich_style
        return style

    def _get_row_style(self, row_index: int, base_style: Style) -> Style:
        memo = self._pass_styles
        if memo is None:
            return super()._get_row_style(row_index, base_style)
        kind = row_index if row_index < max(0, self.fixed_rows) else 2 + row_index % 2
        key = ("row", kind, base_style, self.zebra_stripes)
        style = memo.get(key)
        if style is None:
            style = memo[key] = super()._get_row_style(row_index, base_style)
        return style

    def _render_cell(
        self,
        row_index: int,
        column_index: int,
        base_style: Style,
        width: int,
        cursor: bool = False,
        hover: bool = False,
    ) -> SegmentLines:
        if row_index < 0 or column_index < 0:  # the header and row labels: as DataTable does
            return super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        row_key = self._row_locations.get_key(row_index)
        column_key = self._column_locations.get_key(column_index)
        if row_key is None or column_key is None:
            return super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        value = self._data.get(row_key, {}).get(column_key)
        made_for = (
            row_index,
            column_index,
            base_style,
            width,
            cursor,
            hover,
            self.show_cursor,
            self._show_hover_cursor,
            self._pseudo_class_state,
            self.rows[row_key].height,
            self.cell_padding,
        )
        key = (row_key, column_key)
        kept = self._rendered_cells.get(key)
        if kept is not None and kept[0] is value and kept[1] == made_for:
            return kept[2]
        lines = super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        self._rendered_cells[key] = (value, made_for, lines)
        return lines

    def _clear_caches(self) -> None:
        super()._clear_caches()
        self._rendered_cells.clear()

    def notify_style_update(self) -> None:
        self._rendered_cells.clear()
        super().notify_style_update()

    def clear(self, columns: bool = False) -> Any:
        self._pending_cells.clear()
        self._rendered_cells.clear()
        return super().clear(columns)

    def remove_row(self, row_key: RowKey | str) -> None:
        key = RowKey(row_key) if isinstance(row_key, str) else row_key
        for cell in [k for k in self._rendered_cells if k[0] == key]:
            del self._rendered_cells[cell]
        super().remove_row(row_key)
