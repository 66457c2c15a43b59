"""SSH connections with host keys always checked (asyncssh).

Every SSH connection the engine makes (attach, tmux listing, host health monitors) goes through
`connect`. The rules, which no caller can turn off:

* `known_hosts` is always a file (clawtui's own, in the XDG state dir, or a configured one);
  never None, and `~/.ssh/config` is not read, so `UserKnownHostsFile none` or
  `StrictHostKeyChecking no` there cannot switch checking off;
* an unknown host key is refused with its fingerprint and the command that trusts it
  (`HostKeyUnknown`); a key different from the pinned one is refused (`HostKeyChanged`);
* key-only auth (identity files or the ssh-agent), `disable_trivial_auth`, connect timeout,
  keepalive so a dead link is noticed;
* `SSHFailure.retryable` tells monitors whether reconnecting can help: never after a refused
  host key or refused auth.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from clawtui.engine.api.ssh import (
    SSHFailure,
    SSHTarget,
)
from clawtui.fsutil import atomic_write, read_text_capped

if TYPE_CHECKING:  # asyncssh (~0.4 s of imports) is imported when first used: start-up time
    import asyncssh

    from clawtui.config.escalations import MonitorConfig

KNOWN_HOSTS_LIMIT: Final = 4 << 20
_PIN_LOCK = threading.Lock()


class HostKeyUnknown(SSHFailure):
    """The host presented a key that no known_hosts entry vouches for."""

    def __init__(self, target: SSHTarget, fingerprint: str) -> None:
        self.fingerprint = fingerprint
        super().__init__(
            f"{target.display}: unknown host key {fingerprint}; refusing to connect. If this "
            f"fingerprint is right, trust it with: clawtui ssh trust {target.display} "
            f"--fingerprint {fingerprint}"
        )


class HostKeyChanged(SSHFailure):
    """The host presented a key different from the one pinned for it."""

    def __init__(self, target: SSHTarget, fingerprint: str) -> None:
        self.fingerprint = fingerprint
        super().__init__(
            f"{target.display}: HOST KEY CHANGED (now {fingerprint}); refusing to connect. "
            f"Someone may be intercepting the connection, or the host was rebuilt. If you know "
            f"why, remove its line from {target.known_hosts} and trust the new key."
        )


class AuthRefused(SSHFailure):
    """The host refused every key offered."""


class Unreachable(SSHFailure):
    """Network trouble (refused, timed out, reset): trying again later may work."""

    retryable = True


def _checking_client() -> Any:
    """An `asyncssh.SSHClient` that remembers the host key asyncssh could not verify (in
    `rejected_key`), for the error message."""
    import asyncssh

    class _CheckingClient(asyncssh.SSHClient):
        def __init__(self) -> None:
            self.rejected_key: asyncssh.SSHKey | None = None

        def validate_host_public_key(
            self, host: str, addr: str, port: int, key: asyncssh.SSHKey
        ) -> bool:
            self.rejected_key = key
            return False

    return _CheckingClient()


def _client_keys(target: SSHTarget) -> Sequence[Any]:
    """The identity files' keys; none named: `()`, which tells asyncssh to offer, after the
    agent's keys, the usual `~/.ssh/id_ed25519`, `id_ecdsa`, `id_rsa`... that load without a
    passphrase, as OpenSSH does. (None would turn public-key authentication off, agent too.)"""
    import asyncssh

    keys: list[Any] = []
    for path in target.identity_files:
        try:
            keys.append(asyncssh.read_private_key(str(path)))
        except (OSError, asyncssh.KeyImportError) as exc:
            raise AuthRefused(
                f"cannot use identity file {path}: {exc} (point identity_file at an "
                "unencrypted private key, or load it into ssh-agent)"
            ) from exc
    return keys or ()


def connect_options(target: SSHTarget) -> dict[str, Any]:
    """The keyword arguments every `asyncssh.connect` of clawtui uses."""
    if not target.known_hosts.is_file():
        target.known_hosts.parent.mkdir(parents=True, exist_ok=True)
        target.known_hosts.touch(mode=0o600)
    agent = os.environ.get("SSH_AUTH_SOCK") if target.use_agent else None
    return {
        "port": target.port,
        "username": target.username,
        "known_hosts": str(target.known_hosts),
        "config": None,  # ~/.ssh/config must not weaken host key checking
        "client_keys": _client_keys(target),
        "agent_path": agent or None,
        "password": None,
        "password_auth": False,
        "kbdint_auth": False,
        "disable_trivial_auth": True,
        "connect_timeout": target.connect_timeout,
        "login_timeout": target.connect_timeout,
        "keepalive_interval": target.keepalive_interval,
        "keepalive_count_max": target.keepalive_count,
        **target.extra,
    }


def pinned_keys(target: SSHTarget) -> list[asyncssh.SSHKey]:
    """The keys `target.known_hosts` trusts for this host and port."""
    import asyncssh

    try:
        text, _ = read_text_capped(target.known_hosts, limit=KNOWN_HOSTS_LIMIT)
    except FileNotFoundError:
        return []
    try:
        known = asyncssh.import_known_hosts(text)
    except (ValueError, asyncssh.KeyImportError):
        return []
    trusted, _, _, _, _, _, _ = known.match(target.host, "", target.port)
    return list(trusted)


def pin_host_key(known_hosts: Path, host: str, port: int, public_key: str) -> None:
    """Trust `public_key` (an OpenSSH public key line) for host:port, replacing older pins.

    The file is rewritten atomically; lines for other hosts are kept as they are.
    """
    import asyncssh

    key = asyncssh.import_public_key(public_key.strip())
    name = host if port == 22 else f"[{host}]:{port}"
    line = f"{name} {key.export_public_key('openssh').decode().strip()}\n"
    known_hosts.parent.mkdir(parents=True, exist_ok=True)
    # Read-modify-write under a lock (threads of this process, and other processes), so two
    # dev boxes created at once cannot lose each other's pin.
    with _PIN_LOCK, open(known_hosts.with_name(known_hosts.name + ".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        _rewrite_pins(known_hosts, name, line)


def _rewrite_pins(known_hosts: Path, name: str, line: str) -> None:
    try:
        old, _ = read_text_capped(known_hosts, limit=KNOWN_HOSTS_LIMIT)
    except FileNotFoundError:
        old = ""
    kept = [ln for ln in old.splitlines(keepends=True) if ln.split(" ", 1)[0] != name]
    if kept and not kept[-1].endswith("\n"):
        kept[-1] += "\n"
    atomic_write(known_hosts, "".join(kept) + line, mode=0o600)


def monitor_target(cfg: MonitorConfig, state_dir: Path) -> SSHTarget:
    """The SSH target of a `[[monitors]]` host (its health checks and its autoheal entries)."""
    assert cfg.host is not None
    return SSHTarget(
        host=cfg.host,
        port=cfg.port,
        username=cfg.username,
        known_hosts=cfg.known_hosts or state_dir / "known_hosts",
        identity_files=(cfg.identity_file,) if cfg.identity_file else (),
        use_agent=cfg.identity_file is None,
        connect_timeout=min(cfg.timeout, 30.0),
    )


async def connect(target: SSHTarget) -> asyncssh.SSHClientConnection:
    """Open a checked SSH connection to `target`, or raise an `SSHFailure`."""
    import asyncssh

    options = connect_options(target)
    client = _checking_client()
    try:
        conn, _ = await asyncssh.create_connection(lambda: client, target.host, **options)
    except asyncssh.HostKeyNotVerifiable as exc:
        key = client.rejected_key
        fingerprint = key.get_fingerprint("sha256") if key is not None else "(not shown)"
        if pinned_keys(target):
            raise HostKeyChanged(target, fingerprint) from exc
        raise HostKeyUnknown(target, fingerprint) from exc
    except asyncssh.PermissionDenied as exc:
        tried = (
            "check identity_file, or that ssh-agent holds the key"
            if target.identity_files
            else "tried ssh-agent and ~/.ssh/id_ed25519, id_ecdsa, id_rsa; set [attach] "
            "identity_file to the key whose public half the box has"
        )
        raise AuthRefused(
            f"{target.display}: the host refused every key offered for user "
            f"{target.username!r} ({tried})"
        ) from exc
    except (TimeoutError, OSError, asyncssh.ConnectionLost) as exc:
        raise Unreachable(f"{target.display}: cannot connect: {exc}") from exc
    except asyncssh.DisconnectError as exc:
        raise Unreachable(f"{target.display}: disconnected: {exc.reason}") from exc
    return conn


RECONNECT_DELAYS: Final = (0.5, 1.0, 2.0, 4.0)


class ConnectionPool:
    """One checked SSH connection per target, reused for listing and sending keys.

    A closed connection is replaced on the next `get`. Connecting again after a retryable
    failure (`Unreachable`) waits 0.5, 1, 2, 4 s between attempts; a refused host key or refused
    auth is raised at once and never retried. Interactive attach opens its own channel (or its
    own connection), never sharing a PTY with this pool's commands.
    """

    def __init__(self, delays: tuple[float, ...] = RECONNECT_DELAYS) -> None:
        self._conns: dict[SSHTarget, asyncssh.SSHClientConnection] = {}
        self._locks: dict[SSHTarget, asyncio.Lock] = {}
        self._delays = delays

    async def get(self, target: SSHTarget) -> asyncssh.SSHClientConnection:
        lock = self._locks.setdefault(target, asyncio.Lock())
        async with lock:
            conn = self._conns.get(target)
            if conn is not None and not _is_closed(conn):
                return conn
            self._conns.pop(target, None)
            conn = await connect_with_backoff(target, self._delays)
            self._conns[target] = conn
            return conn

    def drop(self, target: SSHTarget) -> None:
        """Forget (and close) the connection to `target`, e.g. after it failed."""
        conn = self._conns.pop(target, None)
        if conn is not None:
            conn.close()

    async def close(self) -> None:
        conns = list(self._conns.values())
        self._conns.clear()
        for conn in conns:
            conn.close()
        for conn in conns:
            with contextlib.suppress(Exception):
                await conn.wait_closed()


def _is_closed(conn: asyncssh.SSHClientConnection) -> bool:
    return conn.is_closed()


async def connect_with_backoff(
    target: SSHTarget, delays: tuple[float, ...] = RECONNECT_DELAYS
) -> asyncssh.SSHClientConnection:
    """`connect`, retried after `delays` while the failure is retryable (network trouble)."""
    for delay in (*delays, None):
        try:
            return await connect(target)
        except SSHFailure as exc:
            if not exc.retryable or delay is None:
                raise
        await asyncio.sleep(delay)
    raise AssertionError("unreachable")  # pragma: no cover


async def trust_host_key(target: SSHTarget, fingerprint: str) -> None:
    """Fetch the host key `target` presents, and pin it only if its fingerprint matches."""
    import asyncssh

    try:
        key = await asyncio.wait_for(
            asyncssh.get_server_host_key(target.host, target.port, config=None),
            target.connect_timeout,
        )
    except (TimeoutError, OSError, asyncssh.Error) as exc:
        raise Unreachable(f"{target.display}: cannot fetch its host key: {exc}") from exc
    if key is None:
        raise Unreachable(f"{target.display}: presented no host key")
    seen = key.get_fingerprint("sha256")
    if seen != fingerprint:
        raise SSHFailure(
            f"{target.display} presents key {seen}, not {fingerprint}; nothing was trusted "
            "(check the fingerprint with the host's owner)"
        )
    line = key.export_public_key("openssh").decode()
    await asyncio.to_thread(pin_host_key, target.known_hosts, target.host, target.port, line)
