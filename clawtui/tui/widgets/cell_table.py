"""A DataTable for many small cell changes: it repaints only the cells that changed and are
visible, and draws a changed line from cached pieces.

Textual's `DataTable.update_cell` is built for occasional edits: each call refreshes the whole
widget, and every edit invalidates the rendering of every cell (its caches are keyed by one
table-wide update counter), so one stats tick over 300 rows cost 600 refreshes and a re-render of
every visible cell. Here:

* `write_cell` only stores the new value; `flush_cells` then asks for a repaint of just the
  regions of the changed cells that are on screen (one region per run of rows with the same
  changed columns); a changed row scrolled out of view is drawn with its new value when it is
  scrolled in (its line is checked against its cells' values whenever it is drawn);
* each line is kept with the cells' values (by identity) and the state it was drawn in (row
  position, cursor or hover on it, widths, focus, ...), and reused while they are the same;
* a line that must be drawn again is put together here from its cells (for a row cursor with no
  fixed columns and no row labels, as DataTable does it; otherwise DataTable draws it), reusing
  the segments of the cells whose value did not change; a cell drawn anew is rendered by rich
  once per content (text, styles, width, row style, cursor/hover), or once per length for a
  plain text (`cell_text`), and then given its position's mouse metadata;
* such a line is joined from the cells' simplified segments and, when nothing is cropped or
  padded (no sideways scroll), made a Strip of known length, without measuring and
  simplifying the whole line again; the values that are the same for every line of a pass
  (size, scroll offset, fixed rows' height, styles) are computed once per pass;
* The layout caches DataTable keys by its update counter (line offsets, ordered rows) are kept
  while only cell values change;
* a subclass may leave the rows out of view unwritten and mark them `behind`: they are written
  (`write_behind_row`) when they are drawn, before any cell is read through DataTable's
  getters, or when the subclass asks (`bring_up_to_date`, e.g. before sorting by them).

`tests/tui/test_table_repaint.py` checks that every line drawn here equals DataTable's own.
Relies on DataTable internals of the pinned Textual version (8.2): `_data`, `_update_count`,
`_row_locations`, `_column_locations`, `_y_offsets`, `_get_offsets`, `_header_row_key`,
`render_line`, `_render_line`, `_render_cell`, `_get_row_style`, `_get_styles_to_render_cell`,
`_labelled_row_exists`, `_row_label_column_width`, `_show_hover_cursor`, `_pseudo_class_state`,
`_clear_caches`, `_offset_cache`, `_ordered_row_cache`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, cast

from rich.cells import cell_len
from rich.padding import Padding
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual._segment_tools import line_crop
from textual.coordinate import Coordinate
from textual.geometry import Region
from textual.renderables.styled import Styled
from textual.strip import Strip
from textual.widgets import DataTable
from textual.widgets.data_table import CellDoesNotExist, ColumnKey, RowKey

from clawtui.tui.widgets.cell_text import SegmentLines, TextCells

_STATE = "state"
_FRAME = "frame"
_CONTEXT = "context"


class CellTable(DataTable[Text]):
    """A DataTable whose cells are written in batches and repainted one by one."""

    def __init__(self, **kwargs: Any) -> None:
        # Set before DataTable.__init__, whose reactive watchers call _clear_caches.
        self._pending_cells: list[tuple[RowKey | str, ColumnKey | str]] = []
        self._rendered_cells: dict[tuple[RowKey, ColumnKey], tuple[object, tuple[Any, ...], Any]]
        self._rendered_cells = {}
        self._texts = TextCells()
        self._metas: dict[tuple[int, int, bool], Style] = {}
        self._row_lines: dict[tuple[RowKey, int], tuple[Any, tuple[Any, ...], Strip, list[Any]]]
        self._row_lines = {}
        self._pass_styles: dict[object, Any] | None = None
        self._layout_count = 0
        self._cells_only = False
        self._layout_offsets: tuple[int, Any] = (-1, None)
        self._layout_rows: tuple[int, int, Any] = (-1, -1, None)
        self.__update_count = 0
        self.behind: set[str] = set()
        """Rows whose cells lag what they show: a subclass marks a row it did not write
        because it was out of view, and writes it in `write_behind_row` when it is drawn or
        read (`bring_up_to_date`)."""
        super().__init__(**kwargs)

    @property
    def _update_count(self) -> int:
        """DataTable's cache generation. Every change DataTable makes bumps it, and with it
        `_layout_count` (the generation of what is cached here); `flush_cells` bumps it alone."""
        return self.__update_count

    @_update_count.setter
    def _update_count(self, value: int) -> None:
        self.__update_count = value
        if not self._cells_only:
            self._layout_count += 1

    @property
    def _y_offsets(self) -> list[tuple[RowKey, int]]:
        count, offsets = self._layout_offsets
        if count != self._layout_count or offsets is None or not self._offset_cache:
            offsets = DataTable._y_offsets.fget(self)  # type: ignore[attr-defined]
            self._layout_offsets = (self._layout_count, offsets)
        return cast(list[tuple[RowKey, int]], offsets)

    @property
    def ordered_rows(self) -> Any:
        count, rows, ordered = self._layout_rows
        stale = count != self._layout_count or rows != self.row_count
        if stale or ordered is None or not self._ordered_row_cache:
            ordered = DataTable.ordered_rows.fget(self)  # type: ignore[attr-defined]
            self._layout_rows = (self._layout_count, self.row_count, ordered)
        return ordered

    @property
    def row_cells(self) -> Mapping[str, Mapping[str, Text]]:
        """The cells of each row by row key, then column key (the table's own storage: read
        only; RowKey and ColumnKey equal their strings)."""
        return cast(Mapping[str, Mapping[str, Text]], self._data)

    # -- writes --------------------------------------------------------------------------------
    def write_cell(self, row_key: str, column_key: str, value: Text) -> None:
        """Store a cell's new value (fixed-width columns only); drawn by `flush_cells`."""
        row, column = RowKey(row_key), ColumnKey(column_key)
        cells = self._data.get(row)
        if cells is None or column not in self._column_locations:
            raise CellDoesNotExist(f"no cell at row {row_key!r}, column {column_key!r}")
        cells[column] = value
        self._pending_cells.append((row, column))

    def write_row_cell(
        self,
        row_key: str,
        cells: Mapping[str, Text],
        column_key: str,
        value: Text,
        *,
        repaint: bool = True,
    ) -> None:
        """`write_cell` for a caller holding the row's cells (`row_cells[row_key]`) and an
        existing fixed-width column: no key objects made, no lookups. `repaint=False`: the
        caller is about to draw the row anyway (its line is checked against its cells)."""
        cast(dict[str, Text], cells)[column_key] = value  # replaces the value, keeps the key
        if repaint:
            self._pending_cells.append((row_key, column_key))  # str keys equal their Keys

    def visible_rows(self) -> dict[str, int]:
        """The rows with a line in the table's scroll window, by key (as a string, which
        equals its RowKey): the y of the row's first line in the table's content, header
        included."""
        window = self.window_region
        if not window.area:
            return {}
        header = self.header_height if self.show_header else 0
        offsets = self._y_offsets
        visible: dict[str, int] = {}
        for y in range(max(window.y, header), min(window.bottom, header + len(offsets))):
            key, line = offsets[y - header]
            name = cast(str, key.value)
            if name not in visible:
                visible[name] = y - line
        return visible

    def write_behind_row(self, key: str, *, repaint: bool) -> int:
        """Write the cells of a row marked `behind`; returns how many changed (a subclass
        that marks rows writes them here)."""
        return 0

    def bring_up_to_date(self, keys: Iterable[Any] | None = None, *, repaint: bool = True) -> int:
        """Write the rows among `keys` (None: all) that are `behind`; returns how many cells
        changed. `repaint=False`: the rows are being drawn now."""
        behind = self.behind
        if not behind:
            return 0
        if keys is None:
            keys, self.behind = behind, set()
        written = 0
        for row in keys:
            key = row if isinstance(row, str) else row.value  # a str or a RowKey
            if keys is not behind:
                if key not in behind:
                    continue
                behind.discard(key)
            written += self.write_behind_row(key, repaint=repaint)
        return written

    # Every read of cells sees current values.
    def get_cell(self, row_key: RowKey | str, column_key: ColumnKey | str) -> Text:
        if self.behind:
            self.bring_up_to_date((row_key,))
        return super().get_cell(row_key, column_key)

    def get_cell_at(self, coordinate: Coordinate) -> Text:
        self.bring_up_to_date()
        return super().get_cell_at(coordinate)

    def get_row(self, row_key: RowKey | str) -> list[Text]:
        self.bring_up_to_date()
        return super().get_row(row_key)

    def get_row_at(self, row_index: int) -> list[Text]:
        self.bring_up_to_date()
        return super().get_row_at(row_index)

    def get_column(self, column_key: ColumnKey | str) -> Iterable[Text]:
        self.bring_up_to_date()
        return super().get_column(column_key)

    def get_column_at(self, column_index: int) -> Iterable[Text]:
        self.bring_up_to_date()
        return super().get_column_at(column_index)

    def flush_cells(self) -> int:
        """Repaint the cells written since the last flush that are on screen; returns how many
        were written."""
        pending, self._pending_cells = self._pending_cells, []
        if not pending:
            return 0
        self._cells_only = True  # DataTable's caches hold the old values; the lines kept
        try:  # here are checked against their cells' values when drawn
            self._update_count += 1
        finally:
            self._cells_only = False
        visible: Mapping[Any, int] = self.visible_rows()  # a RowKey finds its string
        if not visible:
            return len(pending)
        x = self._row_label_column_width
        columns: dict[ColumnKey | str, tuple[int, int]] = {}
        for column in self.ordered_columns:
            width = column.get_render_width(self)
            columns[column.key] = (x, x + width)
            x += width
        spans: dict[int, tuple[int, int, int]] = {}  # top -> (left, right, height)
        rows: Mapping[Any, Any] = self.rows
        for row, column_key in pending:
            top = visible.get(row)
            if top is None:
                continue
            left, right = columns[column_key]
            kept = spans.get(top)
            if kept is not None:
                left, right = min(left, kept[0]), max(right, kept[1])
            spans[top] = (left, right, rows[row].height)
        regions: list[Region] = []
        run: list[int] | None = None  # left, right, top, bottom of rows drawn as one region
        for top in sorted(spans):
            left, right, height = spans[top]
            if run is not None and run[0] == left and run[1] == right and run[3] == top:
                run[3] = top + height
                continue
            if run is not None:
                regions.append(Region(run[0], run[2], run[1] - run[0], run[3] - run[2]))
            run = [left, right, top, top + height]
        if run is not None:
            regions.append(Region(run[0], run[2], run[1] - run[0], run[3] - run[2]))
        offset = self.scroll_offset
        self.refresh(*(region.translate(-offset) for region in regions))
        return len(pending)

    # -- rendering -----------------------------------------------------------------------------
    def render_lines(self, crop: Region) -> list[Strip]:
        if self.behind:  # rows scrolled in (a scroll repaints the whole table)
            self.bring_up_to_date(self.visible_rows(), repaint=False)
        # Styles cannot change while the lines of one pass are drawn: compute each once.
        self._pass_styles = {}
        try:
            return super().render_lines(crop)
        finally:
            self._pass_styles = None

    def render_line(self, y: int) -> Strip:
        """DataTable's `render_line`, with what is the same for every line of a pass (the
        size, the scroll offset and the height of the fixed rows) computed once."""
        memo = self._pass_styles
        if memo is None:
            return super().render_line(y)
        frame = memo.get(_FRAME)
        if frame is None:
            scroll_x, scroll_y = self.scroll_offset
            fixed = 0
            for index in range(self.fixed_rows):
                fixed += self.get_row_height(cast(RowKey, self._row_locations.get_key(index)))
            if self.show_header:
                fixed += self.get_row_height(self._header_row_key)
            frame = memo[_FRAME] = (self.size.width, scroll_x, scroll_y, fixed)
        width, scroll_x, scroll_y, fixed = frame
        if y >= fixed:
            y += scroll_y
        return self._render_line(y, scroll_x, scroll_x + width, self.rich_style)

    @property
    def rich_style(self) -> Style:
        memo = self._pass_styles
        if memo is None:
            return super().rich_style
        style = memo.get("")
        if style is None:
            style = memo[""] = super().rich_style
        return style

    def _table_state(self) -> tuple[Any, ...]:
        """What every line of the table is drawn with (computed once per pass); its last two
        items are the ordered columns and their widths."""
        memo = self._pass_styles
        if memo is not None and (state := memo.get(_STATE)) is not None:
            return state  # type: ignore[no-any-return]
        columns = tuple(self.ordered_columns)
        state = (
            self._layout_count,
            self.size.width,
            self.show_cursor,
            self._show_hover_cursor,
            self._pseudo_class_state,
            self.zebra_stripes,
            self.fixed_rows,
            self.cell_padding,
            self.header_height,
            self.cursor_foreground_priority,
            self.cursor_background_priority,
            self._row_label_column_width,
            columns,
            tuple(column.get_render_width(self) for column in columns),
        )
        if memo is not None:
            memo[_STATE] = state
        return state

    def _line_context(self) -> tuple[bool, tuple[Any, ...], tuple[str, ...], int, int]:
        """Per pass: whether lines are drawn here (a row cursor, no fixed columns, no row
        labels), the table state, the column keys, and the cursor's and hover's rows."""
        memo = self._pass_styles
        if memo is not None and (context := memo.get(_CONTEXT)) is not None:
            return context  # type: ignore[no-any-return]
        state = self._table_state()
        context = (
            self.cursor_type == "row" and not self.fixed_columns and not self._labelled_row_exists,
            state,
            tuple(column.key.value for column in state[-2]),
            self.cursor_coordinate.row,
            self.hover_coordinate.row,
        )
        if memo is not None:
            memo[_CONTEXT] = context
        return context

    def _render_line(self, y: int, x1: int, x2: int, base_style: Style) -> Strip:
        """One line of the table: kept per row with the values of its cells and the state it
        was drawn in; drawn again only when one of them changed."""
        drawn_here, state, column_keys, cursor_row, hover_row = self._line_context()
        if not drawn_here:
            return super()._render_line(y, x1, x2, base_style)
        try:
            row_key, line_no = self._get_offsets(y)
        except LookupError:
            return super()._render_line(y, x1, x2, base_style)
        columns = state[-2]
        if row_key is self._header_row_key:
            index = -1
            values: tuple[Any, ...] = tuple(column.label for column in columns)
        else:
            found = self._row_locations.get(row_key)
            if found is None:
                return super()._render_line(y, x1, x2, base_style)
            index = found
            cells = cast(dict[str, Text], self._data[row_key])  # str keys equal ColumnKeys
            values = tuple(cells.get(key) for key in column_keys)
        cursor = index == cursor_row
        hover = index == hover_row
        made_for = (index, x1, x2, base_style, cursor, hover, state)
        key = (row_key, line_no)
        kept = self._row_lines.get(key)
        same = None  # the cells whose value is the one the kept line was drawn with
        if kept is not None and kept[0] == made_for:
            same = [a is b for a, b in zip(kept[1], values, strict=True)]
            if all(same):
                return kept[2]
        pieces: list[Any] = [None] * len(values)
        if same is not None and kept is not None:
            pieces = [piece if keep else None for piece, keep in zip(kept[3], same, strict=True)]
        strip = self._draw_line(index, line_no, x1, x2, base_style, cursor, hover, state, pieces)
        self._row_lines[key] = (made_for, values, strip, pieces)
        return strip

    def _draw_line(
        self,
        index: int,
        line_no: int,
        x1: int,
        x2: int,
        base_style: Style,
        cursor: bool,
        hover: bool,
        state: tuple[Any, ...],
        pieces: list[Any],
    ) -> Strip:
        """One line of a row (index -1: the header), as DataTable's `_render_line_in_row` and
        `_render_line` draw it for a row cursor without fixed columns or row labels. `pieces`
        holds the segments of the cells that did not change since the line was last drawn
        (None for the others), and is filled in."""
        widths: tuple[int, ...] = state[-1]
        row_style = self._get_row_style(index, base_style)
        segments: list[Segment] = []
        simplified = True  # every piece is simplified and has no control segment
        for column_index, width in enumerate(widths):
            piece = pieces[column_index]
            if piece is None:
                lines = self._render_cell(index, column_index, row_style, width, cursor, hover)
                piece = pieces[column_index] = _simplified(lines[line_no])
            if simplified and type(piece) is list:
                _join(segments, piece)
            else:
                simplified = False
                segments.extend(piece)
        width = state[1]
        used = sum(widths) + state[11]  # the row labels' width
        extend, _ = self._get_styles_to_render_cell(
            index == -1, False, False, hover, cursor, self.show_cursor,
            self._show_hover_cursor, False, False,
        )  # fmt: skip
        extend = row_style + extend + self._meta(index, 0, out_of_bounds=True)
        tail = Segment(" " * max(0, width - used), extend)
        if simplified and x1 == 0 and used <= width and segments and cell_len(segments[0].text):
            # Nothing to crop or pad: what line_crop, adjust_cell_length and simplify
            # would make of it, without measuring every segment again.
            _join(segments, (tail,))
            return Strip(segments, width)
        segments.append(tail)
        strip = Strip(line_crop(segments, x1, x2, width))
        return strip.adjust_cell_length(width, base_style).simplify()

    def _meta(self, row: int, column: int, *, out_of_bounds: bool = False) -> Style:
        """The mouse metadata of a cell (or of the blank past the last column)."""
        key = (row, column, out_of_bounds)
        meta = self._metas.get(key)
        if meta is None:
            data: dict[str, Any] = {"row": row, "column": column}
            if out_of_bounds:
                data["out_of_bounds"] = True
            meta = self._metas[key] = Style.from_meta(data)
        return meta

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
        made_for = (row_index, column_index, base_style, width, cursor, hover, self._table_state())
        key = (row_key, column_key)
        kept = self._rendered_cells.get(key)
        if kept is not None and kept[0] is value and kept[1] == made_for:
            return cast(SegmentLines, kept[2])
        if isinstance(value, Text):
            lines = self._render_text(
                row_key, value, row_index, column_index, base_style, width, cursor, hover
            )
        else:
            lines = super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        self._rendered_cells[key] = (value, made_for, lines)
        return lines

    def _render_text(
        self,
        row_key: RowKey,
        value: Text,
        row_index: int,
        column_index: int,
        base_style: Style,
        width: int,
        cursor: bool,
        hover: bool,
    ) -> SegmentLines:
        """DataTable's `_render_cell` of a Text cell: rendered by rich once per content and
        look, or per length for a plain text (`cell_text.TextCells`), then given the mouse
        metadata of its position."""
        fixed = row_index < self.fixed_rows or column_index < self.fixed_columns
        height = self.rows[row_key].height
        look = (base_style, width, cursor, hover, fixed, height, self._table_state()[:-2])

        def render(text: Text) -> SegmentLines:
            component_style, post_style = self._get_styles_to_render_cell(
                False, False, fixed, hover, cursor, self.show_cursor, self._show_hover_cursor,
                self.cursor_foreground_priority == "css",
                self.cursor_background_priority == "css",
            )  # fmt: skip
            if height == 0:  # an auto-height row not measured yet
                options = self.app.console_options.update_width(width)
            else:
                options = self.app.console_options.update_dimensions(width, height)
            if height == 1:
                options = options.update(no_wrap=True)
            return self.app.console.render_lines(
                Styled(
                    Padding(text, (0, self.cell_padding)),
                    pre_style=base_style + component_style,
                    post_style=post_style,
                ),
                options,
            )

        lines = self._texts.lines(value, look, width - 2 * self.cell_padding, render)
        meta = self._meta(row_index, column_index)
        return [
            [Segment(text, None if control else (style + meta if style else meta), control)
             for text, style, control in line]
            for line in lines
        ]  # fmt: skip

    def _clear_caches(self) -> None:
        super()._clear_caches()
        self._forget_drawings()

    def _forget_drawings(self) -> None:
        self._rendered_cells.clear()
        self._texts.clear()
        self._row_lines.clear()

    def notify_style_update(self) -> None:
        self._forget_drawings()
        super().notify_style_update()

    def clear(self, columns: bool = False) -> Any:
        self._pending_cells.clear()
        self.behind.clear()
        self._forget_drawings()
        return super().clear(columns)

    def remove_row(self, row_key: RowKey | str) -> None:
        key = RowKey(row_key) if isinstance(row_key, str) else row_key
        for cell in [k for k in self._rendered_cells if k[0] == key]:
            del self._rendered_cells[cell]
        for line in [k for k in self._row_lines if k[0] == key]:
            del self._row_lines[line]
        self.behind.discard(key.value)
        super().remove_row(row_key)


def _simplified(segments: list[Segment]) -> list[Segment] | tuple[Segment, ...]:
    """A cell's line with neighbouring segments of the same style joined (Segment.simplify);
    one holding a control segment is kept as it is, as a tuple (simplified with its line)."""
    if any(segment.control for segment in segments):
        return tuple(segments)
    return list(Segment.simplify(segments))


def _join(line: list[Segment], piece: Sequence[Segment]) -> None:
    """Append a simplified piece to a simplified line, joining the segments at the seam as
    Segment.simplify does."""
    if line and piece and line[-1].style == piece[0].style:
        last = line[-1]
        line[-1] = Segment(last.text + piece[0].text, last.style)
        line.extend(piece[1:])
    else:
        line.extend(piece)
