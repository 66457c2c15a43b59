"""The fleet's first snapshot, read while the TUI draws its first frame.

`clawtui` (the TUI with a local engine) starts `FirstSnapshot` as soon as the settings are
loaded: a thread asks each local Docker host (unix:// socket) what the engine's first
reconcile asks (`/version`, `/info`, the container list and one inspect per container), over
`docker_socket` rather than the Docker SDK, and parses the replies with the engine's own
functions (`docker_parse`). The result is what the engine's host monitor holds after its first
reconcile: the TUI shows it until the engine, built after the first frame, has reached those
hosts itself, and then shows the engine's view (`ClawApp`). Hosts that are not local, or that
do not answer within `WAIT_SECONDS`, are left out: the engine reaches them as before.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final

from clawtui.engine.api.models import ContainerInfo, HostInfo, HostState
from clawtui.engine.fleet.docker_parse import container_from_inspect, host_facts, host_summary
from clawtui.engine.fleet.docker_socket import DockerSocket
from clawtui.engine.fleet.stats import detect_cgroup_version

if TYPE_CHECKING:
    from clawtui.config import HostConfig

log = logging.getLogger(__name__)

WAIT_SECONDS: Final = 3.0
"""At most this long per host (its config's `timeout` when shorter)."""
CONNECTIONS: Final = 8
"""Inspects in flight at once per host."""


@dataclass(frozen=True)
class HostSnapshot:
    """One host as the engine's first reconcile would leave it."""

    info: HostInfo
    containers: list[ContainerInfo]


Snapshot = tuple[list[HostInfo], list[ContainerInfo]]
"""What the fleet view shows: every configured host (those not read: as the engine starts
them, connecting) and the containers of the hosts read."""


async def read_host(cfg: HostConfig) -> HostSnapshot:
    """Read one local host over its socket (raises on any failure)."""
    path = cfg.url.removeprefix("unix://")
    first = DockerSocket(path)
    sockets: list[DockerSocket] = [first]
    try:
        # `version="auto"` in the engine's SDK client: the server's API version, then every
        # request under /v<version>/ as the SDK sends them.
        unversioned = await first.get_json("/version")
        api = unversioned.get("ApiVersion") if isinstance(unversioned, dict) else None
        prefix = f"/v{api}" if isinstance(api, str) and api else ""
        version = await first.get_json(f"{prefix}/version")
        info = await first.get_json(f"{prefix}/info")
        listed = await first.get_json(
            f"{prefix}/containers/json", limit=-1, all=1, size=0, trunc_cmd=0
        )
        ids = [c["Id"] for c in listed if isinstance(c, dict) and isinstance(c.get("Id"), str)]
        ids = list(dict.fromkeys(ids))
        sockets += [DockerSocket(path) for _ in range(min(CONNECTIONS, len(ids)) - 1)]
        queue = list(reversed(ids))
        found: dict[str, ContainerInfo] = {}

        async def inspect_with(sock: DockerSocket) -> None:
            while queue:
                cid = queue.pop()
                try:
                    data = await sock.get_json(f"{prefix}/containers/{cid}/json")
                except Exception:  # gone since the list (404), as the engine's reconcile skips
                    sock.close()
                    continue
                parsed = container_from_inspect(cfg.name, data)
                if parsed is not None:
                    found[cid] = parsed

        await asyncio.gather(*(inspect_with(s) for s in sockets))
    finally:
        for sock in sockets:
            sock.close()
    containers = [found[cid] for cid in ids if cid in found]
    facts = host_facts(info, version)
    mem_total = facts.pop("mem_total")
    cgroup_version = None
    if cfg.is_local and cfg.cgroup_root:
        cgroup_version = detect_cgroup_version(Path(cfg.cgroup_root))
    host = HostInfo(
        name=cfg.name,
        url=cfg.url,
        **facts,
        direct_stats=cgroup_version is not None,
        **host_summary(containers, mem_total, int(cfg.memory_reserve)),
        state=HostState.ONLINE,
        last_seen=time.time(),
    )
    return HostSnapshot(host, containers)


class FirstSnapshot:
    """The first snapshot of the local hosts, read in a thread of its own (`start`)."""

    def __init__(self, hosts: Sequence[HostConfig]) -> None:
        self.hosts = list(hosts)
        self.future: concurrent.futures.Future[Snapshot] = concurrent.futures.Future()
        """The snapshot for the fleet view; its exception when no host could be read."""
        self.read: dict[str, HostSnapshot] = {}
        """The hosts read, by name (filled when `future` is done)."""

    @classmethod
    def start(cls, hosts: Sequence[HostConfig]) -> FirstSnapshot:
        first = cls(hosts)
        if any(h.is_local for h in first.hosts):
            threading.Thread(target=first.run, name="first-snapshot", daemon=True).start()
        else:
            first.future.set_exception(LookupError("no local Docker host"))
        return first

    def run(self) -> None:
        """Thread body: read every local host, then complete `future`."""
        try:
            self.read = asyncio.run(self._read_all())
        except BaseException as exc:  # never let the thread die silently
            self.future.set_exception(exc)
            return
        if not self.read:
            self.future.set_exception(LookupError("no local Docker host answered"))
            return
        hosts = [
            self.read[h.name].info if h.name in self.read else HostInfo(name=h.name, url=h.url)
            for h in self.hosts
        ]
        containers = [c for snap in self.read.values() for c in snap.containers]
        self.future.set_result((hosts, containers))

    async def _read_all(self) -> dict[str, HostSnapshot]:
        local = [h for h in self.hosts if h.is_local]

        async def one(cfg: HostConfig) -> HostSnapshot:
            return await asyncio.wait_for(read_host(cfg), min(WAIT_SECONDS, cfg.timeout))

        results = await asyncio.gather(*(one(h) for h in local), return_exceptions=True)
        read: dict[str, HostSnapshot] = {}
        for cfg, result in zip(local, results, strict=True):
            if isinstance(result, HostSnapshot):
                read[cfg.name] = result
            else:
                log.debug("first snapshot of %s: %r", cfg.name, result)
        return read
