"""tmux in one dev box over a direct, checked SSH connection: what `clawtui tmux ls|run|send|
broadcast` and `clawtui ssh trust` do from this machine (no engine, like `clawtui attach`).

Each call opens one connection (`clawtui.engine.sessions.ssh.connect`: host keys always checked),
does its tmux work (`clawtui.engine.sessions.tmux`) and closes it. Names and argv are validated by
the caller first, with `clawtui.engine.api.tmux`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, TypeVar

from clawtui.engine.sessions import ssh, tmux

if TYPE_CHECKING:
    import asyncssh

    from clawtui.engine.api.ssh import SSHTarget
    from clawtui.engine.api.tmux import TmuxSession, TmuxWindow

R = TypeVar("R")


async def with_connection(
    target: SSHTarget, fn: Callable[[asyncssh.SSHClientConnection], Awaitable[R]]
) -> R:
    """`fn` over a new checked connection to `target`, closed afterwards."""
    conn = await ssh.connect(target)
    try:
        return await fn(conn)
    finally:
        conn.close()


async def listing(target: SSHTarget) -> tuple[list[TmuxSession], list[TmuxWindow]]:
    """The tmux sessions and windows at `target`."""

    async def both(
        conn: asyncssh.SSHClientConnection,
    ) -> tuple[list[TmuxSession], list[TmuxWindow]]:
        return await tmux.list_sessions(conn), await tmux.list_windows(conn)

    return await with_connection(target, both)


async def run_in_window(
    target: SSHTarget,
    session: str,
    command: Sequence[str],
    *,
    window: str | None = None,
    cwd: str | None = None,
) -> None:
    """Start `command` in a new window of `session` (created when missing) at `target`."""
    await with_connection(
        target, lambda c: tmux.run_in_window(c, session, command, window=window, cwd=cwd)
    )


async def send(
    target: SSHTarget, session: str, keys: Sequence[str], *, line: bool, window: str | None = None
) -> None:
    """Send `keys` to `session` at `target` (`line`: literal text and Enter)."""
    await with_connection(target, lambda c: tmux.send(c, session, keys, line=line, window=window))


async def trust_host_key(target: SSHTarget, fingerprint: str) -> None:
    """Pin `target`'s host key in its known_hosts when it has `fingerprint`."""
    await ssh.trust_host_key(target, fingerprint)
