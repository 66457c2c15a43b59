"""`engine.tmux`: tmux sessions of the engine's containers, over one reused SSH connection each.

A container is addressed the way the CLI and the REST routes address dev boxes: by dev box
name (`sam`), by container name (`dev-sam`, or any container's name) or by key (`HOST/ID`). It
must run and publish its sshd's host port in the label `clawtui.devbox.port` (dev boxes do;
any other container carrying the label works the same). The address is the one
`clawtui attach` uses (`[devboxes] bind_address` / the Docker host's URL) and the host key is
checked against clawtui's known_hosts (`[attach] known_hosts`).

One checked SSH connection per target is kept in a `ConnectionPool`
(clawtui/engine/sessions/ssh.py): connecting again after network trouble waits with backoff, a
refused host key or refused auth is raised at once and never retried. Listing is read-only, so a
listing whose pooled connection died is tried once more on a fresh one; run and send are never
repeated.

Events: `EventKind.TMUX`, `host` = the container's Docker host, data:
  `action` ("run" | "send" | "broadcast"), `target` (the name the caller used), `key`
  (`HOST/ID`), `session`, and for run `window`; for broadcast `targets` (names) and `ok`
  (how many got the line).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from clawtui.engine.api.devbox_checks import LABEL_OWNER, LABEL_PORT, ROLE, ssh_port
from clawtui.engine.api.models import EventKind
from clawtui.engine.api.ssh import SSHFailure, SSHTarget
from clawtui.engine.api.tmux import (
    MAX_BROADCAST,
    BroadcastOutcome,
    TargetError,
    TmuxError,
    TmuxListing,
    run_argv,
    send_argv,
    validate_name,
)
from clawtui.engine.sessions import tmux
from clawtui.engine.sessions.identities import remembered
from clawtui.engine.sessions.ssh import ConnectionPool
from clawtui.engine.sessions.targets import ssh_address, ssh_target

if TYPE_CHECKING:
    import asyncssh

    from clawtui.engine.api.models import ContainerInfo
    from clawtui.engine.context import Context


@dataclass(frozen=True)
class TmuxTarget:
    """A resolved container: how the caller named it, where it is, how to reach its sshd."""

    name: str
    host: str
    key: str
    ssh: SSHTarget


def ssh_port_of(info: ContainerInfo) -> int | None:
    """The host port of `info`'s sshd from its labels, or None."""
    return ssh_port(info.labels)


