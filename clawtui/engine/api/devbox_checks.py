"""Dev boxes' names, labels, public keys and SSH ports in the engine interface: the checks front
ends run before asking the engine for anything, and the errors they raise.

Standard library only (no pydantic), so `clawtui attach`'s fast path can use it; the value types
and the protocol are in `clawtui.engine.api.devboxes`. Pure: no I/O, no event loop.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from typing import Any

ROLE = "devbox"
LABEL_ROLE = "clawtui.role"
LABEL_OWNER = "clawtui.owner"
LABEL_PORT = "clawtui.devbox.port"
SSH_PORT_LABELS = (LABEL_PORT, "clawtui.ssh.port")
"""Labels whose value is the host port of a container's sshd (the first one set wins)."""
LABEL_MANAGED = "clawtui.managed"
HOME_ROLE = "devbox-home"
"""`clawtui.role` of a dev box's home volume."""
HOME_DIR = "/home/dev"
HOSTKEYS_ROLE = "devbox-hostkeys"
"""`clawtui.role` of the volume that keeps a dev box's SSH host keys next to its home."""
HOSTKEYS_DIR = "/var/lib/clawtui/ssh-host-keys"
"""Where that volume is mounted (root only); the entrypoint reuses the keys it finds there."""

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,30}$")
MAX_KEYS_BYTES = 64 * 1024
MAX_KEYS = 100
KEY_TYPES = frozenset(
    {
        "ssh-ed25519",
        "ssh-rsa",
        "ecdsa-sha2-nistp256",
        "ecdsa-sha2-nistp384",
        "ecdsa-sha2-nistp521",
        "sk-ssh-ed25519@openssh.com",
        "sk-ecdsa-sha2-nistp256@openssh.com",
    }
)
_CONTROL_RE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


class DevboxError(Exception):
    """A dev-box operation failed; the message says why and, where it can, what to do."""


class DevboxInputError(DevboxError, ValueError):
    """What was asked for is invalid (a name, a key, a size...): nothing was touched."""


def validate_name(name: str) -> str:
    """The name itself if valid for `dev-NAME`; DevboxInputError otherwise."""
    if not isinstance(name, str) or not NAME_RE.fullmatch(name):
        raise DevboxInputError(
            f"invalid dev box name {name!r}: use 1 to 31 lowercase letters, digits, '_' or '-', "
            "starting with a letter or digit (e.g. 'alice')"
        )
    return name


def container_name(name: str) -> str:
    return f"dev-{name}"


def volume_name(name: str) -> str:
    return f"clawtui-dev-{name}-home"


def hostkeys_volume_name(name: str) -> str:
    """The volume keeping dev box `name`'s SSH host keys: kept and removed with its home, so
    a box re-created after `dev rm --keep-home` has the key that was pinned."""
    return f"clawtui-dev-{name}-hostkeys"


def validate_public_keys(text: str, *, strict: bool = True) -> str:
    """Normalized authorized_keys text (one key per line, final newline) from `text`.

    Blank lines and `#` comments are dropped. With `strict`, every other line must be
    `TYPE BASE64 [comment]` with TYPE one of KEY_TYPES and a blob that decodes and names the
    same type (a pasted private key, a fingerprint or `command="..."` options are refused).
    Without `strict`, any printable line is accepted. Raises DevboxInputError with the line.
    """
    if not isinstance(text, str):
        raise DevboxInputError("the public key must be text")
    if len(text.encode("utf-8", "replace")) > MAX_KEYS_BYTES:
        raise DevboxInputError(f"the public key text is larger than {MAX_KEYS_BYTES} bytes")
    if text.startswith("\ufeff"):
        text = text[1:]
    keys: list[str] = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if _CONTROL_RE.search(line):
            raise DevboxInputError(f"public key line {number}: control characters are not allowed")
        if "PRIVATE KEY" in line:
            raise DevboxInputError(
                f"public key line {number}: this is a private key; give the .pub file instead"
            )
        if strict:
            line = _check_key_line(line, number)
        keys.append(line)
    if not keys:
        raise DevboxInputError(
            "no public key given: pass an OpenSSH public key such as the content of "
            "~/.ssh/id_ed25519.pub"
        )
    if len(keys) > MAX_KEYS:
        raise DevboxInputError(f"too many public keys ({len(keys)}); at most {MAX_KEYS}")
    return "\n".join(keys) + "\n"


def _check_key_line(line: str, number: int) -> str:
    parts = line.split(None, 2)
    kind = parts[0]
    if kind not in KEY_TYPES:
        accepted = "ssh-ed25519, ssh-rsa, ecdsa-sha2-nistp256/384/521, sk-ssh-ed25519, sk-ecdsa"
        raise DevboxInputError(
            f"public key line {number}: {kind[:40]!r} is not a supported key type "
            f"({accepted}); options before the key are not accepted either"
        )
    if len(parts) < 2:
        raise DevboxInputError(f"public key line {number}: the key data after {kind} is missing")
    try:
        blob = base64.b64decode(parts[1], validate=True)
    except (binascii.Error, ValueError):
        raise DevboxInputError(f"public key line {number}: the key data is not base64") from None
    if len(blob) < 4:
        raise DevboxInputError(f"public key line {number}: the key data is too short")
    size = int.from_bytes(blob[:4], "big")
    if blob[4 : 4 + size] != kind.encode():
        raise DevboxInputError(
            f"public key line {number}: the key data does not hold a {kind} key (damaged copy?)"
        )
    return " ".join(parts)


def int_port(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        port = value
    elif isinstance(value, str) and value.isdigit() and value.isascii():
        port = int(value)
    else:
        return None
    return port if 0 < port < 65536 else None


def ssh_port(labels: Mapping[str, Any] | None) -> int | None:
    """The host port of a container's sshd from its labels (`SSH_PORT_LABELS`), or None."""
    for label in SSH_PORT_LABELS:
        port = int_port((labels or {}).get(label))
        if port is not None:
            return port
    return None
