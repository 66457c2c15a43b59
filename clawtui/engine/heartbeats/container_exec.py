"""Programs run inside a thread's container (its git checks) through the Docker API of the
container's host: the engine's `HostMonitor` client for that host (local socket, ssh:// or
tcp:// alike), never the `docker` CLI of the machine clawtui runs on, which only knows its own
daemon. argv only (no shell), stdout and stderr kept apart, each capped.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from clawtui.engine.docker_sdk import docker

if TYPE_CHECKING:
    from clawtui.engine.fleet.hosts import HostMonitor


def _exec_blocking(
    client: Any,
    container: str,
    argv: list[str],
    workdir: str | None,
    env: dict[str, str],
    cap: int,
) -> tuple[int, str, str]:
    try:
        created = client.exec_create(
            container, argv, stdout=True, stderr=True, workdir=workdir, environment=env
        )
    except docker.errors.NotFound as exc:
        return 127, "", f"container {container}: {exc.explanation or exc}"
    except docker.errors.APIError as exc:  # e.g. 409: not running
        return 126, "", f"container {container}: {exc.explanation or exc}"
    out, err = bytearray(), bytearray()
    for chunk_out, chunk_err in client.exec_start(created["Id"], stream=True, demux=True):
        if chunk_out and len(out) < cap:
            out += chunk_out[: cap - len(out)]
        if chunk_err and len(err) < cap:
            err += chunk_err[: cap - len(err)]
    code = client.exec_inspect(created["Id"]).get("ExitCode")
    if code is None:
        code = -1
    if code == 126 or code == 127:  # the runtime could not start the program
        err = err or bytearray(f"cannot run {argv[0]} in {container}".encode())
    return int(code), out.decode("utf-8", "replace"), err.decode("utf-8", "replace")


async def run_in_container(
    monitor: HostMonitor,
    container: str,
    argv: Sequence[str],
    *,
    workdir: str | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = 60.0,
    cap: int = 256 * 1024,
) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of `argv` in `container` on `monitor`'s host. 127 when the
    container or the host is not there, 124 after `timeout` seconds."""
    client = monitor.client
    if client is None:
        return 127, "", f"Docker host {monitor.name} is not connected"
    try:
        return await asyncio.wait_for(
            monitor.call(
                _exec_blocking, client, container, list(argv), workdir, dict(env or {}), cap
            ),
            timeout,
        )
    except TimeoutError:
        return 124, "", f"{argv[0]} in {container} took longer than {timeout:.0f} s"
    except docker.errors.DockerException as exc:
        return 127, "", f"container {container} on {monitor.name}: {exc}"
