"""Which host port a new dev box's sshd gets: the one asked for, if free, or the lowest free one
of `[devboxes] port_range`, free both in Docker (running and stopped containers) and, on a local
host, on this machine.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from typing import TYPE_CHECKING, Any

from clawtui.engine.api.devbox_checks import DevboxError
from clawtui.engine.devboxes.checks import pick_port, ports_in_use
from clawtui.engine.docker_sdk import docker

if TYPE_CHECKING:
    from clawtui.config import DevboxesConfig
    from clawtui.engine.fleet.hosts import HostMonitor


def port_bindable(address: str, port: int) -> bool:
    """Whether this machine could bind address:port now (nothing listens on it)."""
    family = socket.AF_INET6 if ipaddress.ip_address(address).version == 6 else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((address, port))
        except OSError:
            return False
    return True


async def ports_taken(monitor: HostMonitor, client: Any) -> dict[int, str]:
    """Host ports Docker has given (or will give, at start) to containers on `monitor`'s host."""
    listed = await monitor.call(client.containers, all=True)
    listed = [c for c in listed if isinstance(c, dict)]
    stopped = [c["Id"] for c in listed if c.get("State") != "running" and c.get("Id")]

    async def inspect(cid: str) -> Any:
        try:
            return await monitor.call(client.inspect_container, cid)
        except docker.errors.DockerException:
            return None

    inspected = await asyncio.gather(*(inspect(cid) for cid in stopped))
    return ports_in_use(listed, inspected)


def host_port_free(monitor: HostMonitor, bind_address: str, port: int) -> bool:
    """False when a process on this machine holds the port (local hosts only)."""
    if not monitor.cfg.is_local:
        return True
    return port_bindable(bind_address, port)


async def choose_port(
    monitor: HostMonitor, client: Any, cfg: DevboxesConfig, wanted: int | None, avoid: set[int]
) -> int:
    """The port for a new dev box (`wanted`, or the lowest free one not in `avoid`)."""
    used = await ports_taken(monitor, client)
    if wanted is not None:
        if wanted in used:
            raise DevboxError(
                f"port {wanted} is taken on host {monitor.name} by container {used[wanted]}; "
                "pick another port or leave --port out"
            )
        if not await asyncio.to_thread(host_port_free, monitor, cfg.bind_address, wanted):
            raise DevboxError(
                f"port {wanted} is taken on host {monitor.name}: another process listens "
                "on it; pick another port or leave --port out"
            )
        return wanted
    low, high = cfg.port_bounds
    taken = set(used) | avoid

    def first_free() -> int | None:
        return pick_port(
            taken, low, high, is_free=lambda p: host_port_free(monitor, cfg.bind_address, p)
        )

    port = await asyncio.to_thread(first_free)
    if port is None:
        raise DevboxError(
            f"no free SSH port left in {low}-{high} on host {monitor.name}; widen "
            "[devboxes] port_range or remove unused dev boxes"
        )
    return port
