"""HEARTBEAT.md inside an agent's container (seed 000, Phase 1 and 2: agents that run in Docker).

A thread with `container = ...` keeps its HEARTBEAT.md in the container, at `<cwd>/HEARTBEAT.md`.
It is read and written through the Docker archive API of the thread's host (the engine's
`HostMonitor` for that host: local socket or a remote daemon alike), with the host-file rules:

* reading is capped at `md.MAX_HEARTBEAT_BYTES` (the archive stream is not read past the cap);
  the bytes go through `md.parse`, so `render(parse(b)) == b` and only the `- Last <tier>:`
  lines ever change;
* the file must be a regular file: a symbolic link (or anything else) at that path is refused
  and never followed, so no file outside the container's HEARTBEAT.md is read or replaced;
* writing uploads a temp file (`TEMP_MARKER` in its name) into the same folder with the old
  file's owner and mode, then renames it over HEARTBEAT.md with `mv -f` run in the container as
  root (rename(2): readers see the old or the new file, never half of one; a link at that name
  is replaced, not followed). When the container has
  no `mv` (or is not running), the archive upload replaces the file itself: Docker removes the
  old entry (a link is removed, not followed) and writes the new one, the one step the API
  offers; this is reported in the returned note.
"""

from __future__ import annotations

import io
import secrets
import tarfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any, Final

from clawtui.engine.docker_sdk import docker
from clawtui.engine.heartbeats import md as hbmd
from clawtui.fsutil import TEMP_MARKER

if TYPE_CHECKING:
    from clawtui.engine.fleet.hosts import HostMonitor

_TAR_SLACK: Final = 64 * 1024
"""Tar headers (PAX included) read beyond the file's byte cap."""
_CHUNK: Final = 64 * 1024


@dataclass(frozen=True)
class FileMeta:
    """Owner and mode of the file in the container (kept when it is rewritten)."""

    uid: int
    gid: int
    mode: int


@dataclass
class ContainerFile:
    """Where one thread's HEARTBEAT.md lives: a container on a host, a path inside it."""

    monitor: HostMonitor
    container: str
    path: PurePosixPath

    @property
    def label(self) -> str:
        return f"{self.monitor.name}:{self.container}:{self.path}"


def host_of(monitors: Mapping[str, HostMonitor], host: str | None, container: str) -> HostMonitor:
    """The Docker host a container thread runs on (its `host`, else `local` or the only one);
    HeartbeatError says why there is none."""
    if host is not None:
        monitor = monitors.get(host)
        if monitor is None:
            known = ", ".join(sorted(monitors)) or "none"
            raise hbmd.HeartbeatError(f"thread host {host!r} is not a [[hosts]] entry ({known})")
        return monitor
    if "local" in monitors:
        return monitors["local"]
    if len(monitors) == 1:
        return next(iter(monitors.values()))
    raise hbmd.HeartbeatError(
        f"container {container}: set the thread's host (several [[hosts]] are configured)"
    )


def locate(
    monitors: Mapping[str, HostMonitor], host: str | None, container: str, cwd: str | None
) -> ContainerFile:
    """The thread's HEARTBEAT.md in its container; HeartbeatError says what is missing."""
    if not cwd or not cwd.startswith("/"):
        raise hbmd.HeartbeatError(
            f"container {container}: the thread needs an absolute cwd inside the container "
            f"(got {cwd!r})"
        )
    monitor = host_of(monitors, host, container)
    return ContainerFile(monitor, container, PurePosixPath(cwd) / hbmd.FILENAME)


def _client(where: ContainerFile) -> Any:
    client = where.monitor.client
    if client is None:
        raise hbmd.HeartbeatError(f"{where.label}: host {where.monitor.name} is not connected")
    return client


def _first_member(data: bytes, limit: int) -> tuple[tarfile.TarInfo, bytes]:
    """The first entry of a (possibly cut short) tar stream and up to `limit` of its bytes."""
    with tarfile.open(fileobj=io.BytesIO(data), mode="r|") as tar:
        member = tar.next()
        if member is None:
            raise tarfile.ReadError("empty archive")
        body = b""
        if member.isfile():
            handle = tar.extractfile(member)
            body = handle.read(min(member.size, limit)) if handle is not None else b""
        return member, body


def _read_blocking(where: ContainerFile) -> tuple[bytes, bool, FileMeta]:
    client = _client(where)
    try:
        stream, stat = client.get_archive(where.container, str(where.path), chunk_size=_CHUNK)
    except docker.errors.NotFound as exc:
        if "no such container" in str(exc).lower():
            raise hbmd.HeartbeatError(f"{where.label}: no such container") from None
        raise FileNotFoundError(str(where.path)) from None
    size = int(stat.get("size", 0)) if isinstance(stat, dict) else 0
    cap = hbmd.MAX_HEARTBEAT_BYTES
    buf = bytearray()
    try:
        for chunk in stream:
            buf += chunk
            if len(buf) > cap + _TAR_SLACK:
                break
    finally:
        close = getattr(stream, "close", None)
        if close is not None:
            close()
    try:
        member, body = _first_member(bytes(buf), cap)
    except (tarfile.TarError, OSError) as exc:
        raise hbmd.HeartbeatError(f"{where.label}: unreadable archive from Docker ({exc})") from exc
    if member.issym() or member.islnk():
        raise hbmd.HeartbeatError(
            f"{where.label} is a link (to {member.linkname!r}); not following it out of the "
            "container's file"
        )
    if not member.isfile():
        raise hbmd.HeartbeatError(f"{where.label} is not a regular file")
    truncated = max(size, member.size) > cap
    return body, truncated, FileMeta(member.uid, member.gid, member.mode & 0o7777)


