"""Getting a tenant's config, secrets and state into (and out of) a pool container.

Two ways, chosen by where the pool's host is:

* Local host (`unix://` Docker socket): every workload volume is a folder of the engine's
  machine (`<state_dir>/pools/<container>/<volume>`) bind-mounted into the container. A claim
  writes `tenant.json`, `tenant.env` and one file per secret there, mode 0600, owned by the
  workload's uid: no Docker round trip, and never through a link the container planted
  (`write_private`). State sync runs rclone on a staging copy of the folder, never on the
  folder itself (`local_staged_sync`; see `pool_sync` for why).
* Remote host (tcp://, ssh://, http(s):// — the engine cannot reach the host's disk): every
  workload volume is an anonymous Docker volume of the container (removed with it). A claim
  uploads one tar per volume with the Docker archive API (`PUT /containers/{id}/archive`);
  each file in it is mode 0600 and carries the workload user's uid/gid, which Docker keeps on
  extraction. Docker refuses archive uploads into read-only mounts, so on a remote host the
  config and secrets volumes are mounted read-write (the files are still 0600 and the
  workload's own). State sync goes through a staging folder of the engine's machine: an upload
  first copies the mapping's folder out of the container (`GET .../archive`; a symbolic
  link in it fails the sync), a download copies rclone's result into it (`PUT .../archive`;
  Docker's extraction replaces a link in the way, it never writes through one).

Secret values only ever go into the files (or the tar in memory): never into an error message,
a log line or an event.
"""

from __future__ import annotations

import asyncio
import io
import json
import shutil
import tarfile
import tempfile
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path, PurePosixPath
from secrets import token_hex
from typing import TYPE_CHECKING, Any

from clawtui.config.pools import TENANT_VAR, SyncMapping, WorkloadConfig
from clawtui.engine.docker_sdk import docker
from clawtui.engine.pools.state_archive import ArchiveRefused, extract_state_archive
from clawtui.engine.pools.sync import (
    StateFolder,
    SyncRun,
    UnsafeState,
    failed_run,
    link_refused,
    restore_state,
    snapshot_state,
)
from clawtui.fsutil import atomic_write

if TYPE_CHECKING:
    from clawtui.engine.fleet.hosts import HostMonitor

PRIVATE_MODE = 0o600
CONFIG_WRITABLE_REMOTE = ("config", "secrets")
"""Volumes written by the archive API on a remote host: always mounted read-write there."""
MAX_STATE_ARCHIVE = 8 * 1024**3
"""Largest state archive the engine copies out of a remote container (8 GiB)."""

Files = dict[str, dict[str, bytes]]
"""Volume name -> file name -> content."""


class ProvisionError(Exception):
    """Provisioning or copying state failed; the message names what and where (never a secret)."""


def tenant_files(
    workload: WorkloadConfig, tenant: str, config: Mapping[str, Any], secrets: Mapping[str, str]
) -> Files:
    """What a claim puts into the container: tenant.json, tenant.env and one file per secret."""
    env = {k: v.replace(TENANT_VAR, tenant) for k, v in workload.env.items()}
    env["CLAWTUI_TENANT"] = tenant
    env_text = "".join(f"{k}={json.dumps(v)}\n" for k, v in sorted(env.items()))
    doc = {"tenant": tenant, "config": dict(config)}
    return {
        "config": {"tenant.json": json.dumps(doc).encode(), "tenant.env": env_text.encode()},
        "secrets": {key: value.encode() for key, value in secrets.items()},
    }


def parse_owner(user: str | None) -> tuple[int, int] | None:
    """(uid, gid) of a numeric `uid[:gid]` user (gid 0 when absent, like Docker); None for a
    name (resolved from the container's /etc/passwd) ; (0, 0) when no user is set."""
    if user is None:
        return (0, 0)
    head, _, group = user.partition(":")
    if not head.isdigit() or (group and not group.isdigit()):
        return None
    return int(head), int(group) if group else 0


def _lookup(text: str, name: str) -> tuple[int, int] | None:
    for line in text.splitlines():
        parts = line.split(":")
        if len(parts) >= 4 and parts[0] == name and parts[2].isdigit() and parts[3].isdigit():
            return int(parts[2]), int(parts[3])
    return None


# -- local ---------------------------------------------------------------------------------------
def write_private(path: Path, data: bytes, uid: int | None) -> None:
    """Write a 0600 file atomically into a folder the container can write: a random temp name
    (O_EXCL | O_NOFOLLOW), owned before the rename, and a link planted at the final name is
    replaced, never followed (`atomic_write(follow_links=False)`)."""
    owner = None if uid is None else (uid, -1)
    atomic_write(path, data, mode=PRIVATE_MODE, follow_links=False, owner=owner)


def write_local(base: Path, files: Files, uid: int | None) -> None:
    """Write the claim's files into the bind-mounted folders of a local container."""
    for volume, entries in files.items():
        for name, data in entries.items():
            write_private(base / volume / name, data, uid)


