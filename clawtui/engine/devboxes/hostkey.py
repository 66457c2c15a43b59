"""Read a dev container's own SSH host public key through the Docker API and pin it.

The Docker API is a trusted channel to the container (unlike the network port, where a key
would have to be taken on first use), so the key read here is pinned in clawtui's known_hosts
(`ssh.pin_host_key`) for `[address]:port`. The entrypoint generates the keys at start, before
sshd: the file is waited for.
"""

from __future__ import annotations

import asyncio
import io
import tarfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import asyncssh

from clawtui.engine.api.devbox_checks import DevboxError
from clawtui.engine.docker_sdk import docker
from clawtui.engine.sessions.ssh import pin_host_key

if TYPE_CHECKING:
    from clawtui.engine.fleet.hosts import HostMonitor

HOST_KEY_PATH: Final = "/etc/ssh/ssh_host_ed25519_key.pub"
_MAX_ARCHIVE: Final = 64 * 1024


class HostKeyUnavailable(DevboxError):
    """The container's host key could not be read."""


def _read_archive(client: Any, cid: str) -> bytes:
    stream, _stat = client.get_archive(cid, HOST_KEY_PATH)
    data = bytearray()
    for chunk in stream:
        data += chunk
        if len(data) > _MAX_ARCHIVE:
            raise HostKeyUnavailable(f"{HOST_KEY_PATH} is larger than {_MAX_ARCHIVE} bytes")
    with tarfile.open(fileobj=io.BytesIO(bytes(data))) as tar:
        for member in tar.getmembers():
            if member.isfile() and member.size <= _MAX_ARCHIVE:
                handle = tar.extractfile(member)
                if handle is not None:
                    return handle.read()
    raise HostKeyUnavailable(f"{HOST_KEY_PATH} is not a regular file in the container")


async def read_container_host_key(
    monitor: HostMonitor, client: Any, cid: str, *, timeout: float = 30.0
) -> str:
    """The container's ed25519 host public key line, waited for up to `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            raw = await monitor.call(_read_archive, client, cid)
            text = raw.decode("ascii", "replace").strip()
            asyncssh.import_public_key(text)
            return text
        except (docker.errors.NotFound, asyncssh.KeyImportError, ValueError) as exc:
            if time.monotonic() >= deadline:
                raise HostKeyUnavailable(
                    f"no usable SSH host key at {HOST_KEY_PATH} in the container after "
                    f"{timeout:.0f}s ({exc}); check its log (clawtui dev logs NAME)"
                ) from exc
        except (docker.errors.DockerException, tarfile.TarError) as exc:
            raise HostKeyUnavailable(f"cannot read {HOST_KEY_PATH}: {exc}") from exc
        await asyncio.sleep(0.2)


async def pin_container_host_key(
    monitor: HostMonitor, client: Any, cid: str, known_hosts: Path, address: str, port: int
) -> str:
    """Read the container's host key and pin it for address:port; return its fingerprint."""
    line = await read_container_host_key(monitor, client, cid)
    await asyncio.to_thread(pin_host_key, known_hosts, address, port, line)
    return str(asyncssh.import_public_key(line).get_fingerprint("sha256"))
