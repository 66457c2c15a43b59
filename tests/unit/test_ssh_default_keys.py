"""Without `[attach] identity_file`, clawtui offers the usual ~/.ssh keys after the agent, as
OpenSSH does (issue 19): a real SSH server (asyncssh's, on loopback) that accepts only the
key in ~/.ssh/id_ecdsa lets clawtui in; an encrypted ~/.ssh/id_ed25519 is skipped, not fatal.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import asyncssh
import pytest

from clawtui.engine.api.ssh import SSHTarget
from clawtui.engine.sessions.ssh import AuthRefused, connect, pin_host_key


class _Server(asyncssh.SSHServer):
    def begin_auth(self, username: str) -> bool:
        return True


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[tuple[int, Path, asyncssh.SSHKey]]:
    """(port, known_hosts, the only client key it accepts)."""
    host_key = asyncssh.generate_private_key("ssh-ed25519")
    client_key = asyncssh.generate_private_key("ecdsa-sha2-nistp256")
    authorized = asyncssh.import_authorized_keys(client_key.export_public_key().decode())
    acceptor = await asyncssh.listen(
        "127.0.0.1",
        0,
        server_factory=_Server,
        server_host_keys=[host_key],
        authorized_client_keys=authorized,
    )
    port = acceptor.sockets[0].getsockname()[1]
    known = tmp_path / "known_hosts"
    pin_host_key(known, "127.0.0.1", port, host_key.export_public_key().decode())
    try:
        yield port, known, client_key
    finally:
        acceptor.close()
        await acceptor.wait_closed()


def _home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    encrypted = asyncssh.generate_private_key("ssh-ed25519")
    encrypted.write_private_key(
        str(home / ".ssh" / "id_ed25519"), format_name="pkcs8-pem", passphrase="secret"
    )
    return home


async def test_the_usual_default_key_is_offered(
    server: tuple[int, Path, asyncssh.SSHKey], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    port, known, client_key = server
    home = _home(tmp_path, monkeypatch)
    client_key.write_private_key(str(home / ".ssh" / "id_ecdsa"))
    target = SSHTarget(host="127.0.0.1", port=port, known_hosts=known, use_agent=False)
    conn = await connect(target)
    conn.close()
    await conn.wait_closed()


async def test_without_the_key_it_says_what_it_tried(
    server: tuple[int, Path, asyncssh.SSHKey], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    port, known, _ = server
    _home(tmp_path, monkeypatch)
    target = SSHTarget(host="127.0.0.1", port=port, known_hosts=known, use_agent=False)
    with pytest.raises(AuthRefused, match="id_ecdsa"):
        await connect(target)