class TmuxManager:
    """The engine's tmux capability (`engine.tmux`; protocol `TmuxAPI` in engine/api/tmux.py)."""

    def __init__(self, ctx: Context, *, pool: ConnectionPool | None = None) -> None:
        self.ctx = ctx
        self.pool = pool or ConnectionPool()

    async def start(self) -> None:
        """Nothing to start: connections are opened on first use."""

    async def stop(self) -> None:
        await self.pool.close()

    # -- addressing ----------------------------------------------------------------------------
    def _find(self, container: str) -> ContainerInfo:
        if not isinstance(container, str) or not container or len(container) > 256:
            raise TargetError(f"invalid container name {str(container)[:80]!r}", 400)
        if "/" in container:
            info = self.ctx.container(container)
            if info is None:
                raise TargetError(f"no container with key {container!r}")
            return info
        everything = self.ctx.containers()
        boxes = [c for c in everything if c.role == ROLE and c.labels.get(LABEL_OWNER) == container]
        named = boxes or [c for c in everything if c.name == container]
        if not named and len(container) >= 12:
            named = [c for c in everything if c.id.startswith(container)]
        if not named:
            raise TargetError(f"no dev box or container named {container!r}")
        if len(named) > 1:
            hosts = ", ".join(sorted({c.host for c in named}))
            raise TargetError(
                f"{container!r} names several containers (hosts {hosts}): use HOST/ID", 409
            )
        return named[0]

    def resolve(self, container: str) -> TmuxTarget:
        """Where `container`'s sshd is; `TargetError` (with an HTTP status) if unreachable."""
        info = self._find(container)
        port = ssh_port_of(info)
        if info.state != "running" or port is None:
            raise TargetError(
                f"{container} is not running or publishes no SSH port "
                f"(label {LABEL_PORT}); start it, or attach with `clawtui attach {container}`",
                409,
            )
        settings = self.ctx.settings
        host = settings.host(info.host)
        if host is None:
            raise TargetError(f"unknown Docker host {info.host!r}")
        attach = settings.attach
        known_hosts = attach.resolved_known_hosts(settings.engine.resolved_state_dir)
        owner = info.labels.get(LABEL_OWNER) if info.role == ROLE else None
        ssh = ssh_target(
            ssh_address(str(settings.devboxes.bind_address), host.url, host.is_local),
            port,
            username=attach.username,
            known_hosts=known_hosts,
            identity_file=attach.identity_file,
            use_agent=attach.use_agent,
            first_identity=remembered(known_hosts, info.host, owner) if owner else None,
        )
        return TmuxTarget(name=container, host=info.host, key=info.key, ssh=ssh)

    # -- the verbs -----------------------------------------------------------------------------
    async def _call(self, target: TmuxTarget, fn: Any, *, retry: bool = False) -> Any:
        conn: asyncssh.SSHClientConnection = await self.pool.get(target.ssh)
        try:
            return await fn(conn)
        except TmuxError as exc:
            if "SSH connection failed" not in str(exc):
                raise
            self.pool.drop(target.ssh)
            if not retry:
                raise
        conn = await self.pool.get(target.ssh)  # a fresh one (connect waits with backoff)
        return await fn(conn)

    async def sessions(self, container: str) -> TmuxListing:
        """`container`'s tmux sessions and windows (empty when no tmux server runs)."""
        target = self.resolve(container)

        async def both(conn: asyncssh.SSHClientConnection) -> TmuxListing:
            sessions = await tmux.list_sessions(conn)
            windows = await tmux.list_windows(conn)
            return TmuxListing(container, sessions, windows)

        listing: TmuxListing = await self._call(target, both, retry=True)
        return listing

    async def run(
        self,
        container: str,
        command: Sequence[str],
        *,
        session: str | None = None,
        window: str | None = None,
        cwd: str | None = None,
    ) -> str:
        """Start `command` in a new window of `session` (created if missing); the session."""
        name = self._session(session)
        command = list(command)
        run_argv(name, command, window=window, cwd=cwd)  # validates before any SSH
        target = self.resolve(container)
        await self._call(target, lambda c: tmux.run_in_window(
            c, name, command, window=window, cwd=cwd))  # fmt: skip
        self._publish(target, action="run", session=name, window=window)
        return name

    async def send(
        self,
        container: str,
        text: str,
        *,
        session: str | None = None,
        keys: bool = False,
        window: str | None = None,
    ) -> str:
        """Type `text` and Enter into `session` (`keys`: tmux key names, no Enter)."""
        name = self._session(session)
        words = text.split() if keys else [text]
        send_argv(name, words, line=not keys, window=window)
        target = self.resolve(container)
        await self._call(target, lambda c: tmux.send(c, name, words, line=not keys, window=window))
        self._publish(target, action="send", session=name)
        return name

    async def broadcast(
        self, containers: Sequence[str], text: str, *, session: str | None = None
    ) -> list[BroadcastOutcome]:
        """Type `text` and Enter into `session` of every container, at once; one outcome each.

        A failure in one container (unknown, stopped, refused, tmux error) is its outcome; the
        others still get the line. Bad input (session name, text, no containers) raises first.
        """
        name = self._session(session)
        send_argv(name, [text], line=True)
        names = list(dict.fromkeys(containers))
        if not names:
            raise TmuxError("no containers to broadcast to")
        if len(names) > MAX_BROADCAST:
            raise TmuxError(f"at most {MAX_BROADCAST} containers per broadcast")

        async def one(container: str) -> BroadcastOutcome:
            try:
                target = self.resolve(container)
                await self._call(target, lambda c: tmux.send(c, name, [text], line=True))
            except (TargetError, SSHFailure, TmuxError) as exc:
                return BroadcastOutcome(container, False, str(exc))
            return BroadcastOutcome(container, True, extra={"host": target.host})

        outcomes = list(await asyncio.gather(*(one(c) for c in names)))
        ok = [o for o in outcomes if o.ok]
        hosts = {o.extra.get("host") for o in ok}
        self.ctx.bus.publish(
            EventKind.TMUX,
            host=hosts.pop() if len(hosts) == 1 else None,
            action="broadcast",
            targets=[o.container for o in ok],
            ok=len(ok),
            session=name,
        )
        return outcomes

    # -- helpers -------------------------------------------------------------------------------
    def _session(self, session: str | None) -> str:
        return validate_name(self.ctx.settings.attach.session if session is None else session)

    def _publish(self, target: TmuxTarget, **data: Any) -> None:
        self.ctx.bus.publish(
            EventKind.TMUX, host=target.host, target=target.name, key=target.key, **data
        )
