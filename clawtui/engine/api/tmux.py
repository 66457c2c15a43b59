"""tmux in the engine interface: names, the argv builders that validate requests, listings,
broadcast outcomes, errors and the protocol (`TmuxAPI`, `tmux_of`).

Every name (session, window) must match `^[A-Za-z0-9_-]{1,64}$` and is checked before anything is
sent anywhere (`validate_name`). Every remote command line is built from argv lists with
`shlex.quote` (`remote_command`). Pure: no I/O; the SSH side is `clawtui.engine.sessions`.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Final, Protocol

from clawtui.engine.api.devbox_checks import LABEL_OWNER, ROLE

if TYPE_CHECKING:
    from clawtui.engine.api.models import ContainerInfo
    from clawtui.engine.api.protocols import EngineAPI

NAME_RE: Final = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
MAX_BROADCAST: Final = 100


class TmuxError(Exception):
    """A tmux request failed; the message says why and what to do."""


class InvalidName(TmuxError, ValueError):
    """A session or window name outside `^[A-Za-z0-9_-]{1,64}$` (nothing was run)."""


def validate_name(name: str, what: str = "session") -> str:
    """Return `name` if it is a safe tmux name, else raise `InvalidName`."""
    if not isinstance(name, str) or not NAME_RE.fullmatch(name):
        raise InvalidName(
            f"invalid tmux {what} name {name!r}: use 1-64 letters, digits, '_' or '-'"
        )
    return name


def remote_command(argv: Sequence[str]) -> str:
    """One shell command line running exactly `argv` (each word quoted)."""
    return " ".join(shlex.quote(word) for word in argv)


class TargetError(LookupError):
    """The container cannot be reached over SSH; `status` is the HTTP status that fits."""

    def __init__(self, message: str, status: int = 404) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class TmuxSession:
    name: str
    windows: int
    attached: int
    activity: float


@dataclass(frozen=True)
class TmuxWindow:
    session: str
    index: int
    name: str
    active: bool
    command: str


@dataclass(frozen=True)
class TmuxListing:
    """One container's tmux sessions and every window of each."""

    target: str
    sessions: list[TmuxSession]
    windows: list[TmuxWindow]

    def as_json(self) -> dict[str, Any]:
        """The shape of `GET /api/v1/devboxes/{name}/tmux` (a contract: do not change)."""
        return {
            "sessions": [asdict(s) for s in self.sessions],
            "windows": [asdict(w) for w in self.windows],
        }


@dataclass(frozen=True)
class BroadcastOutcome:
    """What became of a broadcast line in one container."""

    container: str
    ok: bool
    error: str | None = None
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    def as_json(self) -> dict[str, Any]:
        return {"container": self.container, "ok": self.ok, "error": self.error}


def tmux_name(info: ContainerInfo) -> str:
    """How front ends address `info`: the dev box name for dev boxes, else the container name."""
    if info.role == ROLE and info.labels.get(LABEL_OWNER):
        return info.labels[LABEL_OWNER]
    return info.name


def run_argv(
    session: str, command: Sequence[str], *, window: str | None = None, cwd: str | None = None
) -> str:
    """Shell line: ensure `session` exists (detached) and start `command` in a new window.

    The command runs through the user's login shell (`bash -lc`), so PATH and the broker
    variables of /etc/profile.d are set, as in an interactive login.
    """
    validate_name(session)
    if window is not None:
        validate_name(window, "window")
    if not command:
        raise TmuxError("no command given to run")
    if cwd is not None and ("\0" in cwd or "\n" in cwd):
        raise TmuxError(f"invalid working directory {cwd!r}")
    inner = remote_command(["bash", "-lc", remote_command(command)])
    new_window = ["tmux", "new-window", "-d", "-t", f"={session}:"]
    if window is not None:
        new_window += ["-n", window]
    if cwd is not None:
        new_window += ["-c", cwd]
    ensure = remote_command(["tmux", "has-session", "-t", f"={session}"])
    create = remote_command(["tmux", "new-session", "-d", "-s", session])
    return f"{{ {ensure} 2>/dev/null || {create}; }} && {remote_command([*new_window, inner])}"


def send_argv(session: str, keys: Sequence[str], *, line: bool, window: str | None = None) -> str:
    """Shell line sending `keys` to the active pane of `session` (`line`: literal text + Enter)."""
    validate_name(session)
    target = f"={session}:" if window is None else f"={session}:{validate_name(window, 'window')}"
    if line:
        text = " ".join(keys)
        if "\0" in text:
            raise TmuxError("text to send may not contain NUL")
        literal = remote_command(["tmux", "send-keys", "-t", target, "-l", "--", text])
        enter = remote_command(["tmux", "send-keys", "-t", target, "Enter"])
        return f"{literal} && {enter}"
    if not keys:
        raise TmuxError("no keys given to send")
    return remote_command(["tmux", "send-keys", "-t", target, "--", *keys])


class TmuxAPI(Protocol):
    """tmux in containers with sshd: list, run, send, broadcast (engine/sessions/tmux_manager.py).

    Containers are named as dev box name, container name or `HOST/ID`. Bad names raise
    `InvalidName` before anything is sent; other failures raise with a message for a person.
    """

    async def sessions(self, container: str) -> TmuxListing: ...

    async def run(
        self,
        container: str,
        command: Sequence[str],
        *,
        session: str | None = None,
        window: str | None = None,
        cwd: str | None = None,
    ) -> str:
        """Start `command` in a new window; the session it went to."""
        ...

    async def send(
        self,
        container: str,
        text: str,
        *,
        session: str | None = None,
        keys: bool = False,
        window: str | None = None,
    ) -> str: ...

    async def broadcast(
        self, containers: Sequence[str], text: str, *, session: str | None = None
    ) -> list[BroadcastOutcome]:
        """One outcome per container; one failing does not stop the others."""
        ...


def tmux_of(engine: EngineAPI) -> TmuxAPI | None:
    """The engine's tmux capability, or None when it has none."""
    tmux: TmuxAPI | None = getattr(engine, "tmux", None)
    return tmux
