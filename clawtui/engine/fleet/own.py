"""Which containers the engine must never act on: the one it runs in, and infrastructure.

The same rule as the memory API's (`memory.rules.why_not_adjustable`): only containers labelled
`clawtui.role` = devbox | pool are the engine's to start, stop, restart or remove; anything else
on the host (broker, bot, dashboard, a database) is infrastructure someone else runs.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Mapping
from pathlib import Path

from clawtui.engine.api.memory import ADJUSTABLE_ROLES

ROLE_LABEL = "clawtui.role"
_HEX64_RE = re.compile(r"[0-9a-f]{64}")
_SHORT_ID_RE = re.compile(r"[0-9a-f]{12}")


def own_container_ids(proc: Path = Path("/proc/self")) -> frozenset[str]:
    """Ids of the container this process runs in, if any (from its cgroups and mounts)."""
    found: set[str] = set()
    for name in ("cgroup", "mountinfo"):
        try:
            text = (proc / name).read_text(errors="replace")
        except OSError:
            continue
        for line in text.splitlines():
            if "docker" in line or "containers" in line:
                found.update(_HEX64_RE.findall(line))
    return frozenset(found)


def own_short_id(dockerenv: Path = Path("/.dockerenv")) -> str | None:
    """Docker's default hostname of a container is its id's first 12 characters: that id when
    this process runs in a Docker container with its default hostname, else None."""
    host = socket.gethostname()
    return host if dockerenv.exists() and _SHORT_ID_RE.fullmatch(host) else None


def why_not_actionable(
    container_id: str,
    labels: Mapping[str, str],
    own_ids: frozenset[str],
    own_short: str | None = None,
) -> str | None:
    """None when the engine may start / stop / restart / remove the container, else why not."""
    if container_id in own_ids or (own_short is not None and container_id.startswith(own_short)):
        return "it is the container clawtui itself runs in"
    role = labels.get(ROLE_LABEL)
    if role not in ADJUSTABLE_ROLES:
        what = "no clawtui.role label" if role is None else f"clawtui.role {role[:40]!r}"
        return (
            f"it has {what}: it is infrastructure clawtui does not manage (only devbox and "
            "pool containers can be started, stopped, restarted or removed here)"
        )
    return None
