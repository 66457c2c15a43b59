"""Autoheal inside agent containers (seed 001 §3.11, issue 14): `[[autoheal.containers]]`.

The Docker transport of `agents.AgentHealer` (which decides and reports): config files are read
through the Docker archive API of the container's host (`GET /containers/{id}/archive`, capped;
a link at the path comes back as a link entry and is refused, never followed), backups are
written with `PUT .../archive`, a repaired file as a temp file beside it (owner and mode kept)
renamed over it with `mv -f` by exec, old backups removed with `rm -f --` and the
gateway's PIDs listed and `restart_command` run by exec (argv only, never a shell string built
from a name). Outcomes name `<host>/<container>:<path>`.

What the container returns is untrusted: sizes are capped, tar members other than the
expected regular files are ignored.
"""

from __future__ import annotations

import io
import posixpath
import secrets
import tarfile
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from clawtui.engine.autoheal.agents import (
    MAX_BACKUPS_BYTES,
    PIDS_SCRIPT,
    AgentHealer,
    Transport,
    plan_repair,
)
from clawtui.engine.autoheal.repair import MAX_CONFIG
from clawtui.fsutil import TEMP_MARKER

if TYPE_CHECKING:
    from clawtui.config.escalations import AutohealContainer
    from clawtui.engine.fleet.hosts import HostMonitor

__all__ = ["PIDS_SCRIPT", "ContainerAutoheal", "DockerTransport", "plan_repair"]


Owner = tuple[int, int, int]
"""uid, gid, mode of a file in a container."""