def _dir_owner_blocking(where: ContainerFile) -> FileMeta:
    """Owner of the folder HEARTBEAT.md goes into (a new file gets it, mode 0644)."""
    client = _client(where)
    try:
        stream, _ = client.get_archive(where.container, str(where.path.parent), chunk_size=_CHUNK)
    except docker.errors.NotFound:
        raise hbmd.HeartbeatError(
            f"{where.label}: folder {where.path.parent} does not exist in the container"
        ) from None
    try:
        head = next(iter(stream), b"")  # the folder's own entry comes first
    finally:
        close = getattr(stream, "close", None)
        if close is not None:
            close()
    try:
        member, _ = _first_member(head, 0)
    except (tarfile.TarError, OSError):
        return FileMeta(0, 0, 0o644)
    return FileMeta(member.uid, member.gid, 0o644)


def _tar_one(name: str, data: bytes, meta: FileMeta) -> bytes:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = meta.mode
    info.uid, info.gid = meta.uid, meta.gid
    info.mtime = int(time.time())
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _exec(client: Any, container: str, argv: list[str]) -> tuple[int, str]:
    # as root: the rename is of two fixed names in one folder (the archive upload's owner and
    # mode are kept), so it works whatever user the agent's image runs as
    created = client.exec_create(container, argv, stdout=True, stderr=True, user="0")
    out = client.exec_start(created["Id"])
    code = client.exec_inspect(created["Id"]).get("ExitCode")
    text = out.decode("utf-8", "replace") if isinstance(out, bytes) else str(out)
    return (code if isinstance(code, int) else -1), text.strip()[:300]


def _write_blocking(where: ContainerFile, data: bytes, meta: FileMeta) -> str:
    """Replace the file; returns how ('renamed' or 'replaced by the archive upload')."""
    client = _client(where)
    folder = str(where.path.parent)
    try:
        can_rename = _exec(client, where.container, ["mv"])[0] not in (-1, 126, 127)
    except docker.errors.APIError:  # not running, or no exec on this daemon
        can_rename = False
    try:
        if can_rename:
            tmp = f".{hbmd.FILENAME}{TEMP_MARKER}{secrets.token_hex(6)}"
            client.put_archive(where.container, folder, _tar_one(tmp, data, meta))
            code, out = _exec(
                client, where.container, ["mv", "-f", f"{folder}/{tmp}", str(where.path)]
            )
            if code == 0:
                return "renamed"
            _exec(client, where.container, ["rm", "-f", f"{folder}/{tmp}"])
            raise hbmd.HeartbeatError(f"{where.label}: mv in the container failed ({code}): {out}")
        client.put_archive(where.container, folder, _tar_one(hbmd.FILENAME, data, meta))
        return "replaced by the archive upload"
    except docker.errors.NotFound as exc:
        raise hbmd.HeartbeatError(f"{where.label}: {exc.explanation or exc}") from None
    except docker.errors.APIError as exc:
        raise hbmd.HeartbeatError(
            f"{where.label}: cannot write ({exc.explanation or exc})"
        ) from None


async def read(where: ContainerFile) -> tuple[hbmd.HeartbeatDoc, FileMeta]:
    """Read and parse the file (capped). FileNotFoundError when it does not exist."""
    try:
        data, truncated, meta = await where.monitor.call(_read_blocking, where)
    except docker.errors.DockerException as exc:
        raise hbmd.HeartbeatError(f"{where.label}: cannot read ({exc})") from None
    return hbmd.parse(data, truncated=truncated), meta


async def write(where: ContainerFile, doc: hbmd.HeartbeatDoc, meta: FileMeta) -> str:
    try:
        return await where.monitor.call(_write_blocking, where, hbmd.render(doc), meta)
    except docker.errors.DockerException as exc:
        raise hbmd.HeartbeatError(f"{where.label}: cannot write ({exc})") from None


async def ensure(where: ContainerFile) -> tuple[hbmd.HeartbeatDoc, FileMeta]:
    """The file parsed; created from the template (owned like its folder) when missing."""
    try:
        return await read(where)
    except FileNotFoundError:
        meta = await where.monitor.call(_dir_owner_blocking, where)
        doc = hbmd.parse(hbmd.TEMPLATE)
        await write(where, doc, meta)
        return doc, meta


async def update_timestamps(
    where: ContainerFile, stamps: dict[hbmd.Tier, datetime]
) -> hbmd.HeartbeatDoc:
    """Set the given tiers' timestamps in the container's file (read again just before)."""
    doc, meta = await ensure(where)
    new = hbmd.set_timestamps(doc, stamps)
    if hbmd.render(new) != hbmd.render(doc):
        await write(where, new, meta)
    return new
