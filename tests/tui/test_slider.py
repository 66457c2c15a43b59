"""The MemorySlider on its own: drag, click, keys, snapping, clamping, Changed messages."""

from __future__ import annotations

from typing import ClassVar

import pytest
from textual.app import App, ComposeResult
from textual.message import Message

from clawtui.tui.widgets.slider import MemorySlider, format_size

pytestmark = pytest.mark.tui

MIB = 1024 * 1024
GIB = 1024 * MIB
STEP = 64 * MIB


class SliderApp(App[None]):
    """One slider, 60 cells wide: a 50-cell track over 256 MiB .. 4 GiB."""

    CSS: ClassVar[str] = "MemorySlider { width: 60; }"

    def __init__(self, value: int = 512 * MIB, **kw: int) -> None:
        super().__init__()
        self.kw = {"minimum": 256 * MIB, "maximum": 4 * GIB, **kw}
        self.start_value = value

    def compose(self) -> ComposeResult:
        yield MemorySlider(self.start_value, **self.kw)

    @property
    def slider(self) -> MemorySlider:
        return self.query_one(MemorySlider)


def changes(messages: list[Message]) -> list[int]:
    """Values of the Changed messages, each once (the hook sees a message at every hop as it
    bubbles up)."""
    seen: set[int] = set()
    out: list[int] = []
    for m in messages:
        if isinstance(m, MemorySlider.Changed) and id(m) not in seen:
            seen.add(id(m))
            out.append(m.value)
    return out


async def test_drag_changes_the_value_snapped_to_the_step() -> None:
    messages: list[Message] = []
    app = SliderApp()
    async with app.run_test(size=(80, 5), message_hook=messages.append) as pilot:
        slider = app.slider
        assert slider.track_width == 50
        start = slider.column_of(slider.value)
        await pilot.mouse_down(slider, offset=(start, 0))
        assert slider.dragging
        assert slider.has_class("-dragging")
        await pilot.hover(slider, offset=(30, 0))
        assert slider.dragging
        expected = round(slider.value_at(30) / STEP) * STEP
        assert slider.value == expected
        # Dragging past the end of the track (off the widget) clamps to the maximum.
        await pilot.hover(slider, offset=(70, 0))
        assert slider.value == 4 * GIB
        await pilot.hover(slider, offset=(20, 0))
        await pilot.mouse_up(slider, offset=(20, 0))
        await pilot.pause()
        assert not slider.dragging
        assert not slider.has_class("-dragging")
        assert slider.value % STEP == 0
        assert slider.value == round(slider.value_at(20) / STEP) * STEP
        assert slider.dirty
        seen = changes(messages)
        assert seen[-1] == slider.value
        assert 4 * GIB in seen and expected in seen
        assert all(
            isinstance(m.control, MemorySlider)
            for m in messages
            if isinstance(m, MemorySlider.Changed)
        )
        # A move after the release drags nothing.
        await pilot.hover(slider, offset=(45, 0))
        assert slider.value == round(slider.value_at(20) / STEP) * STEP


async def test_click_jumps_to_the_position() -> None:
    app = SliderApp()
    async with app.run_test(size=(80, 5)) as pilot:
        slider = app.slider
        await pilot.click(slider, offset=(49, 0))
        assert slider.value == 4 * GIB
        await pilot.click(slider, offset=(0, 0))
        assert slider.value == 256 * MIB
        await pilot.click(slider, offset=(25, 0))
        assert slider.value == round(slider.value_at(25) / STEP) * STEP
        assert not slider.dragging
        assert app.focused is slider


async def test_keys_step_page_and_ends() -> None:
    messages: list[Message] = []
    app = SliderApp()
    async with app.run_test(size=(80, 5), message_hook=messages.append) as pilot:
        slider = app.slider
        slider.focus()
        await pilot.press("right")
        assert slider.value == 576 * MIB
        await pilot.press("left", "left")
        assert slider.value == 448 * MIB
        await pilot.press("pageup")
        assert slider.value == 448 * MIB + GIB
        await pilot.press("pagedown", "pagedown")
        assert slider.value == 256 * MIB  # clamped at the minimum
        await pilot.press("end")
        assert slider.value == 4 * GIB
        await pilot.press("right")
        assert slider.value == 4 * GIB  # clamped at the maximum
        await pilot.press("home")
        assert slider.value == 256 * MIB
        await pilot.pause()
        assert changes(messages) == [
            576 * MIB,
            512 * MIB,
            448 * MIB,
            448 * MIB + GIB,
            448 * MIB + GIB - GIB,
            256 * MIB,
            4 * GIB,
            256 * MIB,
        ]


async def test_values_snap_and_clamp_and_the_applied_limit_is_kept() -> None:
    app = SliderApp(value=500 * MIB, minimum=200 * MIB, maximum=3000 * MIB)
    async with app.run_test(size=(80, 5)) as pilot:
        slider = app.slider
        assert slider.value == 500 * MIB  # the applied limit, though off the grid
        assert not slider.dirty
        slider.value = 700 * MIB
        assert slider.value == 704 * MIB
        slider.value = 100 * MIB
        assert slider.value == 256 * MIB  # the lowest grid point >= 200 MiB
        slider.value = 10 * GIB
        assert slider.value == 2944 * MIB  # the highest grid point <= 3000 MiB
        slider.value = 500 * MIB
        assert slider.value == 500 * MIB and not slider.dirty
        await pilot.press("tab")
        slider.focus()
        await pilot.press("right")
        assert slider.value == 512 * MIB  # the next grid point up
        slider.value = 500 * MIB
        await pilot.press("left")
        assert slider.value == 448 * MIB
        # Narrowing the range re-clamps the value.
        slider.maximum = 384 * MIB
        assert slider.value == 384 * MIB
        slider.minimum = 400 * MIB
        assert slider.maximum == 400 * MIB and slider.value == 400 * MIB


async def test_usage_marker_and_label_are_drawn() -> None:
    app = SliderApp(value=GIB, usage=2 * GIB)
    async with app.run_test(size=(80, 5)) as pilot:
        await pilot.pause()
        slider = app.slider
        line = str(slider.render())
        assert line.endswith(format_size(GIB).rjust(9))
        assert line[slider.column_of(GIB)] == "●"
        assert line[slider.column_of(2 * GIB)] == "┃"
        assert format_size(1536 * MIB) == "1.5 GiB"
        assert format_size(768 * MIB) == "768 MiB"


async def test_a_disabled_slider_ignores_the_mouse() -> None:
    app = SliderApp()
    async with app.run_test(size=(80, 5)) as pilot:
        slider = app.slider
        slider.disabled = True
        await pilot.click(slider, offset=(40, 0))
        assert slider.value == 512 * MIB
        assert not slider.dragging
