"""tmux in containers, over checked SSH connections: list, run, send, broadcast.

Every name (session, window) must match `^[A-Za-z0-9_-]{1,64}$`; it is checked before anything
is sent anywhere (`validate_name`). Every remote command line is built from argv lists with
`shlex.quote` (`remote_command`), so nothing a caller passes is ever parsed by the remote shell
as syntax. tmux's own errors ("no server running", "can't find session", command not found)
become `TmuxError` with a message saying what to do.

Events: `EventKind.TMUX` with `action` ("run", "send", "broadcast"), `target` (the dev box or
host name), `session`, and for run `window`.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    import asyncssh

NAME_RE: Final = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_FIELD_SEP: Final = "\t"
_SESSION_FORMAT: Final = _FIELD_SEP.join(
    ["#{session_name}", "#{session_windows}", "#{session_attached}", "#{session_activity}"]
)
_WINDOW_FORMAT: Final = _FIELD_SEP.join(
    ["#{session_name}", "#{window_index}", "#{window_name}", "#{window_active}",
     "#{pane_current_command}"]
)  # fmt: skip
MAX_OUTPUT: Final = 1 << 20
COMMAND_TIMEOUT: Final = 15.0


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


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        return 0


def parse_sessions(output: str) -> list[TmuxSession]:
    """Parse `tmux list-sessions -F` output (our format); malformed lines are skipped."""
    sessions = []
    for line in output.splitlines():
        parts = line.split(_FIELD_SEP)
        if len(parts) != 4:
            continue
        sessions.append(
            TmuxSession(parts[0], _int(parts[1]), _int(parts[2]), float(_int(parts[3])))
        )
    return sessions


def parse_windows(output: str) -> list[TmuxWindow]:
    """Parse `tmux list-windows -a -F` output (our format); malformed lines are skipped."""
    windows = []
    for line in output.splitlines():
        parts = line.split(_FIELD_SEP)
        if len(parts) != 5:
            continue
        windows.append(TmuxWindow(parts[0], _int(parts[1]), parts[2], parts[3] == "1", parts[4]))
    return windows


def list_sessions_argv() -> list[str]:
    return ["tmux", "list-sessions", "-F", _SESSION_FORMAT]


def list_windows_argv() -> list[str]:
    return ["tmux", "list-windows", "-a", "-F", _WINDOW_FORMAT]


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


def explain(stderr: str, exit_status: int | None) -> str:
    """A clear message for a failed tmux command."""
    text = stderr.strip()
    if exit_status == 127 or "command not found" in text or "tmux: not found" in text:
        return "tmux is not installed in the container (install the tmux package)"
    if "no server running" in text or "error connecting to" in text:
        return "no tmux server is running there (no sessions yet)"
    if "can't find session" in text or "session not found" in text:
        return f"no such tmux session ({text})"
    if "can't find window" in text:
        return f"no such tmux window ({text})"
    if "sessions should be nested" in text:
        return "tmux refused: $TMUX is set (already inside tmux); unset TMUX or detach first"
    if "missing or unsuitable terminal" in text or "unknown terminal" in text.lower():
        return f"tmux does not know the terminal type ({text}); set TERM=xterm-256color"
    return f"tmux failed (exit {exit_status}): {text or 'no message'}"


async def run_remote(conn: asyncssh.SSHClientConnection, command: str) -> str:
    """Run `command` over `conn`; return stdout, or raise `TmuxError` with a clear message."""
    import asyncio

    import asyncssh

    try:
        result = await asyncio.wait_for(
            conn.run(command, check=False, stdin=asyncssh.DEVNULL), COMMAND_TIMEOUT
        )
    except TimeoutError:
        raise TmuxError(f"tmux did not answer within {COMMAND_TIMEOUT:.0f}s") from None
    except (asyncssh.Error, OSError) as exc:
        raise TmuxError(f"the SSH connection failed: {exc}") from exc
    out = result.stdout if isinstance(result.stdout, str) else ""
    err = result.stderr if isinstance(result.stderr, str) else ""
    if result.exit_status != 0:
        raise TmuxError(explain(err, result.exit_status))
    return out[:MAX_OUTPUT]


async def list_sessions(conn: asyncssh.SSHClientConnection) -> list[TmuxSession]:
    """The tmux sessions on the other side ([] when no tmux server runs)."""
    try:
        out = await run_remote(conn, remote_command(list_sessions_argv()))
    except TmuxError as exc:
        if "no tmux server is running" in str(exc):
            return []
        raise
    return parse_sessions(out)


async def list_windows(conn: asyncssh.SSHClientConnection) -> list[TmuxWindow]:
    """Every window of every session ([] when no tmux server runs)."""
    try:
        out = await run_remote(conn, remote_command(list_windows_argv()))
    except TmuxError as exc:
        if "no tmux server is running" in str(exc):
            return []
        raise
    return parse_windows(out)


async def run_in_window(
    conn: asyncssh.SSHClientConnection,
    session: str,
    command: Sequence[str],
    *,
    window: str | None = None,
    cwd: str | None = None,
) -> None:
    await run_remote(conn, run_argv(session, command, window=window, cwd=cwd))


async def send(
    conn: asyncssh.SSHClientConnection,
    session: str,
    keys: Sequence[str],
    *,
    line: bool = True,
    window: str | None = None,
) -> None:
    await run_remote(conn, send_argv(session, keys, line=line, window=window))
