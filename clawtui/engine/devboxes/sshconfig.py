"""The OpenSSH client config snippet `clawtui dev create` and `clawtui dev ssh-config` print.

    Host NAME
        HostName 127.0.0.1
        Port 2201
        User dev
        IdentityFile /home/me/.ssh/id_ed25519      (when the box remembers its key)
        IdentitiesOnly yes                          (idem)
        HostKeyAlias [127.0.0.1]:2201
        UserKnownHostsFile /home/me/.local/state/clawtui/known_hosts
    # pinned host key (known_hosts line):
    # [127.0.0.1]:2201 ssh-ed25519 AAAA...

The host key line is the one clawtui pinned at create (read through the Docker API); the
snippet points `UserKnownHostsFile` at clawtui's known_hosts, so `ssh NAME` checks it with
`StrictHostKeyChecking` as usual. Paths with spaces are quoted as ssh_config(5) allows.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from clawtui.fsutil import read_text_capped

_KNOWN_HOSTS_LIMIT: Final = 4 << 20


def _quote(value: str) -> str:
    return f'"{value}"' if any(c.isspace() for c in value) else value


def pinned_line(known_hosts: Path, address: str, port: int) -> str | None:
    """The known_hosts line clawtui pinned for address:port, if any."""
    name = address if port == 22 else f"[{address}]:{port}"
    try:
        text, _ = read_text_capped(known_hosts, limit=_KNOWN_HOSTS_LIMIT)
    except OSError:
        return None
    for line in text.splitlines():
        if line.split(" ", 1)[0] == name:
            return line.strip()
    return None


def ssh_config_snippet(
    name: str,
    address: str,
    port: int,
    *,
    user: str,
    identity: Path | None,
    known_hosts: Path,
) -> str:
    """The snippet for dev box `name` (a name `validate_name` accepted: no spaces)."""
    alias = address if port == 22 else f"[{address}]:{port}"
    lines = [
        f"Host {name}",
        f"    HostName {address}",
        f"    Port {port}",
        f"    User {user}",
    ]
    if identity is not None:
        lines += [f"    IdentityFile {_quote(str(identity))}", "    IdentitiesOnly yes"]
    lines += [
        f"    HostKeyAlias {alias}",
        f"    UserKnownHostsFile {_quote(str(known_hosts))}",
    ]
    pin = pinned_line(known_hosts, address, port)
    if pin is not None:
        lines += ["# pinned host key (known_hosts line):", f"# {pin}"]
    else:
        lines.append(f"# no host key pinned for {alias} in {known_hosts} yet")
    return "\n".join(lines) + "\n"
