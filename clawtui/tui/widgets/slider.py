"""`MemorySlider`: a one-line slider for a memory limit, in bytes, snapping to a step.

Textual has no slider. This one follows the anatomy of Textual's own `Switch` (bindings with a
key table, `DEFAULT_CSS` in theme variables only, reactives with docstrings, a nested `Changed`
message with a `control` property) and drags like Textual's scrollbar: MouseDown captures the
mouse and jumps to the clicked cell, MouseMove while captured drags, MouseUp releases.

Besides the value it knows two more things a memory panel needs: the `applied` limit (what the
container has now; `dirty` says the value differs from it) and the `usage`, drawn as a marker
on the track so one can see where the kernel would start killing. The applied limit is always
a valid position even when it is not a multiple of the step, so showing a container's current
limit never counts as a change.
"""

from __future__ import annotations

from typing import ClassVar

from rich.style import Style
from rich.text import Text
from textual import events
from textual.app import RenderResult
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.widget import Widget

MIB = 1024 * 1024
GIB = 1024 * MIB


def format_size(value: int) -> str:
    """'768 MiB', '1.5 GiB': what the slider's label shows."""
    if value >= GIB:
        return f"{value / GIB:.2f}".rstrip("0").rstrip(".") + " GiB"
    return f"{value / MIB:.0f} MiB"