# -- remote --------------------------------------------------------------------------------------
def remote_mounts(workload: WorkloadConfig) -> list[docker.types.Mount]:
    """Anonymous volumes for a container on a remote host (removed with it: `v=True`)."""
    return [
        docker.types.Mount(
            target=vol.path,
            source=None,
            type="volume",
            read_only=vol.read_only and name not in CONFIG_WRITABLE_REMOTE,
        )
        for name, vol in workload.volumes.all().items()
    ]


def _tar(entries: dict[str, bytes], owner: tuple[int, int]) -> bytes:
    buf = io.BytesIO()
    now = time.time()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in entries.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = PRIVATE_MODE
            info.uid, info.gid = owner
            info.mtime = int(now)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


class RemoteProvisioner:
    """The archive-API side of a remote pool host."""

    def __init__(self, monitor: HostMonitor, client: Any) -> None:
        self.monitor = monitor
        self.client = client

    async def owner(self, container: str, user: str | None) -> tuple[int, int]:
        """uid/gid the files get: numeric users as given, names from the container's passwd."""
        parsed = parse_owner(user)
        if parsed is not None:
            return parsed
        assert user is not None
        name, _, group = user.partition(":")
        passwd = await self._read_file(container, "/etc/passwd")
        found = _lookup(passwd, name) if not name.isdigit() else (int(name), 0)
        if found is None:
            raise ProvisionError(
                f"user {name[:40]!r} of the workload is not in the container's /etc/passwd; "
                "set security.user to a numeric uid[:gid]"
            )
        uid, gid = found
        if group:
            if group.isdigit():
                gid = int(group)
            else:
                groups = await self._read_file(container, "/etc/group")
                gid = next(
                    (
                        int(p[2])
                        for p in (line.split(":") for line in groups.splitlines())
                        if len(p) >= 3 and p[0] == group and p[2].isdigit()
                    ),
                    gid,
                )
        return uid, gid

    async def _read_file(self, container: str, path: str) -> str:
        def read() -> str:
            try:
                stream, _ = self.client.get_archive(container, path)
            except docker.errors.NotFound:
                return ""
            data = b"".join(stream)[: 1 << 20]
            with tarfile.open(fileobj=io.BytesIO(data)) as tar:
                member = next((m for m in tar.getmembers() if m.isfile()), None)
                handle = tar.extractfile(member) if member is not None else None
                return handle.read().decode("utf-8", "replace") if handle else ""

        try:
            return await self.monitor.call(read)
        except (docker.errors.DockerException, tarfile.TarError, OSError) as exc:
            raise ProvisionError(f"could not read {path} of {container}: {exc}") from None

    async def put_files(
        self, container: str, workload: WorkloadConfig, files: Files, owner: tuple[int, int]
    ) -> None:
        """One archive upload per volume that has files."""
        volumes = workload.volumes.all()
        for volume, entries in files.items():
            if not entries:
                continue
            data = _tar(entries, owner)
            path = volumes[volume].path
            try:
                await self.monitor.call(self.client.put_archive, container, path, data)
            except docker.errors.DockerException as exc:
                # The Docker error names the path, never the content.
                raise ProvisionError(
                    f"could not copy the tenant's {volume} into {container}:{path}: "
                    f"{_docker_text(exc)}"
                ) from None

    async def pull(
        self, container: str, path: str, staging: Path, volume_path: str | None = None
    ) -> Path:
        """Copy `path` out of the container into `staging`; returns where it landed there
        (a missing path gives a missing folder: rclone's empty-source guard then holds).
        A symbolic link in the archive fails the copy, named relative to `volume_path`."""
        target = staging / PurePosixPath(path).name
        parent = PurePosixPath(path).parent
        volume = PurePosixPath(volume_path) if volume_path else parent

        def link(name: str) -> Exception:
            inside = parent / name
            shown = str(inside.relative_to(volume)) if volume in inside.parents else inside
            return UnsafeState(link_refused(str(shown), str(inside)))

        def copy() -> None:
            try:
                stream, _ = self.client.get_archive(container, path)
            except docker.errors.NotFound:
                return
            with tempfile.TemporaryFile(dir=staging) as spool:
                size = 0
                for chunk in stream:
                    size += len(chunk)
                    if size > MAX_STATE_ARCHIVE:
                        raise ProvisionError(
                            f"{container}:{path} is larger than {MAX_STATE_ARCHIVE >> 30} GiB"
                        )
                    spool.write(chunk)
                spool.seek(0)
                with tarfile.open(fileobj=spool, mode="r:") as tar:
                    # The archive comes from a container, so it is untrusted: every member is
                    # checked here (no symbolic links at all, like a local state; no absolute
                    # names, `..`, hard links out, devices; a size cap), never by tarfile's
                    # filters (bypassable before the 2025 fixes: see state_archive).
                    extract_state_archive(
                        tar, staging, max_bytes=MAX_STATE_ARCHIVE, on_symlink=link
                    )

        try:
            await self.monitor.call(copy)
        except UnsafeState as exc:
            raise ProvisionError(str(exc)) from None
        except ArchiveRefused as exc:
            raise ProvisionError(f"refused the state of {container}:{path}: {exc}") from None
        except (docker.errors.DockerException, tarfile.TarError, OSError) as exc:
            raise ProvisionError(
                f"could not copy {container}:{path} out for the sync: {_docker_text(exc)}"
            ) from None
        return target

    async def push(
        self,
        container: str,
        volume_path: str,
        relative: str,
        source: Path,
        owner: tuple[int, int],
    ) -> None:
        """Copy the folder `source` into the container at volume_path/relative."""

        def build() -> bytes:
            buf = io.BytesIO()
            with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:

                def own(info: tarfile.TarInfo) -> tarfile.TarInfo:
                    info.uid, info.gid = owner
                    info.uname = info.gname = ""
                    return info

                arc = relative.strip("/") or "."
                if source.is_dir():
                    tar.add(source, arcname=arc, filter=own)
            return buf.getvalue()

        try:
            data = await self.monitor.call(build)
            if data:
                await self.monitor.call(self.client.put_archive, container, volume_path, data)
        except (docker.errors.DockerException, OSError) as exc:
            raise ProvisionError(
                f"could not copy the restored state into {container}:{volume_path}: "
                f"{_docker_text(exc)}"
            ) from None


