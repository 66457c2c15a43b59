"""The two small tmux forms of the Dev containers panel: run a command in a new window, and
broadcast a line to the marked containers.

Each field is checked before anything is sent, with the engine's own rules
(`clawtui.engine.api.tmux.validate_name` for session and window names; the command must split
into words with shell quoting rules); the problem is shown under the form, which stays open. The
answer is a small dataclass (or None on cancel); the panel does the sending.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from clawtui.engine.api.tmux import InvalidName, validate_name

MAX_TEXT = 16384


@dataclass(frozen=True)
class RunRequest:
    """Start `command` in a new window of `session` (window named `window`, in `cwd`)."""

    command: list[str]
    session: str
    window: str | None
    cwd: str | None


@dataclass(frozen=True)
class BroadcastRequest:
    """Type `text` and Enter into `session` of every target."""

    text: str
    session: str


def check_session(value: str) -> str:
    try:
        return validate_name(value.strip(), "session")
    except InvalidName as exc:
        raise ValueError(f"session: {exc}") from None


def check_run(command: str, session: str, window: str, cwd: str) -> RunRequest:
    """A `RunRequest` from the form's fields, or ValueError naming the field at fault."""
    try:
        words = shlex.split(command)
    except ValueError as exc:
        raise ValueError(f"command: {exc} (quote it as in a shell)") from None
    if not words:
        raise ValueError("command: give the command to start, e.g. claude or make test")
    name = check_session(session)
    window = window.strip()
    if window:
        try:
            validate_name(window, "window")
        except InvalidName as exc:
            raise ValueError(f"window: {exc}") from None
    cwd = cwd.strip()
    if "\0" in cwd or "\n" in cwd:
        raise ValueError("cwd: a directory path on one line")
    return RunRequest(words, name, window or None, cwd or None)


def check_broadcast(text: str, session: str) -> BroadcastRequest:
    """A `BroadcastRequest` from the form's fields, or ValueError naming the field at fault."""
    if not text.strip():
        raise ValueError("line: give the line to type into every session")
    if "\0" in text or len(text) > MAX_TEXT:
        raise ValueError(f"line: at most {MAX_TEXT} characters, no NUL")
    return BroadcastRequest(text, check_session(session))


class _TmuxForm(ModalScreen[Any]):
    """Inputs, an error line, Start / Cancel; Enter in the last input submits."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="tmux_form.cancel"),
    ]
    TITLE_TEXT = ""
    SUBMIT = "Start"

    def __init__(self, intro: Text) -> None:
        super().__init__(classes="tmux-form-screen")
        self.intro = intro

    def fields(self) -> Sequence[tuple[str, str, str]]:
        """(id, label, initial value) of each input."""
        raise NotImplementedError

    def check(self) -> object:
        raise NotImplementedError

    def value(self, field: str) -> str:
        return self.query_one(f"#tmux-{field}", Input).value

    def compose(self) -> ComposeResult:
        with Vertical(id="tmux-form") as form:
            form.border_title = self.TITLE_TEXT
            yield Static(self.intro, id="tmux-intro")
            for field, label, initial in self.fields():
                yield Label(Text(label))
                yield Input(initial, id=f"tmux-{field}", max_length=MAX_TEXT)
            yield Static(id="tmux-error")
            with Horizontal(id="tmux-buttons"):
                yield Button(self.SUBMIT, id="tmux-submit", variant="primary")
                yield Button("Cancel", id="tmux-cancel")

    def on_mount(self) -> None:
        self.query(Input).first().focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_submit()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "tmux-submit":
            self.action_submit()
        else:
            self.action_cancel()

    def action_submit(self) -> None:
        try:
            answer = self.check()
        except ValueError as exc:
            self.query_one("#tmux-error", Static).update(Text(str(exc), style="bold"))
            return
        self.dismiss(answer)

    def action_cancel(self) -> None:
        self.dismiss(None)


class TmuxRunScreen(_TmuxForm):
    """Command, working directory, window name and session of a new tmux window."""

    TITLE_TEXT = "Start a command in a new tmux window"

    def __init__(self, container: str, session: str) -> None:
        intro = Text("In ") + Text(container, style="bold") + Text(" (session created if missing)")
        super().__init__(intro)
        self.session = session

    def fields(self) -> Sequence[tuple[str, str, str]]:
        return [
            ("command", "Command (shell words, e.g. claude or make test)", ""),
            ("cwd", "Working directory (empty: home)", ""),
            ("window", "Window name (letters, digits, _ and -; empty: tmux picks)", ""),
            ("session", "Session", self.session),
        ]

    def check(self) -> RunRequest:
        return check_run(
            self.value("command"), self.value("session"), self.value("window"), self.value("cwd")
        )


class TmuxBroadcastScreen(_TmuxForm):
    """One line typed (with Enter) into the tmux session of every marked container."""

    TITLE_TEXT = "Broadcast a line"
    SUBMIT = "Send"

    def __init__(self, containers: Sequence[str], session: str) -> None:
        intro = Text(f"To {len(containers)} container{'s' if len(containers) != 1 else ''}: ")
        intro.append(", ".join(containers), style="bold")
        super().__init__(intro)
        self.session = session

    def fields(self) -> Sequence[tuple[str, str, str]]:
        return [("line", "Line to type (Enter follows)", ""), ("session", "Session", self.session)]

    def check(self) -> BroadcastRequest:
        return check_broadcast(self.value("line"), self.value("session"))