class MemorySlider(Widget, can_focus=True):
    """A horizontal slider over [minimum, maximum] bytes that snaps to `step`.

    Drag it with the mouse (click jumps), or use the keys in `BINDINGS`. Every change of the
    value posts `MemorySlider.Changed`.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("left", "step(-1)", "Less", id="slider.decrease", show=False),
        Binding("right", "step(1)", "More", id="slider.increase", show=False),
        Binding("pagedown", "page(-1)", "Less (1 GiB)", id="slider.page_down", show=False),
        Binding("pageup", "page(1)", "More (1 GiB)", id="slider.page_up", show=False),
        Binding("home", "to_minimum", "Minimum", id="slider.minimum", show=False),
        Binding("end", "to_maximum", "Maximum", id="slider.maximum", show=False),
    ]
    """
    | Key(s) | Description |
    | :- | :- |
    | left / right | One step (64 MiB by default) down / up. |
    | pagedown / pageup | `PAGE_STEPS` steps (1 GiB at 64 MiB) down / up. |
    | home / end | The minimum / the maximum. |
    """

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "memory-slider--fill",
        "memory-slider--track",
        "memory-slider--thumb",
        "memory-slider--usage",
        "memory-slider--label",
    }
    """
    | Class | Description |
    | :- | :- |
    | `memory-slider--fill` | The track from the minimum to the value. |
    | `memory-slider--track` | The track from the value to the maximum. |
    | `memory-slider--thumb` | The handle at the value. |
    | `memory-slider--usage` | The marker at the current usage. |
    | `memory-slider--label` | The value, right of the track. |
    """

    DEFAULT_CSS = """
    MemorySlider {
        width: 1fr;
        height: 1;
        pointer: pointer;
        & > .memory-slider--fill { color: $primary; }
        & > .memory-slider--track { color: $panel-lighten-2; }
        & > .memory-slider--thumb { color: $foreground; text-style: bold; }
        & > .memory-slider--usage { color: $warning; text-style: bold; }
        & > .memory-slider--label { color: $text-muted; }
        &:focus {
            & > .memory-slider--thumb { color: $accent; }
            & > .memory-slider--label { color: $text; }
        }
        &.-dirty > .memory-slider--label { color: $warning; text-style: bold; }
        &.-dragging > .memory-slider--thumb { color: $accent; }
        &:disabled > .memory-slider--fill { color: $panel-lighten-2; }
    }
    """

    LABEL_WIDTH: ClassVar[int] = 9
    """Cells for the value label (plus one space before it)."""
    PAGE_STEPS: ClassVar[int] = 16
    """Steps per pageup / pagedown (16 x 64 MiB = 1 GiB)."""

    minimum: reactive[int] = reactive(0, init=False)
    """Lowest value, bytes."""
    maximum: reactive[int] = reactive(0, init=False)
    """Highest value, bytes."""
    step: reactive[int] = reactive(64 * MIB, init=False)
    """Values snap to multiples of this (the applied limit excepted)."""
    applied: reactive[int] = reactive(0, init=False)
    """The limit in place now; the value differs from it when the slider is `dirty`."""
    usage: reactive[int | None] = reactive(None, init=False)
    """Memory in use, drawn as a marker on the track (None: not known)."""
    value: reactive[int] = reactive(0, init=False)
    """The chosen limit, bytes: snapped to `step` and clamped to [minimum, maximum]."""

    class Changed(Message):
        """Posted whenever the value changes (drag, click, key or code)."""

        def __init__(self, slider: MemorySlider, value: int) -> None:
            super().__init__()
            self.slider = slider
            self.value = value

        @property
        def control(self) -> MemorySlider:
            """Alias for self.slider."""
            return self.slider

    def __init__(
        self,
        value: int,
        *,
        minimum: int,
        maximum: int,
        step: int = 64 * MIB,
        applied: int | None = None,
        usage: int | None = None,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
        disabled: bool = False,
    ) -> None:
        """A slider at `value` (also the applied limit unless `applied` is given)."""
        super().__init__(name=name, id=id, classes=classes, disabled=disabled)
        self.set_reactive(MemorySlider.step, max(1, step))
        self.set_reactive(MemorySlider.minimum, max(0, minimum))
        self.set_reactive(MemorySlider.maximum, max(self.minimum, maximum))
        self.set_reactive(MemorySlider.applied, value if applied is None else applied)
        self.set_reactive(MemorySlider.usage, usage)
        self.set_reactive(MemorySlider.value, self.validate_value(value))

    # -- state ---------------------------------------------------------------------------------
    @property
    def dirty(self) -> bool:
        """The value differs from the applied limit (a change not applied yet)."""
        return self.value != self.applied

    @property
    def dragging(self) -> bool:
        """The mouse is captured by this slider (a drag is under way)."""
        return self.is_attached and self.app.mouse_captured is self

    def _bounds(self) -> tuple[int, int]:
        """The lowest and highest values on the step grid inside [minimum, maximum]."""
        step = self.step
        low = -(-self.minimum // step) * step
        high = self.maximum - self.maximum % step
        return low, high

    def validate_value(self, value: int) -> int:
        value = int(value)
        if value == self.applied and self.minimum <= value <= self.maximum:
            return value
        low, high = self._bounds()
        if high < low:  # no grid point in range: only the applied limit or the minimum
            return self.applied if self.minimum <= self.applied <= self.maximum else self.minimum
        snapped = round(value / self.step) * self.step
        return min(max(snapped, low), high)

    def validate_step(self, step: int) -> int:
        return max(1, int(step))

    def validate_minimum(self, minimum: int) -> int:
        return max(0, int(minimum))

    def validate_maximum(self, maximum: int) -> int:
        return max(self.minimum, int(maximum))

    def _revalidate(self) -> None:
        self.value = self.value
        self._update_classes()

    def watch_minimum(self) -> None:
        if self.maximum < self.minimum:
            self.maximum = self.minimum
        self._revalidate()

    def watch_maximum(self) -> None:
        self._revalidate()

    def watch_step(self) -> None:
        self._revalidate()

    def watch_applied(self) -> None:
        self._update_classes()

    def watch_value(self, value: int) -> None:
        self._update_classes()
        self.post_message(self.Changed(self, value))

    def _update_classes(self) -> None:
        self.set_class(self.dirty, "-dirty")

    def on_mount(self) -> None:
        self._update_classes()

    # -- keys ----------------------------------------------------------------------------------
    def action_step(self, direction: int) -> None:
        """To the next grid point below (-1) or above (+1) the value."""
        step = self.step
        if direction > 0:
            self.value = (self.value // step + 1) * step
        else:
            self.value = (-(-self.value // step) - 1) * step

    def action_page(self, direction: int) -> None:
        """`PAGE_STEPS` steps down (-1) or up (+1)."""
        step = self.step
        base = -(-self.value // step) * step if direction > 0 else self.value - self.value % step
        self.value = base + direction * self.PAGE_STEPS * step

    def action_to_minimum(self) -> None:
        self.value = self.minimum

    def action_to_maximum(self) -> None:
        self.value = self.maximum

    # -- mouse (the pattern of textual's scrollbar) --------------------------------------------
    @property
    def track_width(self) -> int:
        """Cells of the track (the content width less the label)."""
        return max(2, self.content_region.width - self.LABEL_WIDTH - 1)

    def value_at(self, x: int) -> int:
        """The (unsnapped) value under track cell `x` (clamped to the track)."""
        last = self.track_width - 1
        x = min(max(x, 0), last)
        return self.minimum + round((self.maximum - self.minimum) * x / last)

    def column_of(self, value: int) -> int:
        """The track cell that shows `value`."""
        span = self.maximum - self.minimum
        if span <= 0:
            return 0
        last = self.track_width - 1
        return min(max(round((value - self.minimum) * last / span), 0), last)

    def _jump(self, event: events.MouseEvent) -> None:
        self.value = self.value_at(event.get_content_offset_capture(self).x)

    def on_mouse_down(self, event: events.MouseDown) -> None:
        event.stop()
        if self.disabled or event.button != 1:
            return
        self.capture_mouse()
        self._jump(event)

    def on_mouse_move(self, event: events.MouseMove) -> None:
        if self.dragging:
            event.stop()
            self._jump(event)

    def on_mouse_up(self, event: events.MouseUp) -> None:
        event.stop()
        if self.dragging:
            self.release_mouse()

    def on_mouse_capture(self, event: events.MouseCapture) -> None:
        self.add_class("-dragging")

    def on_mouse_release(self, event: events.MouseRelease) -> None:
        self.remove_class("-dragging")

    def on_hide(self, event: events.Hide) -> None:
        if self.dragging:
            self.release_mouse()

    def on_click(self, event: events.Click) -> None:
        event.stop()  # the jump happened on MouseDown

    # -- drawing -------------------------------------------------------------------------------
    def _style(self, part: str) -> Style:
        return self.get_component_rich_style(f"memory-slider--{part}")

    def render(self) -> RenderResult:
        width = self.track_width
        thumb = self.column_of(self.value)
        usage = self.usage
        shown = usage is not None and self.minimum <= usage <= self.maximum
        marker = self.column_of(usage) if shown and usage is not None else None
        fill, track = self._style("fill"), self._style("track")
        text = Text(no_wrap=True, end="")
        for x in range(width):
            if x == thumb:
                text.append("●", self._style("thumb"))
            elif x == marker:
                text.append("┃", self._style("usage"))
            elif x < thumb:
                text.append("━", fill)
            else:
                text.append("─", track)
        label = format_size(self.value).rjust(self.LABEL_WIDTH)
        text.append(" " + label, self._style("label"))
        return text

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return 1
