"""Where a dev box's sshd is reached from this machine, and the checked SSH target for it.

Shared by the engine's tmux manager and the terminal's attach (`clawtui.terminal.attach`), which
passes the values of its start-up profile; nothing here reads the configuration itself.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from urllib.parse import urlsplit

from clawtui.engine.api.ssh import SSHTarget


def ssh_address(bind_address: str, host_url: str, host_is_local: bool) -> str:
    """Where this machine reaches the published SSH ports on a Docker host.

    `bind_address` is `[devboxes] bind_address`; a remote host's name is used when the ports are
    published beyond loopback there.
    """
    bind = ipaddress.ip_address(bind_address)
    if not host_is_local:
        hostname = urlsplit(host_url).hostname
        if hostname and not bind.is_loopback:
            return hostname
    if bind.is_unspecified:
        return "::1" if bind.version == 6 else "127.0.0.1"
    return str(bind)


def ssh_target(
    address: str,
    port: int,
    *,
    username: str,
    known_hosts: Path,
    identity_file: Path | None,
    use_agent: bool,
    first_identity: Path | None = None,
) -> SSHTarget:
    """An `SSHTarget` with `[attach]`'s user and identity, checked against clawtui's known_hosts;
    `first_identity` (the key a dev box was made for, see `identities`) is tried first."""
    files = tuple(p for p in (first_identity, identity_file) if p is not None)
    return SSHTarget(
        host=address,
        port=port,
        username=username,
        known_hosts=known_hosts,
        identity_files=tuple(dict.fromkeys(files)),
        use_agent=use_agent,
    )
