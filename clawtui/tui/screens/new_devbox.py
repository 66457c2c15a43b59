"""The "New dev container" form: name, public key, memory, CPUs, SSH port, sudo.

Each field is checked as it is typed, with the engine's own rules (`engine.api.devbox_checks`,
`parse_size`), and the problem is shown under the field. Create runs
`engine.devboxes.create(..., progress=...)` in a worker; its progress lines (image build
steps, "waiting for sshd") appear live under the form, then the SSH command to use. An error
of the engine is shown in the form, which stays open to fix and try again. Cancel during a
create cancels it, and the engine removes what it had made.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, Label, RichLog, Static

from clawtui.config import DevboxesConfig, parse_size
from clawtui.engine.api.devbox_checks import DevboxInputError, validate_name, validate_public_keys
from clawtui.engine.api.devboxes import DevboxInfo
from clawtui.engine.api.protocols import DevboxesAPI

MIB = 1024 * 1024
MAX_KEY_FILE = 64 * 1024
KEY_PREFIXES = ("ssh-", "ecdsa-", "sk-")
FIELDS = ("name", "key", "memory", "cpus", "port")


def looks_like_key(text: str) -> bool:
    """Pasted key text (as opposed to the path of a key file)."""
    return text.strip().startswith(KEY_PREFIXES)


def read_key_file(path: str) -> str:
    """The text of a public key file (blocking; run in a thread)."""
    file = Path(path).expanduser()
    with file.open("rb") as handle:
        data = handle.read(MAX_KEY_FILE + 1)
    if len(data) > MAX_KEY_FILE:
        raise DevboxInputError(f"{path} is over {MAX_KEY_FILE // 1024} KiB: not a public key")
    return data.decode("utf-8", "replace")


@dataclass(frozen=True)
class Request:
    """A checked form."""

    name: str
    key: str
    memory: int
    cpus: float
    port: int | None
    sudo: bool


class FormChecks:
    """Field by field checks; each returns the problem in words, or None."""

    def __init__(self, cfg: DevboxesConfig) -> None:
        self.cfg = cfg

    def name(self, value: str) -> str | None:
        try:
            validate_name(value.strip())
        except DevboxInputError as exc:
            return str(exc)
        return None

    def key(self, value: str) -> str | None:
        value = value.strip()
        if not value:
            return "give the path of a public key file (~/.ssh/id_ed25519.pub) or paste a key"
        if looks_like_key(value):
            try:
                validate_public_keys(value, strict=self.cfg.validate_keys)
            except DevboxInputError as exc:
                return str(exc)
            return None
        path = Path(value).expanduser()
        if not path.is_file():
            return f"no file {value} (give a .pub file, or paste the key itself)"
        if path.suffix != ".pub" and path.with_suffix(".pub").is_file():
            return f"{value} looks like a private key: use {value}.pub"
        return None

    def memory(self, value: str) -> str | None:
        try:
            size = parse_size(value.strip())
        except ValueError as exc:
            return f"memory: {exc}"
        if size < 64 * MIB:
            return "memory: a dev container needs 64m or more"
        return None

    def cpus(self, value: str) -> str | None:
        try:
            cpus = float(value.strip())
        except ValueError:
            return "cpus: give a number, like 2 or 1.5"
        if not 0 < cpus <= 1024:
            return "cpus: give a number above 0, like 2 or 1.5"
        return None

    def port(self, value: str) -> str | None:
        value = value.strip()
        if not value:
            return None
        if not value.isdigit() or not 1 <= int(value) <= 65535:
            return "port: a number from 1 to 65535, or empty to pick a free one"
        return None


class NewDevboxScreen(ModalScreen[DevboxInfo | None]):
    """A form that creates one dev container and shows how to reach it."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Close", id="devbox_form.close"),
        Binding("ctrl+s", "create", "Create", id="devbox_form.create"),
    ]

    def __init__(self, devboxes: DevboxesAPI, cfg: DevboxesConfig) -> None:
        super().__init__(classes="form-screen")
        self.devboxes = devboxes
        self.cfg = cfg
        self.checks = FormChecks(cfg)
        self.creating = False
        self.created: DevboxInfo | None = None

    def compose(self) -> ComposeResult:
        memory_default = f"{int(self.cfg.memory) // MIB}m"
        with VerticalScroll(id="devbox-form") as form:
            form.border_title = "New dev container"
            yield Label("Name (the container is dev-NAME)")
            yield Input(placeholder="alice", id="devbox-name")
            yield Label(classes="field-error", id="devbox-name-error")
            yield Label("Public key: a .pub file, or the key itself")
            yield Input(placeholder="~/.ssh/id_ed25519.pub  or  ssh-ed25519 AAAA… you@laptop",
                        id="devbox-key")  # fmt: skip
            yield Label(classes="field-error", id="devbox-key-error")
            with Horizontal(id="devbox-sizes"):
                with Vertical():
                    yield Label("Memory")
                    yield Input(memory_default, id="devbox-memory")
                with Vertical():
                    yield Label("CPUs")
                    yield Input(f"{self.cfg.cpus:g}", id="devbox-cpus")
                with Vertical():
                    yield Label("SSH port")
                    yield Input(placeholder="auto", id="devbox-port")
            for field in ("memory", "cpus", "port"):
                yield Label(classes="field-error", id=f"devbox-{field}-error")
            yield Checkbox("Passwordless sudo for the dev user", id="devbox-sudo")
            yield Label(classes="field-error", id="devbox-error")
            yield RichLog(id="devbox-progress", markup=False, highlight=False, wrap=True)
            yield Static(id="devbox-ssh")
            with Horizontal(id="devbox-buttons"):
                yield Button("Create", id="devbox-create", variant="primary")
                yield Button("Close", id="devbox-close")

    def on_mount(self) -> None:
        hidden = ["progress", "ssh", "error", *(f"{field}-error" for field in FIELDS)]
        for part in hidden:
            self.query_one(f"#devbox-{part}").display = False
        self.query_one("#devbox-name", Input).focus()

    # -- checks --------------------------------------------------------------------------------
    def _value(self, field: str) -> str:
        return self.query_one(f"#devbox-{field}", Input).value

    def _check(self, field: str) -> str | None:
        """Check one field and show (or clear) its problem; the problem, or None."""
        check: Callable[[str], str | None] = getattr(self.checks, field)
        problem = check(self._value(field))
        label = self.query_one(f"#devbox-{field}-error", Label)
        label.update(Text(problem or ""))
        label.display = problem is not None
        self.query_one(f"#devbox-{field}", Input).set_class(problem is not None, "-invalid")
        return problem

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        field = (event.input.id or "").removeprefix("devbox-")
        if field in FIELDS and (event.value or field in ("memory", "cpus")):
            self._check(field)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_create()

    def request(self) -> Request | None:
        """The checked form, or None (problems shown, the first bad field focused)."""
        bad = [field for field in FIELDS if self._check(field) is not None]
        if bad:
            self.query_one(f"#devbox-{bad[0]}", Input).focus()
            return None
        port = self._value("port").strip()
        return Request(
            name=self._value("name").strip(),
            key=self._value("key").strip(),
            memory=parse_size(self._value("memory").strip()),
            cpus=float(self._value("cpus")),
            port=int(port) if port else None,
            sudo=self.query_one("#devbox-sudo", Checkbox).value,
        )

    # -- create --------------------------------------------------------------------------------
    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "devbox-create":
            self.action_create()
        else:
            self.action_close()

    def action_create(self) -> None:
        if self.creating:
            return
        request = self.request()
        if request is not None:
            self.creating = True
            self._sync_buttons()
            self._create(request)

    def action_close(self) -> None:
        if self.creating:
            self.workers.cancel_group(self, "devbox-create")
            self.progress("cancelled: the engine removes what it had made")
            return
        self.dismiss(self.created)

    def progress(self, line: str) -> None:
        """One progress line (called by the engine on the UI's event loop)."""
        log = self.query_one("#devbox-progress", RichLog)
        log.display = True
        log.write(Text(line))
        self.query_one("#devbox-form").scroll_end(animate=False)

    def _sync_buttons(self) -> None:
        create = self.query_one("#devbox-create", Button)
        create.disabled = self.creating
        create.label = "Creating…" if self.creating else "Create"
        self.query_one("#devbox-close", Button).label = "Cancel" if self.creating else "Close"

    def _error(self, message: str) -> None:
        label = self.query_one("#devbox-error", Label)
        label.update(Text(message))
        label.display = bool(message)

    @work(exclusive=True, group="devbox-create", exit_on_error=False)
    async def _create(self, request: Request) -> None:
        self._error("")
        self.query_one("#devbox-ssh").display = False
        self.progress(f"creating dev container dev-{request.name}…")
        try:
            key = request.key
            if not looks_like_key(key):
                key = await asyncio.to_thread(read_key_file, key)
            info = await self.devboxes.create(
                request.name,
                key,
                memory=request.memory,
                cpus=request.cpus,
                port=request.port,
                sudo=request.sudo,
                progress=self.progress,
            )
        except Exception as exc:
            self._error(str(exc) or type(exc).__name__)
            self.progress(f"failed: {exc}")
        else:
            self.created = info
            command = self.devboxes.ssh_command(info)
            ssh = self.query_one("#devbox-ssh", Static)
            ssh.update(Text.assemble(("Ready. Connect with:  ", "bold"), command))
            ssh.display = True
            self.query_one("#devbox-form").scroll_end(animate=False)
            self.app.notify(f"Dev container {info.container} is ready: {command}",
                            title="Dev containers", markup=False, timeout=10)  # fmt: skip
        finally:
            self.creating = False
            self._sync_buttons()
