"""tmux in containers, over checked SSH connections: list, run, send, broadcast.

Names, argv builders, value types and errors are in the engine interface
(`clawtui.engine.api.tmux`). Every name (session, window) must match `^[A-Za-z0-9_-]{1,64}$`; it is
checked before anything is sent anywhere (`validate_name`). Every remote command line is built from
argv lists with `shlex.quote` (`remote_command`), so nothing a caller passes is ever parsed by the
remote shell as syntax. tmux's own errors ("no server running", "can't find session", command not
found) become `TmuxError` with a message saying what to do.

Events: `EventKind.TMUX` with `action` ("run", "send", "broadcast"), `target` (the dev box or host
name), `session`, and for run `window`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Final

from clawtui.engine.api.tmux import (
    TmuxError,
    TmuxSession,
    TmuxWindow,
    remote_command,
    run_argv,
    send_argv,
)

if TYPE_CHECKING:
    import asyncssh

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
