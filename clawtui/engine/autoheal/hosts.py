"""Autoheal on monitored hosts over SSH (seed 001 §3.11, issue 14): `[[autoheal.hosts]]`.

The SSH transport of `agents.AgentHealer` (which decides and reports). Each entry names a
`[[monitors]]` entry and reaches its host the way the health monitor does
(`sessions.ssh.connect`: host key always checked, key-only auth); one connection per entry and
pass. Files go over SFTP on that connection:

* a config path is `lstat`ed first: a symbolic link is refused and reported, never followed;
  anything but a regular file is refused; reads are capped at `MAX_CONFIG`;
* the backups folder (`backups/` beside the file) is created 0700 when missing and refused
  when it is a link; a backup is a new file (exclusive create, 0600);
* a repaired file is written to a temp file in the same folder (exclusive create, the old
  file's mode), fsynced and renamed over the file with `posix-rename@openssh.com` (rename(2):
  readers see the old or the new file, never half of one).

Commands (the gateway's PIDs, `restart_command`) run as argv: every word is `shlex.quote`d, so
no name or path from the config is ever interpreted by the host's shell. Outcomes name
`<monitor>:<path>`; escalations use `autoheal:<monitor>:<path>` and `autoheal:gateway:<monitor>`.
"""

from __future__ import annotations

import asyncio
import secrets
import shlex
import stat
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager, suppress
from typing import TYPE_CHECKING, Any

from clawtui.engine.api.ssh import SSHFailure
from clawtui.engine.autoheal.agents import MAX_BACKUPS_BYTES, AgentHealer, Transport
from clawtui.engine.autoheal.repair import MAX_CONFIG
from clawtui.fsutil import TEMP_MARKER

if TYPE_CHECKING:
    import asyncssh

    from clawtui.config.escalations import AutohealHost, MonitorConfig

__all__ = ["HostAutoheal", "SSHTransport"]
MAX_OUTPUT = 65536


