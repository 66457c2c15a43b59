"""Operator verbs of dev boxes (issue 16, seed 003): `dev stop/start`, `stop-all` asking first,
`--pids-limit` / `--no-limits`, the SSH config snippet, and the key remembered beside `--key`.

Against the real parts: the system dockerd, the sshd dev-box image, the real OpenSSH client
(`ssh -F SNIPPET NAME`) and the engine's tmux manager over SSH.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from pathlib import Path

import asyncssh
import docker
import pytest

from clawtui.cli import main
from clawtui.config import Settings, load_settings
from clawtui.engine.api.devbox_checks import container_name
from clawtui.engine.core import Engine
from clawtui.engine.sessions.identities import identities_file
from clawtui.engine.sessions.ssh import connect
from clawtui.tui.attach import ssh_target_of
from tests.integration.test_devboxes import (  # noqa: F401 (fixtures)
    box_names,
    devbox_image,
    new_name,
)

pytestmark = pytest.mark.integration


def _config(tmp_path: Path, test_labels: dict[str, str]) -> list[str]:
    labels = ", ".join(f'"{k}" = "{v}"' for k, v in test_labels.items())
    config = tmp_path / "config.toml"
    config.write_text(
        f'[engine]\nstate_dir = "{tmp_path / "state"}"\n'
        f'[devboxes]\nmemory = "256m"\ncpus = 1.0\nlabels = {{{labels}}}\n'
        "[attach]\nuse_agent = false\n"
    )
    return ["--config", str(config)]


def _key_pair(folder: Path) -> Path:
    """K and K.pub as ssh-keygen writes them (OpenSSH private key format, mode 0600)."""
    key = asyncssh.generate_private_key("ssh-ed25519", comment="clawtui-test")
    private = folder / "box_key"
    private.write_bytes(key.export_private_key("openssh"))
    private.chmod(0o600)
    public = folder / "box_key.pub"
    public.write_bytes(key.export_public_key("openssh"))
    return public


def _state(docker_api: docker.APIClient, name: str) -> str:
    return str(docker_api.inspect_container(container_name(name))["State"]["Status"])


def test_create_snippet_key_stop_start(
    tmp_path: Path,
    devbox_image: str,  # noqa: F811
    docker_api: docker.APIClient,
    test_labels: dict[str, str],
    new_name,  # type: ignore[no-untyped-def]  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    name = new_name("op")
    cfg = _config(tmp_path, test_labels)
    pub = _key_pair(tmp_path)

    assert main(["dev", "create", name, "--key", str(pub), "--pids-limit", "100", *cfg]) == 0
    out = capsys.readouterr().out
    host_config = docker_api.inspect_container(container_name(name))["HostConfig"]
    assert host_config["PidsLimit"] == 100
    assert f"Host {name}\n" in out and "    User dev\n" in out
    assert f"    IdentityFile {tmp_path / 'box_key'}\n" in out
    port_line = next(ln for ln in out.splitlines() if ln.startswith("    Port "))
    port = int(port_line.split()[1])
    assert f"# [127.0.0.1]:{port} ssh-ed25519 " in out

    # ssh-config prints the same snippet again
    assert main(["dev", "ssh-config", name, *cfg]) == 0
    snippet = capsys.readouterr().out
    assert snippet in out and snippet.startswith(f"Host {name}\n")

    # the real OpenSSH client logs in with the snippet alone (strict host key checking)
    ssh_config = tmp_path / "ssh_config"
    ssh_config.write_text(snippet)
    done = subprocess.run(
        [
            "ssh",
            "-F",
            str(ssh_config),
            "-o",
            "BatchMode=yes",
            "-o",
            "StrictHostKeyChecking=yes",
            name,
            "echo",
            "logged-in-as-$(id -un)",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "SSH_AUTH_SOCK": ""},
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "logged-in-as-dev"

    # the engine's tmux manager (what the Dev containers panel uses) tries the remembered key
    # first and gets in with no agent and no configured identity file
    settings = load_settings(Path(cfg[1]))
    assert settings.attach.identity_file is None and not settings.attach.use_agent
    assert json.loads(identities_file(_known_hosts(settings)).read_text()) == {
        f"local/{name}": str(tmp_path / "box_key")
    }

    async def listing() -> object:
        engine = Engine(settings)
        await engine.start()
        try:
            assert await engine.wait_online(15)
            target = engine.tmux.resolve(container_name(name))
            assert target.ssh.identity_files[0] == tmp_path / "box_key"
            # the Dev containers panel's attach target (tui/attach.py) logs in with it too
            [info] = [c for c in engine.containers() if c.name == container_name(name)]
            attach = ssh_target_of(settings, info)
            assert attach is not None and attach.identity_files[0] == tmp_path / "box_key"
            conn = await connect(attach)
            try:
                assert (await conn.run("id -un", check=True)).stdout == "dev\n"
            finally:
                conn.close()
            return await engine.tmux.sessions(container_name(name))
        finally:
            await engine.stop()

    listing_result = asyncio.run(listing())
    assert listing_result is not None

    # stop / start answer the state after the action
    assert main(["dev", "stop", name, *cfg]) == 0
    assert capsys.readouterr().out.strip().endswith(": exited")
    assert _state(docker_api, name) == "exited"
    assert main(["dev", "start", name, *cfg]) == 0
    assert capsys.readouterr().out.strip().endswith(": running")
    assert _state(docker_api, name) == "running"

    # stop-all asks first: with no terminal and no --yes it refuses and stops nothing
    assert main(["dev", "stop-all", *cfg]) == 2
    assert "pass --yes" in capsys.readouterr().err
    assert _state(docker_api, name) == "running"
    assert main(["dev", "stop-all", "--yes", *cfg]) == 0
    assert name in capsys.readouterr().out
    assert _state(docker_api, name) == "exited"

    # rm forgets the remembered key
    assert main(["dev", "rm", name, *cfg]) == 0
    capsys.readouterr()
    assert f"local/{name}" not in json.loads(identities_file(_known_hosts(settings)).read_text())


def _known_hosts(settings: Settings) -> Path:
    return settings.attach.resolved_known_hosts(settings.engine.resolved_state_dir)


def test_no_limits(
    tmp_path: Path,
    devbox_image: str,  # noqa: F811
    docker_api: docker.APIClient,
    test_labels: dict[str, str],
    new_name,  # type: ignore[no-untyped-def]  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    name = new_name("nolim")
    cfg = _config(tmp_path, test_labels)
    pub = _key_pair(tmp_path)
    bad = ["dev", "create", name, "--key", str(pub), "--no-limits", "--memory", "1g", *cfg]
    assert main(bad) == 2
    assert "--no-limits cannot be combined" in capsys.readouterr().err
    assert not docker_api.containers(all=True, filters={"name": f"^/{container_name(name)}$"})

    assert main(["dev", "create", name, "--key", str(pub), "--no-limits", *cfg]) == 0
    capsys.readouterr()
    host_config = docker_api.inspect_container(container_name(name))["HostConfig"]
    assert host_config["Memory"] == 0 and host_config["NanoCpus"] == 0
    assert host_config["PidsLimit"] in (None, 0, -1)
    assert main(["dev", "rm", name, *cfg]) == 0
