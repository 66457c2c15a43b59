"""Dev boxes, the parts that need no Docker: SSH ports in use, the key tarball.

Kept apart from the manager so that what exactly is sent to Docker for a request can be read and
unit-tested on its own. Names, keys and labels are checked in the engine interface
(`clawtui.engine.api.devboxes`). Everything here is pure: no I/O, no event loop.
"""

from __future__ import annotations

import io
import tarfile
import time
from collections.abc import Callable, Collection, Iterable, Mapping
from typing import Any

from clawtui.engine.api.devbox_checks import LABEL_PORT, int_port


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