def _tar(members: list[tuple[str, bytes | None]], owner: Owner | None = None) -> bytes:
    """A tar of directories (data None, 0700) and files (0600, or `owner`'s uid, gid, mode)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.mtime = int(time.time())
            if data is None:
                info.type, info.mode = tarfile.DIRTYPE, 0o700
                tar.addfile(info)
            else:
                info.size, info.mode = len(data), 0o600
                if owner is not None:
                    info.uid, info.gid, info.mode = owner
                tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _files_of(raw: bytes, limit: int) -> dict[str, bytes]:
    """Regular files in a tar from Docker (basename -> bytes), each at most `limit` bytes."""
    out: dict[str, bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(raw)) as tar:
        for member in tar.getmembers():
            if member.isfile() and member.size <= limit:
                handle = tar.extractfile(member)
                if handle is not None:
                    out[posixpath.basename(member.name)] = handle.read(limit + 1)
    return out


def _only_file(raw: bytes, path: str) -> tuple[bytes, tuple[int, int, int]]:
    """The one regular file a `GET archive` of `path` returns and its (uid, gid, mode);
    ValueError for anything else."""
    with tarfile.open(fileobj=io.BytesIO(raw)) as tar:
        member = tar.next()
        if member is None:
            raise ValueError(f"{path}: empty archive from Docker")
        if member.issym() or member.islnk():
            raise ValueError(
                f"{path} is a link (to {member.linkname[:200]!r}); autoheal does not follow it"
            )
        if not member.isfile():
            raise ValueError(f"{path} is not a regular file")
        if member.size > MAX_CONFIG:
            raise ValueError(f"{path} is larger than {MAX_CONFIG} bytes")
        handle = tar.extractfile(member)
        data = handle.read(MAX_CONFIG + 1) if handle is not None else b""
        return data, (member.uid, member.gid, member.mode & 0o7777)


# -- Docker calls (blocking; run through the host's pool) ----------------------------------------
def _get_archive(client: Any, container: str, path: str, cap: int) -> bytes | None:
    import docker

    try:
        stream, _stat = client.get_archive(container, path)
    except docker.errors.NotFound as exc:
        if "no such container" in str(exc).lower():
            raise ConnectionError(f"no container {container}") from None
        return None
    data = bytearray()
    for chunk in stream:
        data += chunk
        if len(data) > cap:
            raise ValueError(f"{path} in {container} is larger than {cap} bytes")
    return bytes(data)


def _exec(client: Any, container: str, argv: list[str], user: str = "") -> tuple[int, str]:
    exec_id = client.exec_create(container, argv, stdout=True, stderr=True, user=user)["Id"]
    out: bytes = client.exec_start(exec_id)
    code = client.exec_inspect(exec_id).get("ExitCode")
    return int(code if code is not None else -1), out[:65536].decode("utf-8", "replace")


class DockerTransport:
    """One container on one Docker host (`Transport`)."""

    def __init__(self, monitor: HostMonitor, container: str) -> None:
        self.monitor = monitor
        self.container = container
        self.client: Any = monitor.client
        self.owners: dict[str, tuple[int, int, int]] = {}

    async def read(self, path: str) -> bytes:
        raw = await self.monitor.call(
            _get_archive, self.client, self.container, path, MAX_CONFIG + 64 * 1024
        )
        if raw is None:
            raise FileNotFoundError(f"no {path} in {self.container}")
        data, self.owners[path] = _only_file(raw, path)
        return data

    async def backups(self, folder: str, prefix: str) -> list[tuple[str, bytes]]:
        raw = await self.monitor.call(
            _get_archive, self.client, self.container, folder, MAX_BACKUPS_BYTES
        )
        if raw is None:
            return []
        return [(n, d) for n, d in _files_of(raw, MAX_CONFIG).items() if n.startswith(prefix)]

    async def write_backup(self, folder: str, name: str, data: bytes) -> None:
        parent, base = posixpath.split(folder)
        tar = _tar([(base, None), (f"{base}/{name}", data)])
        await self.monitor.call(self.client.put_archive, self.container, parent or "/", tar)

    async def replace(self, path: str, data: bytes) -> None:
        """A temp file (owner and mode of the file read) uploaded beside it, then `mv -f` over
        it as root (rename(2)); a container without `mv` gets the archive upload over the file
        itself (Docker removes the old entry and writes the new one)."""
        parent, name = posixpath.split(path)
        owner = self.owners.get(path)
        tmp = f".{name}{TEMP_MARKER}{secrets.token_hex(6)}"
        call = self.monitor.call
        tar = _tar([(tmp, data)], owner)
        await call(self.client.put_archive, self.container, parent or "/", tar)
        code, out = await call(
            _exec, self.client, self.container, ["mv", "-f", "--", f"{parent}/{tmp}", path], "0"
        )
        if code == 0:
            return
        await self.run(["rm", "-f", "--", f"{parent}/{tmp}"])
        if code not in (126, 127, -1):
            raise OSError(f"mv in {self.container} failed ({code}): {out[:200]}")
        whole = _tar([(name, data)], owner)
        await call(self.client.put_archive, self.container, parent or "/", whole)

    async def names(self, folder: str) -> list[str] | None:
        code, out = await self.run(["ls", "-1", "--", folder])
        return out.splitlines() if code == 0 else None

    async def remove(self, paths: Sequence[str]) -> None:
        await self.run(["rm", "-f", "--", *paths])

    async def run(self, argv: Sequence[str]) -> tuple[int, str]:
        return await self.monitor.call(_exec, self.client, self.container, list(argv))


class ContainerAutoheal(AgentHealer["AutohealContainer"]):
    """Checks the files and gateways of `[[autoheal.containers]]` (an engine component)."""

    task_name = "escalations:autoheal-containers"

    def entries(self) -> list[AutohealContainer]:
        return list(self.cfg.containers)

    def _host(self, entry: AutohealContainer) -> str:
        return entry.host or next(iter(self.ctx.monitors), "?")

    def where(self, entry: AutohealContainer) -> str:
        return f"{self._host(entry)}/{entry.container}"

    def errors(self) -> tuple[type[BaseException], ...]:
        import docker

        return (*super().errors(), docker.errors.DockerException, tarfile.TarError)

    @asynccontextmanager
    async def transport(self, entry: AutohealContainer) -> AsyncIterator[Transport]:
        name = self._host(entry)
        monitor = self.ctx.monitors.get(name)
        if monitor is None or monitor.client is None:
            raise ConnectionError(f"Docker host {name!r} is not connected")
        yield DockerTransport(monitor, entry.container)