class SSHTransport:
    """One monitored host over an open SSH connection and its SFTP session (`Transport`)."""

    def __init__(
        self, conn: asyncssh.SSHClientConnection, sftp: asyncssh.SFTPClient, timeout: float
    ) -> None:
        self.conn = conn
        self.sftp = sftp
        self.timeout = timeout

    async def _lstat(self, path: str) -> Any | None:
        import asyncssh

        try:
            return await self.sftp.lstat(path)
        except asyncssh.SFTPNoSuchFile:
            return None

    async def _regular(self, path: str) -> Any:
        attrs = await self._lstat(path)
        if attrs is None:
            raise FileNotFoundError(f"no {path}")
        mode = attrs.permissions or 0
        if stat.S_ISLNK(mode):
            raise ValueError(f"{path} is a symbolic link; autoheal does not follow it")
        if not stat.S_ISREG(mode):
            raise ValueError(f"{path} is not a regular file")
        if (attrs.size or 0) > MAX_CONFIG:
            raise ValueError(f"{path} is larger than {MAX_CONFIG} bytes")
        return attrs

    async def read(self, path: str) -> bytes:
        await self._regular(path)
        async with self.sftp.open(path, "rb") as handle:
            data = await handle.read(MAX_CONFIG + 1)
        assert isinstance(data, bytes)
        if len(data) > MAX_CONFIG:
            raise ValueError(f"{path} is larger than {MAX_CONFIG} bytes")
        # The path was checked before it was opened: a link swapped in between is caught here
        # (its bytes are not used).
        await self._regular(path)
        return data

    async def backups(self, folder: str, prefix: str) -> list[tuple[str, bytes]]:
        names = await self.names(folder)
        out: list[tuple[str, bytes]] = []
        budget = MAX_BACKUPS_BYTES
        for name in sorted((n for n in names or [] if n.startswith(prefix)), reverse=True):
            try:
                data = await self.read(f"{folder}/{name}")
            except (FileNotFoundError, ValueError):
                continue
            budget -= len(data)
            if budget < 0:
                break
            out.append((name, data))
        return out

    async def _folder(self, folder: str) -> None:
        import asyncssh

        attrs = await self._lstat(folder)
        if attrs is None:
            await self.sftp.mkdir(folder, asyncssh.SFTPAttrs(permissions=0o700))
        elif not stat.S_ISDIR(attrs.permissions or 0):
            raise ValueError(f"{folder} is not a folder (a link is not followed)")

    async def _create(self, path: str, data: bytes, mode: int) -> None:
        """A new file (exclusive create: never an existing file or a link), fsynced."""
        import asyncssh

        flags = asyncssh.FXF_WRITE | asyncssh.FXF_CREAT | asyncssh.FXF_EXCL
        attrs = asyncssh.SFTPAttrs(permissions=mode)
        async with self.sftp.open(path, flags, attrs, encoding=None) as handle:
            await handle.write(data)
            await handle.fsync()
        await self.sftp.chmod(path, mode)  # the umask may have narrowed it

    async def write_backup(self, folder: str, name: str, data: bytes) -> None:
        await self._folder(folder)
        await self._create(f"{folder}/{name}", data, 0o600)

    async def replace(self, path: str, data: bytes) -> None:
        import asyncssh

        attrs = await self._lstat(path)
        if attrs is not None and stat.S_ISLNK(attrs.permissions or 0):
            raise ValueError(f"{path} is a symbolic link; autoheal does not follow it")
        mode = stat.S_IMODE(attrs.permissions) if attrs and attrs.permissions else 0o600
        parent, _, name = path.rpartition("/")
        tmp = f"{parent}/.{name}{TEMP_MARKER}{secrets.token_hex(6)}"
        await self._create(tmp, data, mode)
        try:
            if attrs is not None and attrs.uid is not None and attrs.gid is not None:
                with suppress(asyncssh.SFTPError):  # not root: the file stays ours
                    await self.sftp.chown(tmp, attrs.uid, attrs.gid)
            await self.sftp.posix_rename(tmp, path)
        except BaseException:
            with suppress(asyncssh.Error):
                await self.sftp.remove(tmp)
            raise

    async def names(self, folder: str) -> list[str] | None:
        import asyncssh

        try:
            found = await self.sftp.listdir(folder)
        except asyncssh.SFTPError:
            return None
        return [n for n in found if isinstance(n, str) and n not in (".", "..")]

    async def remove(self, paths: Sequence[str]) -> None:
        for path in paths:
            await self.sftp.remove(path)  # unlinks a link itself, never its target

    async def run(self, argv: Sequence[str]) -> tuple[int, str]:
        import asyncssh

        command = shlex.join(argv)  # each word quoted: the host's shell splits, never expands
        result = await asyncio.wait_for(
            self.conn.run(command, check=False, stdin=asyncssh.DEVNULL), self.timeout
        )
        out = "".join(x for x in (result.stdout, result.stderr) if isinstance(x, str))
        code = result.exit_status
        return (code if isinstance(code, int) else -1), out[:MAX_OUTPUT]


class HostAutoheal(AgentHealer["AutohealHost"]):
    """Checks the files and gateways of `[[autoheal.hosts]]` (an engine component)."""

    task_name = "escalations:autoheal-hosts"

    def entries(self) -> list[AutohealHost]:
        return list(self.cfg.hosts)

    def where(self, entry: AutohealHost) -> str:
        return entry.monitor

    def errors(self) -> tuple[type[BaseException], ...]:
        import asyncssh

        return (*super().errors(), SSHFailure, asyncssh.Error)

    def _monitor(self, entry: AutohealHost) -> MonitorConfig:
        found = next((m for m in self.ctx.settings.monitors if m.name == entry.monitor), None)
        if found is None or found.host is None:
            raise ConnectionError(f"[[monitors]] {entry.monitor!r} has no SSH host")
        return found

    @asynccontextmanager
    async def transport(self, entry: AutohealHost) -> AsyncIterator[Transport]:
        from clawtui.engine.sessions.ssh import connect, monitor_target

        cfg = self._monitor(entry)
        state_dir = self.ctx.settings.engine.resolved_state_dir
        conn = await connect(monitor_target(cfg, state_dir))
        try:
            # every step of a pass is bounded: a host that stops answering fails the check
            async with asyncio.timeout(cfg.timeout * (len(entry.files) + 2)):
                sftp = await conn.start_sftp_client()
                try:
                    yield SSHTransport(conn, sftp, cfg.timeout)
                finally:
                    sftp.exit()
        finally:
            conn.close()
