"""Whether a new dev box is ready: its sshd's banner, from here or from inside the container,
and the engine's model showing it; where a person on this machine reaches it.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from clawtui.engine.api.devbox_checks import DevboxError
from clawtui.engine.api.devboxes import DevboxInfo, devbox_info
from clawtui.engine.docker_sdk import docker

if TYPE_CHECKING:
    from clawtui.engine.context import Context
    from clawtui.engine.fleet.hosts import HostMonitor


async def ssh_banner(address: str, port: int, timeout: float = 2.0) -> str | None:
    """The SSH identification line served at address:port, or None (nothing, or not SSH).

    A TCP connect alone proves little: Docker's proxy accepts on a published port before the
    server inside listens. The banner comes from sshd itself.
    """
    writer: asyncio.StreamWriter | None = None
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(address, port)
            line = await reader.readline()
    except (OSError, TimeoutError, asyncio.IncompleteReadError):
        return None
    finally:
        if writer is not None:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
    text = line.decode("ascii", "replace").strip()
    return text if text.startswith("SSH-") else None


def ssh_host(monitor: HostMonitor, bind_address: str) -> str:
    """Where a person on this machine reaches the dev boxes of `monitor`'s host."""
    if not monitor.cfg.is_local:
        hostname = urlsplit(monitor.cfg.url).hostname
        if hostname and not ipaddress.ip_address(bind_address).is_loopback:
            return hostname
    address = ipaddress.ip_address(bind_address)
    if address.is_unspecified:
        return "::1" if address.version == 6 else "127.0.0.1"
    return str(address)


def probe_address(monitor: HostMonitor, bind_address: str) -> str | None:
    """Address to probe sshd at from here, or None when only the container can reach it
    (a remote host publishing on its loopback)."""
    if not monitor.cfg.is_local and ipaddress.ip_address(bind_address).is_loopback:
        return None
    return ssh_host(monitor, bind_address)


async def banner_inside(monitor: HostMonitor, client: Any, cid: str) -> bool:
    try:
        exec_id = await monitor.call(
            client.exec_create,
            cid,
            ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/22 && head -c 4 <&3"],
        )
        output = await monitor.call(client.exec_start, exec_id)
    except docker.errors.DockerException:
        return False
    return bytes(output).startswith(b"SSH-")


async def wait_ready(
    monitor: HostMonitor, client: Any, cid: str, address: str | None, port: int, timeout: float
) -> None:
    """Until sshd answers at address:port (inside the container when `address` is None);
    DevboxError when the container stops first or `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    next_check = time.monotonic() + 0.5
    while True:
        if address is not None:
            if await ssh_banner(address, port):
                return
        elif await banner_inside(monitor, client, cid):
            return
        now = time.monotonic()
        if now >= next_check:
            next_check = now + 1.0
            data = await monitor.call(client.inspect_container, cid)
            state = data.get("State") or {}
            crashed = state.get("Restarting") or data.get("RestartCount", 0)
            if crashed or not state.get("Running"):
                tail = await monitor.call(client.logs, cid, tail=15)
                text = bytes(tail).decode("utf-8", "replace").strip()
                raise DevboxError(
                    f"the container stopped before sshd answered (exit code "
                    f"{state.get('ExitCode')}); its last output:\n{text or '(none)'}"
                )
        if now >= deadline:
            raise DevboxError(
                f"sshd did not answer on {address or 'the container'}:{port} within "
                f"{timeout:g}s; see `clawtui dev logs`"
            )
        await asyncio.sleep(0.1)


async def wait_known(
    ctx: Context, monitor: HostMonitor, cid: str, timeout: float = 5.0
) -> DevboxInfo:
    """The new dev box from the engine's model, once Docker's events have put it there."""
    key = f"{monitor.name}/{cid}"
    deadline = time.monotonic() + timeout
    while True:
        info = ctx.container(key)
        if info is not None and info.running:
            return devbox_info(info)
        if time.monotonic() >= deadline:
            await monitor.reconcile()
            info = ctx.container(key)
            if info is None:
                raise DevboxError(f"the engine did not see {key} appear")
            return devbox_info(info)
        await asyncio.sleep(0.02)
