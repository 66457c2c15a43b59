"""Dev boxes, the parts that need no Docker: names, public keys, SSH ports, the key tarball.

Kept apart from `devboxes.py` so that what decides whether a request is acceptable (and what
exactly is sent to Docker for it) can be read and unit-tested on its own. Everything here is
pure: no I/O, no event loop.
"""

from __future__ import annotations

import base64
import binascii
import io
import re
import tarfile
import time
from collections.abc import Callable, Collection, Iterable, Mapping
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


def pick_port(
    used: Collection[int],
    low: int,
    high: int,
    *,
    is_free: Callable[[int], bool] | None = None,
) -> int | None:
    """The lowest port of [low, high] not in `used` (and free by `is_free`), or None."""
    for port in range(low, high + 1):
        if port in used:
            continue
        if is_free is not None and not is_free(port):
            continue
        return port
    return None


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


def ports_in_use(listed: Iterable[Any], inspected: Iterable[Any] = ()) -> dict[int, str]:
    """Host ports taken on a host → the container name that takes each.

    `listed`: entries of the container list (running containers report `Ports`; dev boxes carry
    their port as a label even when stopped). `inspected`: inspect replies of stopped containers,
    whose `HostConfig.PortBindings` will claim ports when they start again.
    """
    used: dict[int, str] = {}

    def name_of(entry: Mapping[str, Any]) -> str:
        names = entry.get("Names")
        if isinstance(names, list) and names and isinstance(names[0], str):
            return names[0].lstrip("/")
        name = entry.get("Name")
        return name.lstrip("/") if isinstance(name, str) else str(entry.get("Id", "?"))[:12]

    for entry in listed:
        if not isinstance(entry, dict):
            continue
        for binding in entry.get("Ports") or []:
            port = int_port(binding.get("PublicPort")) if isinstance(binding, dict) else None
            if port is not None:
                used.setdefault(port, name_of(entry))
        labels = entry.get("Labels")
        if isinstance(labels, dict):
            port = int_port(labels.get(LABEL_PORT))
            if port is not None:
                used.setdefault(port, name_of(entry))
    for data in inspected:
        if not isinstance(data, dict):
            continue
        host_config = data.get("HostConfig")
        bindings = host_config.get("PortBindings") if isinstance(host_config, dict) else None
        if not isinstance(bindings, dict):
            continue
        for targets in bindings.values():
            for target in targets or []:
                port = int_port(target.get("HostPort")) if isinstance(target, dict) else None
                if port is not None:
                    used.setdefault(port, name_of(data))
    return used


def authorized_keys_tar(keys_text: str, uid: int, gid: int, *, mtime: float | None = None) -> bytes:
    """An in-memory tar of `.ssh/` (0700) and `.ssh/authorized_keys` (0600), owned uid:gid,
    to be unpacked in the home folder by the Docker archive API."""
    data = keys_text.encode("utf-8")
    stamp = int(time.time() if mtime is None else mtime)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
        folder = tarfile.TarInfo(".ssh")
        folder.type = tarfile.DIRTYPE
        folder.mode = 0o700
        keys = tarfile.TarInfo(".ssh/authorized_keys")
        keys.size = len(data)
        keys.mode = 0o600
        for member in (folder, keys):
            member.uid, member.gid = uid, gid
            member.uname = member.gname = "dev"
            member.mtime = stamp
        tar.addfile(folder)
        tar.addfile(keys, io.BytesIO(data))
    return buf.getvalue()
