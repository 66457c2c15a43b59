"""The private key a dev box remembers (sessions/identities.py), the SSH target trying it first,
and the ssh_config snippet (devboxes/sshconfig.py), on real files."""

from __future__ import annotations

import json
import os
from pathlib import Path

from clawtui.engine.devboxes.sshconfig import pinned_line, ssh_config_snippet
from clawtui.engine.sessions.identities import (
    identities_file,
    private_key_beside,
    remember,
    remembered,
)
from clawtui.engine.sessions.targets import ssh_target


def test_remember_forget_and_hostile_file(tmp_path: Path) -> None:
    known = tmp_path / "known_hosts"
    key = tmp_path / "id_ed25519"
    key.write_text("private")
    (tmp_path / "id_ed25519.pub").write_text("ssh-ed25519 AAAA")
    assert private_key_beside(tmp_path / "id_ed25519.pub") == key
    assert private_key_beside(tmp_path / "other.pub") is None
    assert private_key_beside(key) is None  # not a .pub file

    remember(known, "local", "alice", key)
    remember(known, "local", "bob", key)
    assert remembered(known, "local", "alice") == key
    assert remembered(known, "far", "alice") is None
    assert os.stat(identities_file(known)).st_mode & 0o777 == 0o600
    remember(known, "local", "alice", None)
    assert json.loads(identities_file(known).read_text()) == {"local/bob": str(key)}
    key.unlink()
    assert remembered(known, "local", "bob") is None  # a key since deleted is not offered

    identities_file(known).write_text('{"local/x": 5, "local/y": ["a"], "local/z": ""}')
    assert remembered(known, "local", "x") is None and remembered(known, "local", "z") is None
    identities_file(known).write_bytes(b"\xff\xfe not json")
    assert remembered(known, "local", "x") is None
    remember(known, "local", "x", tmp_path / "id_ed25519.pub")  # a broken file is replaced
    assert json.loads(identities_file(known).read_text()) == {
        "local/x": str(tmp_path / "id_ed25519.pub")
    }


def test_target_tries_the_remembered_key_first(tmp_path: Path) -> None:
    mine, configured = tmp_path / "box_key", tmp_path / "id_configured"
    target = ssh_target("127.0.0.1", 2201, username="dev", known_hosts=tmp_path / "kh",
                        identity_file=configured, use_agent=True, first_identity=mine)  # fmt: skip
    assert target.identity_files == (mine, configured) and target.use_agent
    same = ssh_target("127.0.0.1", 2201, username="dev", known_hosts=tmp_path / "kh",
                      identity_file=mine, use_agent=False, first_identity=mine)  # fmt: skip
    assert same.identity_files == (mine,)
    none = ssh_target("127.0.0.1", 2201, username="dev", known_hosts=tmp_path / "kh",
                      identity_file=None, use_agent=True)  # fmt: skip
    assert none.identity_files == ()


def test_snippet(tmp_path: Path) -> None:
    known = tmp_path / "state dir" / "known_hosts"
    known.parent.mkdir()
    known.write_text(
        "[127.0.0.1]:2202 ssh-ed25519 BBBB\n[127.0.0.1]:2201 ssh-ed25519 AAAA\nplain ssh-rsa C\n"
    )
    assert pinned_line(known, "127.0.0.1", 2201) == "[127.0.0.1]:2201 ssh-ed25519 AAAA"
    text = ssh_config_snippet(
        "alice", "127.0.0.1", 2201, user="dev", identity=tmp_path / "k", known_hosts=known
    )
    assert text.splitlines() == [
        "Host alice",
        "    HostName 127.0.0.1",
        "    Port 2201",
        "    User dev",
        f"    IdentityFile {tmp_path / 'k'}",
        "    IdentitiesOnly yes",
        "    HostKeyAlias [127.0.0.1]:2201",
        f'    UserKnownHostsFile "{known}"',
        "# pinned host key (known_hosts line):",
        "# [127.0.0.1]:2201 ssh-ed25519 AAAA",
    ]
    bare = ssh_config_snippet(
        "bob", "::1", 22, user="dev", identity=None, known_hosts=tmp_path / "missing"
    )
    assert "IdentityFile" not in bare and "    HostKeyAlias ::1\n" in bare
    assert "# no host key pinned for ::1" in bare
