"""One dev (or pool) container in the Dev containers panel: a card with its memory slider.

A card shows, on three lines: the name and badges (state, host when the panel lists several,
role, "idle"), "old → new" when the
slider was moved, the memory in use against the limit with CPU; a usage bar and a sparkline
of recent use; the limit slider. It is updated in place, field by field: a stats sample touches
the usage text, the bar, the sparkline and the slider's usage marker, never the slider's value.

Interaction state (seed 000, "Frontend Race Condition Handling"): the engine's limit is kept
in `server_limit`. When it changes while the user drags the slider, or has moved it without
applying, only the slider's `applied` limit follows; the value stays where the user put it.
"""

from __future__ import annotations

from collections import deque
from typing import ClassVar

from rich.text import Text
from textual import events
from textual.app import ComposeResult, RenderResult
from textual.containers import Horizontal, Vertical
from textual.reactive import reactive
from textual.widget import Widget
from textual.widgets import Label, Sparkline

from clawtui.engine.api.models import MIB, ContainerInfo, ContainerStats
from clawtui.tui.format import format_bytes
from clawtui.tui.widgets.slider import MemorySlider, format_size


def usage_level(used: int | None, limit: int) -> str:
    """'ok', 'high' (75% or more of the limit) or 'full' (90% or more); 'ok' when unknown."""
    if used is None or limit <= 0:
        return "ok"
    ratio = used / limit
    if ratio >= 0.9:
        return "full"
    if ratio >= 0.75:
        return "high"
    return "ok"


class UsageBar(Widget):
    """Memory in use against the limit: a bar of blocks and the percentage."""

    used: reactive[int | None] = reactive(None)
    limit: reactive[int] = reactive(0)

    def render(self) -> RenderResult:
        width = max(1, self.content_region.width - 5)
        if self.used is None or self.limit <= 0:
            return Text("░" * width + "   — ", no_wrap=True, end="")
        ratio = min(1.0, max(0.0, self.used / self.limit))
        filled = round(ratio * width)
        text = Text("█" * filled, no_wrap=True, end="")
        text.append("░" * (width - filled), style="dim")
        text.append(f" {min(999, round(100 * self.used / self.limit)):3d}%")
        return text

    def watch_used(self) -> None:
        self._level()

    def watch_limit(self) -> None:
        self._level()

    def _level(self) -> None:
        level = usage_level(self.used, self.limit)
        for each in ("ok", "high", "full"):
            self.set_class(level == each, f"-{each}")


