"""The private key each dev box was made for (`clawtui dev create --key K.pub` remembers `K`).

A small JSON file beside clawtui's known_hosts (`devbox-identities.json`), so the engine's tmux
manager and the terminal's attach (which only knows the known_hosts path of its start-up profile)
both find it: `{"HOST/NAME": "/abs/path/K", ...}`. Written atomically, read capped; anything in it
that is not a string path is ignored. The remembered key is tried before the configured identity
and the agent (see `targets.ssh_target`).
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Final

from clawtui.fsutil import atomic_write, read_text_capped

FILE_NAME: Final = "devbox-identities.json"
_LIMIT: Final = 1 << 20
_lock = threading.Lock()


def identities_file(known_hosts: Path) -> Path:
    return known_hosts.parent / FILE_NAME


def _read(path: Path) -> dict[str, str]:
    try:
        text, _cut = read_text_capped(path, limit=_LIMIT)
        data = json.loads(text)
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {k: v for k, v in data.items() if isinstance(k, str) and isinstance(v, str) and v}


def private_key_beside(public_key_file: Path) -> Path | None:
    """`K` for `K.pub` when that file exists, else None."""
    if public_key_file.suffix != ".pub":
        return None
    private = public_key_file.with_suffix("").expanduser().resolve()
    return private if private.is_file() else None


def remember(known_hosts: Path, host: str, name: str, private_key: Path | None) -> None:
    """Record (or, with None, forget) the private key of dev box `name` on `host`."""
    path = identities_file(known_hosts)
    with _lock:
        data = _read(path)
        key = f"{host}/{name}"
        if private_key is None:
            if data.pop(key, None) is None:
                return
        else:
            data[key] = str(private_key)
        atomic_write(path, json.dumps(data, indent=2, sort_keys=True) + "\n", mode=0o600)


def remembered(known_hosts: Path, host: str, name: str) -> Path | None:
    """The private key recorded for dev box `name` on `host`, when it still exists."""
    value = _read(identities_file(known_hosts)).get(f"{host}/{name}")
    if value is None:
        return None
    path = Path(value)
    return path if path.is_file() else None