def fresh_staging(root: Path, name: str) -> Path:
    """An empty private staging folder for one sync of one container's mapping."""
    staging = root / ".staging" / name
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True, mode=0o700)
    return staging


async def staged_sync(
    remote: RemoteProvisioner,
    run: Callable[[Path], Awaitable[SyncRun]],
    *,
    container: str,
    container_path: str,
    volume_path: str,
    relative: str,
    direction: str,
    staging_root: Path,
    name: str,
    owner: tuple[int, int],
) -> SyncRun:
    """rclone on a staging copy of a remote container's folder (see the module docstring).

    Upload: copy `container_path` out, then rclone uploads the copy (a missing or empty folder
    is skipped by rclone's empty-source guard). Download: rclone fills an empty staging folder,
    then it is copied into the container at `volume_path/relative` (files only added or
    replaced: a remote container starts empty, so there is nothing stale to delete).
    """
    staging = await asyncio.to_thread(fresh_staging, staging_root, name)
    try:
        if direction == "upload":
            return await run(await remote.pull(container, container_path, staging, volume_path))
        local = staging / "restore"
        result = await run(local)
        if result.ok and not result.skipped:
            await remote.push(container, volume_path, relative, local, owner)
        return result
    finally:
        await asyncio.to_thread(shutil.rmtree, staging, True)


async def local_staged_sync(
    run: Callable[[Path], Awaitable[SyncRun]],
    *,
    mapping: SyncMapping,
    folder: StateFolder,
    direction: str,
    staging_root: Path,
    name: str,
) -> SyncRun:
    """rclone on a staging copy of a local container's bind-mounted folder, never on the
    folder itself (the container can plant links there: see `pool_sync`). Upload: snapshot,
    then rclone uploads the snapshot. Download: snapshot, rclone syncs the sink into it, the
    result is moved back. A link in the state fails the run and changes nothing."""
    started = time.monotonic()
    # A name of its own: a release that stops waiting for a slow periodic upload of the same
    # tenant must not remove the staging copy that upload is still reading.
    staging = staging_root / ".staging" / f"{name}-{token_hex(4)}"
    local = staging / "state"
    try:
        await asyncio.to_thread(fresh_staging, staging_root, staging.name)
        record = await asyncio.to_thread(snapshot_state, folder, local)
        if direction == "download" and record is None:
            await asyncio.to_thread(local.mkdir, mode=0o700)
        result = await run(local)
        if direction == "download" and result.ok and not result.skipped:
            delete = mapping.mode == "sync"
            await asyncio.to_thread(restore_state, folder, local, record or {}, delete=delete)
        return result
    except UnsafeState as exc:
        return failed_run(mapping, direction, str(exc), started)
    except OSError as exc:
        where = f" ({exc.filename})" if exc.filename else ""
        why = f"could not stage {mapping.path} for the sync: {exc.strerror or exc}{where}"
        return failed_run(mapping, direction, why, started)
    finally:
        await asyncio.to_thread(shutil.rmtree, staging, True)


def _docker_text(exc: BaseException) -> str:
    from clawtui.engine.fleet.actions import docker_error_text

    if isinstance(exc, docker.errors.DockerException):
        return docker_error_text(exc)
    return str(getattr(exc, "strerror", None) or exc)