class DevboxCard(Vertical):
    """A container's name, badges, usage and limit slider."""

    SPARK_SAMPLES: ClassVar[int] = 60
    """Samples of memory use kept for the sparkline."""
    IDLE_SAMPLES: ClassVar[int] = 5
    """A running container is idle when this many last samples are all below `IDLE_CPU`."""
    IDLE_CPU: ClassVar[float] = 0.5
    """CPU percent (100 = one core) under which a sample counts as idle."""

    def __init__(
        self, info: ContainerInfo, *, floor: int, step: int, ceiling: int, enabled: bool = True
    ) -> None:
        super().__init__(classes="devbox-card")
        self.info = info
        self.key = info.key
        self.server_limit = info.memory_limit
        """The limit the engine last reported (HostConfig.Memory; 0 = unlimited)."""
        self.floor = floor
        self.step = step
        self.ceiling = max(ceiling, info.memory_limit)
        self.enabled = enabled
        self.marked = False
        self.used: int | None = info.stats.mem_used if info.stats and info.running else None
        self.cpu: deque[float] = deque(maxlen=self.IDLE_SAMPLES)
        self.samples: deque[float] = deque(maxlen=self.SPARK_SAMPLES)
        """Memory in use, MiB, oldest first."""
        self._build()

    # -- building ------------------------------------------------------------------------------
    def _build(self) -> None:
        """The card's widgets, made up front so the panel can read the slider at once."""
        limit = self.server_limit
        self.mark_label = Label(" ", classes="card-mark")
        self.name_label = Label(Text(self.info.name, no_wrap=True), classes="card-name")
        self.state_label = Label(classes="badge card-state")
        self.host_label = Label(Text(self.info.host), classes="badge card-host")
        """The host column of this view: shown when the panel lists more than one host."""
        self.role_label = Label(Text(self.info.role or ""), classes="badge card-role")
        self.idle_label = Label(Text("idle"), classes="badge card-idle")
        self.usage_label = Label(classes="card-usage-text")
        self.bar = UsageBar(classes="usage-bar")
        self.spark = Sparkline([], classes="card-spark")
        self.slider = MemorySlider(
            limit,
            minimum=min(self.floor, limit) if limit > 0 else 0,
            maximum=self.ceiling,
            step=self.step,
            disabled=limit <= 0 or not self.enabled,
        )
        self.change_label = Label(classes="card-change")

    def compose(self) -> ComposeResult:
        with Horizontal(classes="card-title"):
            yield self.mark_label
            yield self.name_label
            yield self.state_label
            yield self.host_label
            yield self.role_label
            yield self.idle_label
            yield self.change_label
            yield self.usage_label
        with Horizontal(classes="card-usage"):
            yield self.bar
            yield self.spark
        with Horizontal(classes="card-limit"):
            yield self.slider

    def on_mount(self) -> None:
        self.role_label.display = bool(self.info.role and self.info.role != "devbox")
        self.show_info(self.info)
        self._apply_ceiling()
        if self.info.stats is not None and self.info.running:
            self.add_sample(self.info.stats)
        self._show_usage()
        self._show_idle()
        self.refresh_change()

    def on_click(self, event: events.Click) -> None:
        slider = self.slider
        if not slider.disabled:
            slider.focus()

    # -- engine data ---------------------------------------------------------------------------
    def show_info(self, info: ContainerInfo) -> None:
        """A new ContainerInfo: name, state and the engine's limit."""
        old, self.info = self.info, info
        if old.name != info.name:
            self.name_label.update(Text(info.name, no_wrap=True))
        state = self.state_label
        state.update(Text(info.state))
        for each in ("running", "paused", "restarting", "created", "exited", "dead"):
            state.set_class(info.state == each, f"-{each}")
        if not info.running:
            self.cpu.clear()
            self.used = None
            self._show_usage()
        self._show_idle()
        self.set_server_limit(info.memory_limit)

    def set_server_limit(self, limit: int) -> None:
        """The engine's limit changed (or was confirmed): move the slider only if the user is
        not holding or has not moved it."""
        self.server_limit = limit
        slider = self.slider
        if limit <= 0:
            slider.disabled = True
            self.refresh_change()
            return
        slider.disabled = not self.enabled
        slider.minimum = min(slider.minimum, self.floor, limit)
        slider.maximum = max(slider.maximum, limit)
        if slider.dragging or slider.dirty:
            slider.applied = limit  # the value stays where the user has it
        else:
            slider.applied = limit
            slider.value = limit
        self._show_usage()
        self.refresh_change()

    def set_ceiling(self, ceiling: int) -> None:
        """The highest limit the host's budget allows for this container (its own limit plus
        what is free). Never below what the slider shows, and not while it is dragged."""
        self.ceiling = ceiling
        if self.is_mounted:  # else on_mount applies the latest one
            self._apply_ceiling()

    def _apply_ceiling(self) -> None:
        slider = self.slider
        if not slider.dragging:
            slider.maximum = max(self.ceiling, slider.value, self.server_limit)

    def snap(self, limit: int, *, sent: int | None = None) -> None:
        """After a batch: the engine's limit is `limit`. The slider goes there unless the user
        moved it again since `sent` was sent."""
        slider = self.slider
        self.server_limit = limit
        slider.maximum = max(slider.maximum, limit)
        slider.minimum = min(slider.minimum, limit)
        slider.applied = limit
        if not slider.dragging and (sent is None or slider.value == sent):
            slider.value = limit
        self._show_usage()
        self.refresh_change()

    def add_sample(self, stats: ContainerStats) -> None:
        """One stats sample: usage text, bar, sparkline, idle badge, the slider's marker."""
        if stats.mem_used is not None:
            self.used = stats.mem_used
            self.samples.append(stats.mem_used / MIB)
            self.spark.data = list(self.samples)
        if stats.cpu_percent is not None:
            self.cpu.append(stats.cpu_percent)
        self._show_usage()
        self._show_idle()

    @property
    def idle(self) -> bool:
        """Running, and CPU below `IDLE_CPU` in each of the last `IDLE_SAMPLES` samples."""
        return (
            self.info.running
            and len(self.cpu) == self.IDLE_SAMPLES
            and all(c < self.IDLE_CPU for c in self.cpu)
        )

    def _show_idle(self) -> None:
        self.idle_label.display = self.idle

    def _show_usage(self) -> None:
        limit = self.server_limit
        self.bar.used, self.bar.limit = self.used, limit
        self.slider.usage = self.used
        used = format_bytes(self.used) if self.used is not None else "—"
        text = f"{used} / {format_bytes(limit) if limit > 0 else 'no limit'}"
        if self.info.running and self.cpu:
            text += f" · CPU {self.cpu[-1]:.1f}%"
        self.usage_label.update(Text(text, no_wrap=True))

    # -- the user's side -----------------------------------------------------------------------
    @property
    def pending(self) -> int:
        """Bytes the slider would add to the host's allocation (0 when not moved)."""
        if self.server_limit <= 0 or not self.slider.dirty:
            return 0
        return self.slider.value - self.server_limit

    @property
    def dirty(self) -> bool:
        return self.server_limit > 0 and self.slider.dirty

    def refresh_change(self) -> None:
        """The "old → new" text (empty when the slider is where the limit is)."""
        label = self.change_label
        if self.server_limit <= 0:
            label.update(Text("no limit: cannot be resized"))
            return
        if self.dirty:
            old, new = format_size(self.server_limit), format_size(self.slider.value)
            label.update(Text(f"{old} → {new}"))
        else:
            label.update(Text(""))
        self.set_class(self.dirty, "-dirty")

    def set_marked(self, marked: bool) -> None:
        self.marked = marked
        self.mark_label.update(Text("●" if marked else " "))
        self.set_class(marked, "-marked")

    @property
    def sort_key(self) -> tuple[int, str]:
        """Most memory in use first (in 16 MiB buckets, so near-equal cards do not swap on every
        tick), then by name."""
        used = self.used if self.used is not None else -1
        return (-(used // (16 * MIB)) if used >= 0 else 1, self.info.name.lower())
