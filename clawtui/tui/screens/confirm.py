"""A modal question before something that cannot be undone (remove) or that may hurt (a memory
limit below what a container uses).

The lines shown are built by the caller as rich `Text`: they quote container names and Docker's
words, which may contain `[`. An optional checkbox carries one extra choice (e.g. "also delete
the home volume"); the answer says whether it was ticked.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Label, Static


@dataclass(frozen=True)
class Confirmed:
    """The user said yes; `option` is the checkbox (False when there was none)."""

    option: bool = False


class ConfirmScreen(ModalScreen["Confirmed | None"]):
    """Yes or no; `y` / Enter on the yes button confirms, `n` / Esc cancels (result None)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,n", "cancel", "Cancel", id="confirm.cancel"),
        Binding("y", "confirm", "Yes", id="confirm.yes"),
    ]

    def __init__(
        self,
        title: str,
        lines: Iterable[Text | str],
        *,
        yes: str = "Yes",
        no: str = "Cancel",
        option: str | None = None,
        danger: bool = True,
    ) -> None:
        super().__init__(classes="confirm-screen")
        self.title_text = title
        self.lines = [line if isinstance(line, Text) else Text(line) for line in lines]
        self.yes, self.no = yes, no
        self.option = option
        self.danger = danger

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm-body") as body:
            body.border_title = self.title_text
            with VerticalScroll(id="confirm-lines"):
                for line in self.lines:
                    yield Static(line, classes="confirm-line")
            if self.option is not None:
                yield Checkbox(self.option, id="confirm-option")
            with Horizontal(id="confirm-buttons"):
                yield Button(self.yes, id="confirm-yes",
                             variant="error" if self.danger else "primary")  # fmt: skip
                yield Button(self.no, id="confirm-no")
            yield Label(Text("y: yes · n / Esc: cancel"), id="confirm-hint")

    def on_mount(self) -> None:
        self.query_one("#confirm-no", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "confirm-yes":
            self.action_confirm()
        else:
            self.action_cancel()

    def action_confirm(self) -> None:
        option = self.query("#confirm-option")
        ticked = bool(option) and self.query_one("#confirm-option", Checkbox).value
        self.dismiss(Confirmed(option=ticked))

    def action_cancel(self) -> None:
        self.dismiss(None)
