"""What a capability receives from the engine: a narrow context, never the whole `Engine`.

`Engine` builds one `Context` and hands it to each capability together with the collaborators
that capability declares (a notifier, the escalations, the container actions, ...), so a
capability package imports neither `engine.core` nor its siblings beyond what it names.
"""

from __future__ import annotations

import operator
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from clawtui.config import Settings
    from clawtui.engine.api.models import ContainerInfo
    from clawtui.engine.bus import EventBus
    from clawtui.engine.fleet.hosts import HostMonitor
    from clawtui.engine.store import Store

_NAME = operator.attrgetter("name")
_HOST = operator.attrgetter("host")


class ActivityLog(Protocol):
    """`Engine.log_activity`: onto the bus as a LOG event and, batched, into the store."""

    def __call__(
        self, level: str, message: str, *, host: str | None = None, subject: str | None = None
    ) -> None: ...


@dataclass(frozen=True)
class Context:
    """Settings, store, bus, activity log and the fleet's hosts: what every capability may use."""

    settings: Settings
    store: Store
    bus: EventBus
    log_activity: ActivityLog
    monitors: Mapping[str, HostMonitor]

    def containers(
        self, *, host: str | None = None, role: str | None = None
    ) -> list[ContainerInfo]:
        """Known containers (optionally of one host or one `clawtui.role`), by host and name."""
        out: list[ContainerInfo] = []
        for name, monitor in self.monitors.items():
            if host is not None and name != host:
                continue
            if role is None:
                out.extend(monitor.containers.values())
            else:
                out.extend(c for c in monitor.containers.values() if c.role == role)
        # By (host, name) as two stable sorts: no key tuple per container (the REST list
        # sorts all of them on every request).
        out.sort(key=_NAME)
        out.sort(key=_HOST)
        return out

    def container(self, key: str) -> ContainerInfo | None:
        """One container by `host/id` key."""
        host, _, cid = key.partition("/")
        monitor = self.monitors.get(host)
        return monitor.containers.get(cid) if monitor else None
