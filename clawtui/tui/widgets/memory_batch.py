"""The Dev containers panel's memory batch: pending slider changes, Apply (plan, confirm, apply in
a worker), the result per container, the sliders snapping to the engine's limits, and the recent
changes list.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from rich.text import Text
from textual import work
from textual.css.query import NoMatches
from textual.widgets import Button, Label, Static

from clawtui.engine.api.memory import ApplyResult, BatchState, MemoryChange, Outcome, memory_of
from clawtui.tui.format import format_bytes
from clawtui.tui.memory_text import (
    below_usage,
    history_text,
    partial_lines,
    plan_lines,
    result_lines,
    result_severity,
    rows_from_result,
    warning_lines,
)
from clawtui.tui.screens.confirm import ConfirmScreen
from clawtui.tui.widgets.devbox_card import DevboxCard
from clawtui.tui.widgets.host_header import HostHeaders
from clawtui.tui.widgets.slider import MemorySlider

if TYPE_CHECKING:
    from clawtui.engine.api.models import HostInfo
    from clawtui.engine.api.protocols import EngineAPI

log = logging.getLogger(__name__)

WHO = "tui"
HISTORY_ROWS = 12


def truth_after(outcome: Outcome, old: int, new: int) -> int | None:
    """The limit a container has after a batch outcome (None: the batch did not reach it)."""
    if outcome in (Outcome.APPLIED, Outcome.ROLLBACK_FAILED, Outcome.UNCHANGED):
        return new
    if outcome in (Outcome.ROLLED_BACK, Outcome.FAILED):
        return old
    return None


if TYPE_CHECKING:
    from clawtui.tui.widgets.devbox_panel_parts import PanelParts as _Panel
else:
    _Panel = object


class MemoryBatch(_Panel):
    """Apply and the recent changes of `DevboxesPanel` (a part of it: `self` is the panel)."""

    engine: EngineAPI
    hosts: dict[str, HostInfo]
    cards: dict[str, DevboxCard]
    in_flight: bool
    history: list[MemoryChange]
    last_result: ApplyResult | None

    def pending_changes(self) -> dict[str, int]:
        """{container key: new limit} of every moved slider."""
        return {key: card.slider.value for key, card in self.cards.items() if card.dirty}

    def pending_by_host(self) -> dict[str, int]:
        """Bytes the moved sliders would add to each host's allocation."""
        out: dict[str, int] = {}
        for card in self.cards.values():
            out[card.info.host] = out.get(card.info.host, 0) + card.pending
        return out

    def memory_event(self, result: ApplyResult) -> None:
        """A batch touched Docker (ours or anyone's): add it to the recent changes."""
        self._add_history(rows_from_result(result))

    def _sync_actions(self) -> None:
        changes = self.pending_changes()
        self.apply_button.disabled = self.in_flight or not changes or not self.can_resize
        self.query_one("#memory-reset", Button).disabled = self.in_flight or not changes
        self.query_one("#memory-pending", Label).update(self._pending_text(changes))

    def _pending_text(self, changes: Mapping[str, int]) -> Text:
        if not self.can_resize:
            return Text("Memory limits can only be changed over a local engine.", style="dim")
        if self.in_flight:
            return Text("Applying…", style="bold")
        if not changes:
            return Text("Move a slider to change a limit; Apply sends every change at once.",
                        style="dim")  # fmt: skip
        delta = sum(self.pending_by_host().values())
        sign = "+" if delta >= 0 else "-"
        text = Text(f"{len(changes)} change{'s' if len(changes) > 1 else ''} pending "
                    f"({sign}{format_bytes(abs(delta))})")  # fmt: skip
        for name, info in self.hosts.items():
            if info.memory.total <= 0:
                continue
            left = info.memory.available - self.pending_by_host().get(name, 0)
            if name in {c.info.host for c in self.cards.values() if c.dirty}:
                if left < 0:
                    text.append(f" · {name} over budget by {format_bytes(-left)}", style="bold")
                else:
                    text.append(f" · {format_bytes(left)} left on {name}")
        return text

    def on_memory_slider_changed(self, event: MemorySlider.Changed) -> None:
        event.stop()
        try:
            card = event.slider.query_ancestor(DevboxCard)
        except NoMatches:
            return
        card.refresh_change()
        if self.is_mounted:
            headers = self.query_one(HostHeaders)
            headers.set_pending(card.info.host, self.pending_by_host().get(card.info.host, 0))
            self.refresh_ceilings(card.info.host, moved=card.key)
            self._sync_actions()

    def action_reset(self) -> None:
        """Every slider back to its container's limit."""
        for card in self.cards.values():
            if card.dirty and not card.slider.dragging:
                card.slider.value = card.server_limit
        self._sync()

    def action_apply(self) -> None:
        """Plan, confirm if needed, and apply every moved slider as one batch."""
        if self.in_flight:
            self.app.notify("A batch is in flight.", title="Memory", severity="warning")
            return
        changes = self.pending_changes()
        if not changes or not self.can_resize:
            self.app.notify("Nothing to apply: move a slider first.", title="Memory")
            return
        self.in_flight = True
        self._sync_actions()
        self._apply(changes)

    @work(group="memory-apply", exit_on_error=False)
    async def _apply(self, changes: dict[str, int]) -> None:
        memory = memory_of(self.engine)
        try:
            assert memory is not None
            plan = await memory.plan(changes, who=WHO, confirm_below_usage=True)
            going = plan.hosts_ok() if not plan.ok else []
            if not plan.ok and not going:
                self._show_result(plan_lines(plan), "warning")
                self.app.notify(plan.summary() or "The batch was refused.", title="Memory",
                                severity="warning", markup=False, timeout=8)  # fmt: skip
                return
            confirm = any(below_usage(c) for c in plan.checks)
            lines = [] if plan.ok else partial_lines(plan, going)  # some hosts refuse theirs
            if plan.warnings:
                lines += warning_lines(plan)
            if lines:
                title = "Apply memory changes?" if plan.ok else "Apply on some hosts only?"
                screen = ConfirmScreen(title, lines, yes="Apply anyway", danger=confirm)
                if await self.app.push_screen_wait(screen) is None:
                    self._show_result([Text("Cancelled: nothing was changed.")], "")
                    return
            result = await memory.apply(changes, who=WHO, confirm_below_usage=confirm)
            self.last_result = result
            self._show_result(result_lines(result), result_severity(result))
            self._snap(result, changes)
            self._add_history(rows_from_result(result))
            self.app.notify(result.summary(), title="Memory", severity=result_severity(result),
                            markup=False, timeout=8)  # fmt: skip
        except Exception as exc:
            log.exception("memory batch failed")
            failed = Text("The batch did not go through: ", style="bold") + Text(str(exc))
            self._show_result([failed], "error")
            self.app.notify(str(exc) or type(exc).__name__, title="Memory", severity="error",
                            markup=False, timeout=10)  # fmt: skip
        finally:
            self.in_flight = False
            self._sync()

    def _snap(self, result: ApplyResult, sent: Mapping[str, int]) -> None:
        """Sliders of the batch go to the limits the engine now has."""
        if result.state is BatchState.REFUSED:
            return  # nothing changed: the user's values stay, to be adjusted
        for o in result.outcomes:
            card = self.cards.get(o.check.key)
            limit = truth_after(o.outcome, o.check.old_limit, o.check.new_limit)
            if card is not None and limit is not None and card.is_mounted:
                card.snap(limit, sent=sent.get(o.check.key))

    def _show_result(self, lines: list[Text], severity: str) -> None:
        area = self.query_one("#memory-result", Static)
        area.update(Text("\n").join(lines))
        area.display = True
        for each in ("information", "warning", "error"):
            area.set_class(severity == each, f"-{each}")

    @work(exclusive=True, group="memory-history", exit_on_error=False)
    async def _load_history(self) -> None:
        memory = memory_of(self.engine)
        if memory is None:
            return
        try:
            rows = await memory.history(HISTORY_ROWS)
        except Exception as exc:
            log.warning("could not read the memory history: %s", exc)
            return
        self._add_history(rows)

    def _add_history(self, rows: Iterable[MemoryChange]) -> None:
        seen = {(r.batch_id, r.host, r.container_id) for r in self.history}
        new = [r for r in rows if (r.batch_id, r.host, r.container_id) not in seen]
        if not new:
            return
        self.history = sorted([*new, *self.history], key=lambda r: r.ts, reverse=True)
        del self.history[HISTORY_ROWS:]
        self.query_one("#memory-history", Static).update(history_text(self.history))
